"""A host's container: the create body (DESIGN.md section 6) and the idempotent lifecycle.

Create-if-absent, start-if-stopped, stop-if-running, remove-if-present: every request may be
repeated after a crash or a retry and ends in the same state. The container has no network
(``NetworkMode=none``; the egress plumbing adds one veth at start), publishes no port, keeps only
the capabilities sshd and the init need, and mounts the home from the box's disk image plus the
admin's ``extra_mounts`` from the agent's config. Before every start its writable layer is put
on the same image (``agent.ops.volumes``), so ``disk_gb`` bounds all the box writes. It runs
the image this agent built, whatever the caller says. A container named like a host's but not
labelled as this instance's is never touched (``host_not_managed``); every later Docker call
names the checked container by its id.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

from agent import errors
from agent.config import BOX_HOME, ExtraMount
from agent.ops.docker import Docker
from agent.ops.images import check_packages, check_version
from agent.ops.names import HOST_LABEL, INSTANCE_LABEL, MANAGED_LABEL, container_name, labels
from agent.ops.volumes import HomeVolumes
from agent.protocol import messages as m

BOX_USER = "claude"  # its home is BOX_HOME (agent.config)
MIB = 1024 * 1024
DISK_LABEL = "cloudclaude.disk_gb"
MAX_DISK_GB = 16384
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
_TIMEZONE = re.compile(r"[A-Za-z0-9_+-]{1,64}(/[A-Za-z0-9_+-]{1,64}){0,3}")
#: An OpenSSH public key line: printable ASCII, no control characters.
_KEY = re.compile(r"[\x20-\x7e]{0,16384}")
OUTPUT_LIMIT = 256 * 1024
#: Where the box's own name resolves, as Debian's /etc/hosts has it. dockerd writes the
#: container's /etc/hosts and, with no network, leaves the hostname out ("sudo: unable to
#: resolve host"); ``ExtraHosts`` puts it back.
SELF_ADDRESS = "127.0.1.1"

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
    if not 1 <= spec.disk_gb <= MAX_DISK_GB:
        problems.append(f"disk_gb must be between 1 and {MAX_DISK_GB}")
    if spec.hostname and not _HOSTNAME.fullmatch(spec.hostname):
        problems.append("hostname must be a DNS label")
    if not _TIMEZONE.fullmatch(spec.timezone) or ".." in spec.timezone:
        problems.append("timezone must look like Area/City")
    if not _KEY.fullmatch(spec.authorized_key):
        problems.append("authorized_key must be one line of printable ASCII, at most 16 KiB")
    if problems:
        raise errors.AgentError(errors.VALIDATION_FAILED, "; ".join(problems))


def create_body(
    host_id: str,
    spec: m.BoxSpec,
    image: str,
    home: str,
    instance: str = "default",
    *,
    dns: str = "",
    llm_url: str = "",
    extra_mounts: tuple[ExtraMount, ...] = (),
) -> dict[str, Any]:
    """The Engine API body of ``POST /containers/create`` for a host (pure, unit-tested).

    ``image``, ``home``, ``dns``, ``llm_url`` and ``extra_mounts`` are the agent's own, never
    the caller's; the caller only says whether the box uses the credentials endpoint.
    """
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
        for mount in extra_mounts
    ]
    hostname = spec.hostname or f"box-{host_id[:8]}"
    return {
        "Image": image,
        "Hostname": hostname,
        "Env": [
            f"BOX_USER={BOX_USER}",
            f"CLOUDCLAUDE_AUTHORIZED_KEY={spec.authorized_key}",
            f"CLOUDCLAUDE_TIMEZONE={spec.timezone}",
            # Claude Code's endpoint (box-init writes it for login shells and tmux); no key.
            f"CLOUDCLAUDE_LLM_URL={llm_url if spec.llm_gateway else ''}",
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
            "Dns": [dns] if dns else [],
            "ExtraHosts": [f"{hostname}:{SELF_ADDRESS}"],
            "Mounts": mounts,
            "PublishAllPorts": False,
            "RestartPolicy": {"Name": "no"},
            "IpcMode": "private",
            "LogConfig": {"Type": "json-file", "Config": {"max-size": "10m", "max-file": "3"}},
        },
    }


def disk_gb_of(info: dict[str, Any]) -> int:
    """The disk size a container was made with (its label), within the agent's bounds."""
    labels = (info.get("Config") or {}).get("Labels") or {}
    try:
        disk_gb = int(labels.get(DISK_LABEL, "0") or 0)
    except ValueError:
        disk_gb = 0
    return max(1, min(disk_gb, MAX_DISK_GB))


