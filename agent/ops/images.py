"""The box image: built from ``image/`` over the Engine API, offline when it has to be.

The tag is a hash of everything that goes into the build (the files of ``image/``, the CA bundle
copied in, the base image's id, a Claude Code version other than the one the Dockerfile pins,
extra Debian packages when there are any), so ``ensure`` with unchanged inputs is a no-op and a
changed input makes a new image. The version and the packages are the build inputs a caller
gives: checked (a plain npm version; Debian package names), then passed as the
``CLAUDE_CODE_VERSION`` and ``EXTRA_PACKAGES`` build arguments. When the base image is absent
and none is configured, it is made from Debian with ``debootstrap --variant=minbase`` and
imported, since no registry may be reachable.
Progress goes to the caller (build steps, debootstrap stages).
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import io
import json
import re
import shutil
import subprocess
import tarfile
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from pathlib import Path

import attrs
import trio

from agent import errors
from agent.config import AgentConfig
from agent.ops.docker import Docker, DockerError
from agent.packages import packages_arg

ReportProgress = Callable[[str, int, str], Awaitable[None]]
CA_NAME = "build-ca.crt"
_STEP = re.compile(r"^Step (\d+)/(\d+) : (.*)")
#: A Claude Code npm version: ``2.1.331``, ``2.2.0-beta.1`` (no ranges, tags, URLs or words).
VERSION = re.compile(r"[0-9]+\.[0-9]+\.[0-9]+([-.+][0-9A-Za-z.]+)?")
MAX_VERSION = 64
VERSION_ARG = "CLAUDE_CODE_VERSION"
#: The Dockerfile's ``ARG CLAUDE_CODE_VERSION=<pin>`` (the pin may be absent).
_PIN = re.compile(rb"^ARG CLAUDE_CODE_VERSION(?:=(\S*))?[ \t]*$", re.MULTILINE)
PACKAGES_ARG = "EXTRA_PACKAGES"
_PACKAGES = re.compile(rb"^ARG EXTRA_PACKAGES(?:=\S*)?[ \t]*$", re.MULTILINE)


@attrs.frozen(kw_only=True)
class BuiltImage:
    image: str
    image_id: str
    built: bool


def context_files(config: AgentConfig) -> dict[str, bytes]:
    """The build context: every regular file of the image directory plus the CA bundle."""
    if not (config.image_dir / "Dockerfile").is_file():
        raise errors.AgentError(
            errors.IMAGE_BUILD_FAILED, f"no Dockerfile in {config.image_dir} (agent image_dir)"
        )
    files = {
        path.relative_to(config.image_dir).as_posix(): path.read_bytes()
        for path in sorted(config.image_dir.rglob("*"))
        if path.is_file() and not path.name.startswith(".") and "__pycache__" not in path.parts
    }
    files[CA_NAME] = (
        config.build_ca_bundle.read_bytes() if config.build_ca_bundle.is_file() else b""
    )
    return files


def check_version(version: str) -> None:
    """Refuse a ``claude_code_version`` that is not a plain version ("" is the pin)."""
    if version and (len(version) > MAX_VERSION or not VERSION.fullmatch(version)):
        raise errors.AgentError(
            errors.VALIDATION_FAILED,
            f"claude_code_version must be a version like 2.1.331, got {version[:80]!r}",
        )


def check_packages(extra_packages: str) -> str:
    """``extra_packages`` in canonical form (sorted, unique, space-separated); bad names refused."""
    try:
        return packages_arg(extra_packages)
    except ValueError as exc:
        raise errors.AgentError(errors.VALIDATION_FAILED, f"extra_packages {exc}") from exc


def build_args(
    files: dict[str, bytes], claude_code_version: str, extra_packages: str = ""
) -> dict[str, str]:
    """The build arguments besides ``BASE``: the Claude Code version unless it is the pin, the
    extra packages unless there are none.

    The pinned version (or none) and no packages give no argument, so they build, and tag, the
    same image as before these were inputs. A Dockerfile that declares no such ``ARG`` cannot
    honour it: refused rather than built without it.
    """
    check_version(claude_code_version)
    packages = check_packages(extra_packages)
    args = _version_args(files, claude_code_version)
    if packages:
        if _PACKAGES.search(files.get("Dockerfile", b"")) is None:
            raise errors.AgentError(
                errors.VALIDATION_FAILED,
                f"extra_packages is {packages!r} but the image's Dockerfile declares"
                f" no ARG {PACKAGES_ARG}",
            )
        args[PACKAGES_ARG] = packages
    return args


def _version_args(files: dict[str, bytes], claude_code_version: str) -> dict[str, str]:
    if not claude_code_version:
        return {}
    declared = _PIN.search(files.get("Dockerfile", b""))
    if declared is None:
        raise errors.AgentError(
            errors.VALIDATION_FAILED,
            f"claude_code_version is {claude_code_version} but the image's Dockerfile declares"
            f" no ARG {VERSION_ARG}",
        )
    if (declared[1] or b"").decode() == claude_code_version:
        return {}
    return {VERSION_ARG: claude_code_version}


def content_tag(
    files: dict[str, bytes], base: str, base_id: str, args: Mapping[str, str] | None = None
) -> str:
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode() + b"\0" + hashlib.sha256(files[name]).digest())
    digest.update(f"\0BASE={base}\0{base_id}".encode())
    for name, value in sorted((args or {}).items()):
        digest.update(f"\0ARG {name}={value}".encode())
    return digest.hexdigest()[:16]


def context_tar(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o755 if data.startswith(b"#!") else 0o644
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


class Images:
    def __init__(self, docker: Docker, config: AgentConfig) -> None:
        self.docker = docker
        self.config = config
        self._lock = trio.Lock()

    async def ensure(
        self,
        progress: ReportProgress,
        *,
        force: bool = False,
        claude_code_version: str = "",
        extra_packages: str = "",
    ) -> BuiltImage:
        """The box image of these inputs, built first when absent (one build at a time)."""
        check_version(claude_code_version)
        check_packages(extra_packages)
        async with self._lock:
            base = self.config.default_base
            base_info = await self.docker.image(base)
            if base_info is None:
                await self._make_base(base, progress)
                base_info = await self.docker.image(base)
                if base_info is None:
                    raise errors.AgentError(errors.IMAGE_BUILD_FAILED, f"{base} did not appear")
            files = await trio.to_thread.run_sync(context_files, self.config)
            args = build_args(files, claude_code_version, extra_packages)
            tag = f"{self.config.image_repo}:{content_tag(files, base, str(base_info['Id']), args)}"
            existing = await self.docker.image(tag)
            built = existing is None or force
            if built:
                await self._build(files, {"BASE": base, **args}, tag, progress)
                existing = await self.docker.image(tag)
                if existing is None:
                    raise errors.AgentError(errors.IMAGE_BUILD_FAILED, f"{tag} did not appear")
            assert existing is not None
            await self.docker.tag(tag, self.config.image_repo, "latest")
            if built:
                await self._prune(keep=tag)
            await progress("image.ready", 100, tag)
            return BuiltImage(image=tag, image_id=str(existing["Id"]), built=built)

    async def _prune(self, *, keep: str) -> None:
        """Untag older box images; one still used by a container stays (dockerd refuses)."""
        repo = self.config.image_repo
        found = await self.docker.call(
            "GET", "/images/json", params={"filters": json.dumps({"reference": [repo]})}
        )
        for image in found or []:
            for old in image.get("RepoTags") or []:
                if old.startswith(f"{repo}:") and old not in (keep, f"{repo}:latest"):
                    with contextlib.suppress(DockerError):  # in use: keep it
                        await self.docker.call("DELETE", f"/images/{old}")

    async def current(
        self, progress: ReportProgress, claude_code_version: str = "", extra_packages: str = ""
    ) -> str:
        built = await self.ensure(
            progress, claude_code_version=claude_code_version, extra_packages=extra_packages
        )
        return built.image

    async def _build(
        self, files: dict[str, bytes], args: dict[str, str], tag: str, progress: ReportProgress
    ) -> None:
        params = {
            "t": [tag, f"{self.config.image_repo}:latest"],
            "buildargs": json.dumps(args),
            "rm": "1",
            "forcerm": "1",
        }
        recent: collections.deque[str] = collections.deque(maxlen=15)
        await progress("image.build", 1, f"building {tag}")
        try:
            async for event in self.docker.json_lines(
                "POST",
                "/build",
                params=params,
                content=context_tar(files),
                headers={"Content-Type": "application/x-tar"},
            ):
                if "error" in event:
                    detail = (event.get("errorDetail") or {}).get("message") or event["error"]
                    tail = "".join(recent)
                    raise errors.AgentError(
                        errors.IMAGE_BUILD_FAILED, f"{detail.strip()}\n--- last output ---\n{tail}"
                    )
                text = str(event.get("stream", ""))
                if text:
                    recent.append(text)
                step = _STEP.match(text)
                if step:
                    number, total, what = int(step[1]), int(step[2]), step[3].strip()
                    await progress(
                        "image.build", 1 + 98 * number // total, f"{number}/{total} {what}"[:200]
                    )
        except DockerError as exc:
            raise errors.AgentError(errors.IMAGE_BUILD_FAILED, exc.message) from exc

    async def _make_base(self, base: str, progress: ReportProgress) -> None:
        if self.config.base_image:
            raise errors.AgentError(
                errors.IMAGE_BUILD_FAILED,
                f"base image {base} is not present; load it into dockerd or unset base_image",
            )
        suite = self.config.debian_suite
        root = self.config.state_dir / "build" / f"base-{suite}"
        await trio.to_thread.run_sync(_clean, root)
        try:
            await progress("image.base", 1, f"debootstrap {suite} (minbase)")
            await _debootstrap(suite, root, self.config.debian_mirror, progress)
            await progress("image.base", 80, f"importing {base}")
            repo, _, tag = base.partition(":")
            async for event in self.docker.json_lines(
                "POST",
                "/images/create",
                params={"fromSrc": "-", "repo": repo, "tag": tag or "latest"},
                content=_tar_stream(root),
                headers={"Content-Type": "application/x-tar"},
            ):
                if "error" in event:
                    raise errors.AgentError(errors.IMAGE_BUILD_FAILED, str(event["error"]))
        finally:
            await trio.to_thread.run_sync(_clean, root)


def _clean(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


async def _debootstrap(suite: str, root: Path, mirror: str, progress: ReportProgress) -> None:
    argv = ["debootstrap", "--variant=minbase", suite, str(root), mirror]
    recent: collections.deque[str] = collections.deque(maxlen=15)
    retrieved = 0
    try:
        process = await trio.lowlevel.open_process(
            argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
    except FileNotFoundError as exc:
        raise errors.AgentError(errors.IMAGE_BUILD_FAILED, "debootstrap is not installed") from exc
    try:
        assert process.stdout is not None
        async for line in _lines(process.stdout):
            recent.append(line)
            if line.startswith("I: Retrieving"):
                retrieved += 1
                if retrieved % 25 == 1:
                    await progress("image.base", 10, f"{retrieved} packages retrieved")
            elif line.startswith("I: Base system") or line.startswith("I: Installing"):
                await progress("image.base", 50, line[3:200])
    finally:
        await _reap(process)
    if process.returncode != 0:
        raise errors.AgentError(
            errors.IMAGE_BUILD_FAILED,
            f"debootstrap exited {process.returncode}:\n" + "\n".join(recent),
        )


async def _reap(process: trio.Process) -> None:
    """Wait for ``process``; kill it first if the caller is leaving early (error, cancel)."""
    if process.returncode is None:
        with trio.move_on_after(0.1):
            await process.wait()
    if process.returncode is None:
        process.kill()
    with trio.CancelScope(shield=True):
        await process.wait()


async def _lines(stream: trio.abc.ReceiveStream) -> AsyncIterator[str]:
    pending = b""
    while chunk := await stream.receive_some(65536):
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            yield line.decode(errors="replace")
    if pending:
        yield pending.decode(errors="replace")


async def _tar_stream(root: Path) -> AsyncIterator[bytes]:
    """``tar -c`` of a root file system (keeps devices, owners and modes), streamed."""
    process = await trio.lowlevel.open_process(
        ["tar", "-C", str(root), "--numeric-owner", "-c", "."],
        stdout=subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        while chunk := await process.stdout.receive_some(1 << 20):
            yield bytes(chunk)
    finally:
        await _reap(process)
    if process.returncode != 0:
        raise errors.AgentError(errors.IMAGE_BUILD_FAILED, f"tar exited {process.returncode}")
