"""A host's container: the create body (DESIGN.md section 6) and the idempotent lifecycle.

Create-if-absent, start-if-stopped, stop-if-running, remove-if-present: every request may be
repeated after a crash or a retry and ends in the same state. The container has no network
(``NetworkMode=none``; the egress plumbing adds one veth at start), publishes no port, keeps only
the capabilities sshd and the init need, and mounts the loop-mounted home volume.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

from agent import errors
from agent.ops.docker import Docker
from agent.ops.names import HOST_LABEL, INSTANCE_LABEL, MANAGED_LABEL, container_name, labels
from agent.ops.volumes import HomeVolumes
from agent.protocol import messages as m

BOX_USER = "claude"
BOX_HOME = f"/home/{BOX_USER}"
MIB = 1024 * 1024
DISK_LABEL = "cloudclaude.disk_gb"
#: What sshd (privilege separation, chroot, audit) and the init need; nothing else.
CAPABILITIES = (
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "SETUID",
    "SETGID",
    "KILL",
    "AUDIT_WRITE",
    "SYS_CHROOT",
)
_HOSTNAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_TIMEZONE = re.compile(r"^[A-Za-z0-9_+-]+(/[A-Za-z0-9_+-]+)*$")
OUTPUT_LIMIT = 256 * 1024

ReportProgress = Callable[[str, int, str], Awaitable[None]]


def validate_spec(spec: m.BoxSpec) -> None:
    """Refuse a spec dockerd would reject late or that would weaken the box."""
    problems = []
    if not 0.1 <= spec.cpus <= 256:
        problems.append("cpus must be between 0.1 and 256")
    if not 128 <= spec.memory_mb <= 1024 * 1024:
        problems.append("memory_mb must be between 128 and 1048576")
    if not 32 <= spec.pids <= 1_000_000:
        problems.append("pids must be between 32 and 1000000")
    if not 1 <= spec.disk_gb <= 16384:
        problems.append("disk_gb must be between 1 and 16384")
    if spec.hostname and not _HOSTNAME.fullmatch(spec.hostname):
        problems.append("hostname must be a DNS label")
    if not _TIMEZONE.fullmatch(spec.timezone) or ".." in spec.timezone:
        problems.append("timezone must look like Area/City")
    if "\n" in spec.authorized_key:
        problems.append("authorized_key must be one line")
    for mount in spec.mounts:
        if not (mount.source.startswith("/") and mount.target.startswith("/")):
            problems.append(f"mount {mount.source} -> {mount.target}: paths must be absolute")
        if mount.target.rstrip("/") in ("", BOX_HOME, "/proc", "/sys", "/dev", "/etc"):
            problems.append(f"mount target {mount.target} is not allowed")
    if problems:
        raise errors.AgentError(errors.VALIDATION_FAILED, "; ".join(problems))


def create_body(
    host_id: str, spec: m.BoxSpec, image: str, home: str, instance: str = "default"
) -> dict[str, Any]:
    """The Engine API body of ``POST /containers/create`` for a host (pure, unit-tested)."""
    mounts: list[dict[str, Any]] = [
        {
            "Type": "bind",
            "Source": home,
            "Target": BOX_HOME,
            "BindOptions": {"Propagation": "rprivate"},
        }
    ]
    mounts += [
        {
            "Type": "bind",
            "Source": mount.source,
            "Target": mount.target,
            "ReadOnly": mount.read_only,
            "BindOptions": {"Propagation": "rprivate"},
        }
        for mount in spec.mounts
    ]
    return {
        "Image": image,
        "Hostname": spec.hostname or f"box-{host_id[:8]}",
        "Env": [
            f"BOX_USER={BOX_USER}",
            f"CLOUDCLAUDE_AUTHORIZED_KEY={spec.authorized_key}",
            f"CLOUDCLAUDE_TIMEZONE={spec.timezone}",
        ],
        "Labels": {**labels(host_id, instance), DISK_LABEL: str(spec.disk_gb)},
        "StopTimeout": 10,
        "HostConfig": {
            "NetworkMode": "none",
            "Privileged": False,
            "CapDrop": ["ALL"],
            "CapAdd": list(CAPABILITIES),
            "NanoCpus": int(spec.cpus * 1e9),
            "Memory": spec.memory_mb * MIB,
            "MemorySwap": spec.memory_mb * MIB,
            "PidsLimit": spec.pids,
            "Tmpfs": {
                "/tmp": "rw,exec,nosuid,nodev,mode=1777",  # noqa: S108 (builds run from /tmp)
                "/run": "rw,nosuid,nodev,mode=0755",
            },
            "Sysctls": {
                "net.ipv6.conf.all.disable_ipv6": "1",
                "net.ipv6.conf.default.disable_ipv6": "1",
            },
            "Dns": list(spec.dns),
            "Mounts": mounts,
            "PublishAllPorts": False,
            "RestartPolicy": {"Name": "no"},
            "IpcMode": "private",
            "LogConfig": {"Type": "json-file", "Config": {"max-size": "10m", "max-file": "3"}},
        },
    }


def host_state(host_id: str, info: dict[str, Any] | None) -> m.HostState:
    if info is None:
        return m.HostState(host_id=host_id, exists=False)
    state = info.get("State") or {}
    return m.HostState(
        host_id=host_id,
        exists=True,
        running=bool(state.get("Running")),
        status=str(state.get("Status", "")),
        container_id=str(info.get("Id", "")),
        pid=int(state.get("Pid") or 0),
        image=str((info.get("Config") or {}).get("Image", "")),
        started_at=str(state.get("StartedAt", "")),
    )


class Containers:
    """The host lifecycle on dockerd; ``ensure_image`` makes the box image when it is absent."""

    def __init__(
        self,
        docker: Docker,
        volumes: HomeVolumes,
        ensure_image: Callable[[ReportProgress], Awaitable[str]],
        instance: str = "default",
    ) -> None:
        self.instance = instance
        self.docker = docker
        self.volumes = volumes
        self._ensure_image = ensure_image

    async def inspect(self, host_id: str) -> m.HostState:
        return host_state(host_id, await self.docker.inspect(container_name(host_id)))

    async def require(self, host_id: str, *, running: bool = False) -> dict[str, Any]:
        info = await self.docker.inspect(container_name(host_id))
        if info is None:
            raise errors.AgentError(errors.CONTAINER_MISSING, f"host {host_id} has no container")
        if running and not (info.get("State") or {}).get("Running"):
            raise errors.AgentError(errors.HOST_NOT_RUNNING, f"host {host_id} is not running")
        return info

    async def create(
        self, host_id: str, spec: m.BoxSpec, progress: ReportProgress
    ) -> tuple[m.HostState, bool]:
        """Create the container (and its home volume) unless it exists; True when created."""
        validate_spec(spec)
        name = container_name(host_id)
        existing = await self.docker.inspect(name)
        if existing is not None:
            return host_state(host_id, existing), False
        image = spec.image or await self._ensure_image(progress)
        home = await self.volumes.ensure(host_id, spec.disk_gb)
        await progress("volume.ready", 60, f"home volume of {spec.disk_gb} GB mounted")
        body = create_body(host_id, spec, image, str(home), self.instance)
        await self.docker.create(name, body)
        await progress("container.created", 90, name)
        return await self.inspect(host_id), True

    async def start(self, host_id: str) -> m.HostState:
        info = await self.require(host_id)
        disk_gb = int((info.get("Config") or {}).get("Labels", {}).get(DISK_LABEL, "0") or 0)
        await self.volumes.ensure(host_id, max(disk_gb, 1))
        await self.docker.start(container_name(host_id))
        return await self.inspect(host_id)

    async def stop(self, host_id: str, grace_s: int) -> m.HostState:
        await self.require(host_id)
        await self.docker.stop(container_name(host_id), max(0, min(grace_s, 300)))
        return await self.inspect(host_id)

    async def remove(self, host_id: str, *, purge: bool) -> bool:
        """Remove the container if present; ``purge`` deletes the home volume too."""
        removed = await self.docker.remove(container_name(host_id))
        if purge:
            removed = await self.volumes.remove(host_id) or removed
        else:
            await self.volumes.unmount(host_id)
        return removed

    async def list_all(self) -> tuple[list[m.HostState], list[str]]:
        found = await self.docker.list_containers(
            {MANAGED_LABEL: "1", INSTANCE_LABEL: self.instance}
        )
        hosts = []
        for entry in found:
            host_id = (entry.get("Labels") or {}).get(HOST_LABEL, "")
            info = await self.docker.inspect(str(entry.get("Id", "")))
            if host_id and info is not None:
                hosts.append(host_state(host_id, info))
        return hosts, await self.volumes.host_ids()

    async def logs(self, host_id: str, tail: int) -> str:
        await self.require(host_id)
        out, err = await self.docker.logs(container_name(host_id), max(1, min(tail, 5000)))
        return _clip(out + err)

    async def stats(self, host_id: str) -> m.StatsReply:
        await self.require(host_id, running=True)
        raw = await self.docker.stats(container_name(host_id))
        cpu, pre = raw.get("cpu_stats") or {}, raw.get("precpu_stats") or {}
        cpu_delta = (cpu.get("cpu_usage") or {}).get("total_usage", 0) - (
            pre.get("cpu_usage") or {}
        ).get("total_usage", 0)
        system_delta = cpu.get("system_cpu_usage", 0) - pre.get("system_cpu_usage", 0)
        cpus = cpu.get("online_cpus") or 1
        percent = 100.0 * cpu_delta / system_delta * cpus if system_delta > 0 else 0.0
        memory = raw.get("memory_stats") or {}
        return m.StatsReply(
            id=0,
            cpu_percent=round(percent, 2),
            memory_bytes=int(memory.get("usage", 0)),
            memory_limit_bytes=int(memory.get("limit", 0)),
            pids=int((raw.get("pids_stats") or {}).get("current", 0)),
        )

    async def exec(self, host_id: str, argv: list[str], user: str) -> m.ExecReply:
        if not argv or any("\0" in arg for arg in argv):
            raise errors.AgentError(errors.VALIDATION_FAILED, "argv must be non-empty, no NUL")
        await self.require(host_id, running=True)
        result = await self.docker.exec(container_name(host_id), argv, user=user)
        return m.ExecReply(
            id=0,
            exit_code=result.exit_code,
            stdout=_clip(result.stdout),
            stderr=_clip(result.stderr),
        )


def _clip(data: bytes) -> str:
    """Output as text, the tail kept when it would not fit in a frame."""
    if len(data) > OUTPUT_LIMIT:
        data = b"[... cut ...]\n" + data[-OUTPUT_LIMIT:]
    return data.decode(errors="replace")