def is_ours(info: dict[str, Any], host_id: str, instance: str) -> bool:
    """Whether ``info`` is the container this agent instance made for ``host_id``."""
    labels = (info.get("Config") or {}).get("Labels") or {}
    return (
        labels.get(MANAGED_LABEL) == "1"
        and labels.get(INSTANCE_LABEL) == instance
        and labels.get(HOST_LABEL) == host_id
        and info.get("Name") == f"/{container_name(host_id)}"
    )


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
        ensure_image: Callable[[ReportProgress, str, str], Awaitable[str]],
        instance: str = "default",
        *,
        extra_mounts: tuple[ExtraMount, ...] = (),
        dns: Callable[[], str] = lambda: "",
        llm_url: str = "",
    ) -> None:
        self.instance = instance
        self.docker = docker
        self.volumes = volumes
        self.extra_mounts = extra_mounts
        self._ensure_image = ensure_image
        self._dns = dns
        self._llm_url = llm_url

    async def find(self, host_id: str) -> dict[str, Any] | None:
        """The host's container if it exists; one this instance did not make is refused."""
        info = await self.docker.inspect(container_name(host_id))
        if info is not None and not is_ours(info, host_id, self.instance):
            raise errors.AgentError(
                errors.HOST_NOT_MANAGED,
                f"container {container_name(host_id)} was not made by this agent; left alone",
            )
        return info

    async def inspect(self, host_id: str) -> m.HostState:
        return host_state(host_id, await self.find(host_id))

    async def require(self, host_id: str, *, running: bool = False) -> dict[str, Any]:
        info = await self.find(host_id)
        if info is None:
            raise errors.AgentError(errors.CONTAINER_MISSING, f"host {host_id} has no container")
        if running and not (info.get("State") or {}).get("Running"):
            raise errors.AgentError(errors.HOST_NOT_RUNNING, f"host {host_id} is not running")
        return info

    async def create(
        self,
        host_id: str,
        spec: m.BoxSpec,
        progress: ReportProgress,
        claude_code_version: str = "",
        extra_packages: str = "",
    ) -> tuple[m.HostState, bool]:
        """Create the container (and its home volume) unless it exists; True when created.

        A new container runs the image of ``claude_code_version`` ("" is the Dockerfile's pin)
        and ``extra_packages`` ("" for none).
        """
        validate_spec(spec)
        check_version(claude_code_version)
        check_packages(extra_packages)
        name = container_name(host_id)
        existing = await self.find(host_id)
        if existing is not None:
            return host_state(host_id, existing), False
        # Only an image this agent built.
        image = await self._ensure_image(progress, claude_code_version, extra_packages)
        home = await self.volumes.ensure(host_id, spec.disk_gb)
        await progress("volume.ready", 60, f"disk image of {spec.disk_gb} GB mounted")
        body = create_body(
            host_id,
            spec,
            image,
            str(home),
            self.instance,
            dns=self._dns(),
            llm_url=self._llm_url,
            extra_mounts=self.extra_mounts,
        )
        await self.docker.create(name, body)
        await progress("container.created", 90, name)
        return await self.inspect(host_id), True

    async def start(self, host_id: str) -> m.HostState:
        """Start a stopped box on its disk image: home and writable layer mounted first."""
        info = await self.require(host_id)
        if (info.get("State") or {}).get("Running"):
            return host_state(host_id, info)
        await self.volumes.ensure(host_id, disk_gb_of(info))
        await self.volumes.attach_layer(host_id, info)
        await self.docker.start(str(info["Id"]))
        return await self.inspect(host_id)

    async def stop(self, host_id: str, grace_s: int) -> m.HostState:
        info = await self.require(host_id)
        await self.docker.stop(str(info["Id"]), max(0, min(grace_s, 300)))
        return await self.inspect(host_id)

    async def remove(self, host_id: str, *, purge: bool) -> bool:
        """Remove the container and its writable layer; ``purge`` deletes the disk image too.

        dockerd unmounts the layer bind when it deletes the layer directory; the volumes
        then unmount the rest (the home stays on the image unless purged).
        """
        info = await self.find(host_id)
        removed = info is not None and await self.docker.remove(str(info["Id"]))
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
        info = await self.require(host_id)
        out, err = await self.docker.logs(str(info["Id"]), max(1, min(tail, 5000)))
        return _clip(out + err)

    async def stats(self, host_id: str) -> m.StatsReply:
        info = await self.require(host_id, running=True)
        raw = await self.docker.stats(str(info["Id"]))
        cpu, pre = raw.get("cpu_stats") or {}, raw.get("precpu_stats") or {}
        cpu_delta = (cpu.get("cpu_usage") or {}).get("total_usage", 0) - (
            pre.get("cpu_usage") or {}
        ).get("total_usage", 0)
        system_delta = cpu.get("system_cpu_usage", 0) - pre.get("system_cpu_usage", 0)
        cpus = cpu.get("online_cpus") or 1
        percent = 100.0 * cpu_delta / system_delta * cpus if system_delta > 0 else 0.0
        memory = raw.get("memory_stats") or {}
        used, total = await self.volumes.usage(host_id)
        return m.StatsReply(
            id=0,
            cpu_percent=round(percent, 2),
            memory_bytes=int(memory.get("usage", 0)),
            memory_limit_bytes=int(memory.get("limit", 0)),
            pids=int((raw.get("pids_stats") or {}).get("current", 0)),
            disk_used_bytes=used,
            disk_total_bytes=total,
        )


def _clip(data: bytes) -> str:
    """Output as text, the tail kept when it would not fit in a frame."""
    if len(data) > OUTPUT_LIMIT:
        data = b"[... cut ...]\n" + data[-OUTPUT_LIMIT:]
    return data.decode(errors="replace")
