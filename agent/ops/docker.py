"""A small Docker Engine API client over dockerd's Unix socket (httpx, API pinned to 1.41).

Debian's dockerd 20.10 serves API 1.41, and so does every newer dockerd, so the version is
pinned rather than negotiated. Only what the agent needs is here; every failure becomes an
``AgentError`` with a registry code: dockerd unreachable → ``docker_unavailable``, an API error →
``docker_error`` (``NotFound`` and ``Conflict`` let callers make operations idempotent).
"""

from __future__ import annotations

import contextlib
import json
import struct
from collections.abc import AsyncIterable, AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import attrs
import httpx

from agent import errors

API_VERSION = "1.41"
DEFAULT_SOCKET = "/var/run/docker.sock"
_STREAM_HEADER = struct.Struct(">BxxxI")


class DockerError(errors.AgentError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(errors.DOCKER_ERROR, f"dockerd answered {status}: {message}")
        self.status = status


class NotFound(DockerError):
    pass


class Conflict(DockerError):
    pass


class NotModified(DockerError):
    pass


_BY_STATUS: dict[int, type[DockerError]] = {304: NotModified, 404: NotFound, 409: Conflict}


@attrs.frozen(kw_only=True)
class ExecResult:
    exit_code: int
    stdout: bytes
    stderr: bytes


def _raise_for(response: httpx.Response, body: bytes) -> None:
    if response.status_code < 300:
        return
    try:
        message = str(json.loads(body).get("message", ""))
    except (ValueError, AttributeError):
        message = body.decode(errors="replace")[:500]
    raise _BY_STATUS.get(response.status_code, DockerError)(response.status_code, message)


def demultiplex(data: bytes) -> tuple[bytes, bytes]:
    """Split Docker's multiplexed stream (8-byte headers: stream id, length) into out and err."""
    out, err = bytearray(), bytearray()
    offset = 0
    while offset + _STREAM_HEADER.size <= len(data):
        stream, length = _STREAM_HEADER.unpack_from(data, offset)
        offset += _STREAM_HEADER.size
        chunk = data[offset : offset + length]
        offset += length
        (err if stream == 2 else out).extend(chunk)
    return bytes(out), bytes(err)


class Docker:
    """dockerd's Engine API; one pooled httpx client per agent."""

    def __init__(self, socket_path: str = DEFAULT_SOCKET) -> None:
        self.socket_path = socket_path
        self._http = httpx.AsyncClient(
            transport=httpx.AsyncHTTPTransport(uds=socket_path),
            base_url=f"http://docker/v{API_VERSION}",
            timeout=None,  # noqa: S113 (callers bound waits with trio cancel scopes)
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    @asynccontextmanager
    async def _stream(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        content: bytes | AsyncIterable[bytes] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> AsyncIterator[httpx.Response]:
        try:
            request = self._http.build_request(
                method, path, params=params, json=body, content=content, headers=headers
            )
            response = await self._http.send(request, stream=True)
        except httpx.TransportError as exc:
            raise errors.AgentError(
                errors.DOCKER_UNAVAILABLE, f"cannot reach dockerd at {self.socket_path}: {exc}"
            ) from exc
        try:
            if response.status_code >= 300:
                _raise_for(response, await response.aread())
            yield response
        finally:
            await response.aclose()

    async def call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        content: bytes | AsyncIterable[bytes] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """One request; the decoded JSON answer (None when there is no body)."""
        async with self._stream(
            method, path, params=params, body=body, content=content, headers=headers
        ) as response:
            data = await response.aread()
        if not data:
            return None
        try:
            return json.loads(data)
        except ValueError:
            return data

    async def json_lines(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        content: bytes | AsyncIterable[bytes] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> AsyncIterator[dict[str, Any]]:
        """A streamed answer of JSON objects, one per line (build and import progress)."""
        async with self._stream(
            method, path, params=params, content=content, headers=headers
        ) as response:
            async for line in response.aiter_lines():
                if line.strip():
                    yield json.loads(line)

    # --- containers --------------------------------------------------------------------------

    async def inspect(self, name: str) -> dict[str, Any] | None:
        try:
            info: dict[str, Any] = await self.call("GET", f"/containers/{name}/json")
        except NotFound:
            return None
        return info

    async def create(self, name: str, body: Mapping[str, Any]) -> str:
        reply = await self.call("POST", "/containers/create", params={"name": name}, body=body)
        return str(reply["Id"])

    async def start(self, name: str) -> None:
        with contextlib.suppress(NotModified):  # already running
            await self.call("POST", f"/containers/{name}/start")

    async def stop(self, name: str, grace_s: int) -> None:
        with contextlib.suppress(NotModified, NotFound):  # already stopped or gone
            await self.call("POST", f"/containers/{name}/stop", params={"t": grace_s})

    async def remove(self, name: str) -> bool:
        try:
            await self.call("DELETE", f"/containers/{name}", params={"force": "true", "v": "1"})
        except NotFound:
            return False
        return True

    async def list_containers(self, labels: Mapping[str, str]) -> list[dict[str, Any]]:
        filters = {"label": [f"{key}={value}" for key, value in labels.items()]}
        found: list[dict[str, Any]] = await self.call(
            "GET", "/containers/json", params={"all": "1", "filters": json.dumps(filters)}
        )
        return found

    async def logs(self, name: str, tail: int) -> tuple[bytes, bytes]:
        params = {"stdout": "1", "stderr": "1", "tail": str(tail), "timestamps": "1"}
        async with self._stream("GET", f"/containers/{name}/logs", params=params) as response:
            return demultiplex(await response.aread())

    async def stats(self, name: str) -> dict[str, Any]:
        found: dict[str, Any] = await self.call(
            "GET", f"/containers/{name}/stats", params={"stream": "false"}
        )
        return found

    async def exec(self, name: str, argv: list[str], *, user: str = "") -> ExecResult:
        """Run ``argv`` (never a shell string) in the container and collect its output."""
        created = await self.call(
            "POST",
            f"/containers/{name}/exec",
            body={"Cmd": argv, "User": user, "AttachStdout": True, "AttachStderr": True},
        )
        exec_id = created["Id"]
        async with self._stream(
            "POST", f"/exec/{exec_id}/start", body={"Detach": False, "Tty": False}
        ) as response:
            stdout, stderr = demultiplex(await response.aread())
        info = await self.call("GET", f"/exec/{exec_id}/json")
        return ExecResult(exit_code=int(info.get("ExitCode") or 0), stdout=stdout, stderr=stderr)

    # --- images ------------------------------------------------------------------------------

    async def image(self, name: str) -> dict[str, Any] | None:
        try:
            info: dict[str, Any] = await self.call("GET", f"/images/{name}/json")
        except NotFound:
            return None
        return info

    async def tag(self, source: str, repo: str, tag: str) -> None:
        await self.call("POST", f"/images/{source}/tag", params={"repo": repo, "tag": tag})
