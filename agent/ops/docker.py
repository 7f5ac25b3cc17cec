"""A small Docker Engine API client over dockerd's Unix socket (httpx, API pinned to 1.41).

Debian's dockerd 20.10 serves API 1.41, and so does every newer dockerd, so the version is
pinned rather than negotiated. Only what the agent needs is here; every failure becomes an
``AgentError`` with a registry code: dockerd unreachable → ``docker_unavailable``, an API error →
``docker_error`` (``NotFound`` and ``Conflict`` let callers make operations idempotent).

Every call is bounded (``DockerLimits``): a deadline with ``trio`` cancel scopes (over it:
``docker_timeout``) and a size cap on what is read. Per call, over the size cap: JSON answers
and progress lines fail (``docker_reply_too_large``); container logs keep their newest bytes;
a command run in a box fails (``box_exec_output_too_large``, or ``box_exec_timeout`` past its
deadline) and is abandoned: its connection closed and its processes killed.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterable, AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any, Literal

import attrs
import httpx
import trio

from agent import errors, logconfig
from agent.config import DockerLimits
from agent.ops import cgroups
from agent.ops.docker_reads import Demux, Head, Lines, Tail, demultiplex, read_capped

__all__ = ["Docker", "DockerError", "ExecResult", "demultiplex"]

API_VERSION = "1.41"
DEFAULT_SOCKET = "/var/run/docker.sock"
#: An error answer is read only this far (its message is all that is kept).
_ERROR_BODY_MAX = 64 * 1024
log = logconfig.get("agent.docker")


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
    #: The output went past the cap and was cut (``overflow="truncate"`` only).
    truncated: bool = False


def _raise_for(response: httpx.Response, body: bytes) -> None:
    if response.status_code < 300:
        return
    try:
        message = str(json.loads(body).get("message", ""))
    except (ValueError, AttributeError):
        message = body.decode(errors="replace")[:500]
    raise _BY_STATUS.get(response.status_code, DockerError)(response.status_code, message)


class Docker:
    """dockerd's Engine API; one pooled httpx client per agent."""

    def __init__(self, socket_path: str = DEFAULT_SOCKET, limits: DockerLimits | None = None):
        self.socket_path = socket_path
        self.limits = limits or DockerLimits()
        self._http = httpx.AsyncClient(
            transport=httpx.AsyncHTTPTransport(uds=socket_path),
            base_url=f"http://docker/v{API_VERSION}",
            timeout=None,  # noqa: S113 (every call has a trio deadline instead)
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """The answer's head, its body still to read (the caller closes it); errors raised."""
        try:
            request = self._http.build_request(method, path, **kwargs)
            response = await self._http.send(request, stream=True)
        except httpx.TransportError as exc:
            raise errors.AgentError(
                errors.DOCKER_UNAVAILABLE, f"cannot reach dockerd at {self.socket_path}: {exc}"
            ) from exc
        if response.status_code >= 300:
            try:
                body = await read_capped(response.aiter_raw(), _ERROR_BODY_MAX, path)
            except errors.AgentError:
                body = b""
            finally:
                await response.aclose()
            _raise_for(response, body)
        return response

    @asynccontextmanager
    async def _stream(
        self,
        method: str,
        path: str,
        *,
        deadline_s: float | None = None,
        timeout_code: str = errors.DOCKER_TIMEOUT,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        content: bytes | AsyncIterable[bytes] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> AsyncIterator[httpx.Response]:
        """The answer, open; the deadline covers the caller's reading of it too."""
        seconds = self.limits.call_s if deadline_s is None else deadline_s
        with trio.move_on_after(seconds) as scope:
            response = await self._send(
                method, path, params=params, json=body, content=content, headers=headers
            )
            try:
                yield response
            except httpx.HTTPError as exc:  # dockerd broke off while the body was read
                raise _broken(method, path, exc) from exc
            finally:
                await response.aclose()
        if scope.cancelled_caught:
            log.warning("docker_deadline", method=method, path=path, deadline_s=seconds)
            raise errors.AgentError(
                timeout_code, f"dockerd did not finish {method} {path} within {seconds:g}s"
            )

    async def call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        deadline_s: float | None = None,
    ) -> Any:
        """One request; the decoded JSON answer (None when there is no body)."""
        async with self._stream(
            method, path, params=params, body=body, deadline_s=deadline_s
        ) as response:
            data = await read_capped(response.aiter_raw(), self.limits.reply_max_bytes, path)
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
        """A streamed answer of JSON objects, one per line (build and import progress).

        The whole stream has ``build_s``; no cancel scope spans a ``yield`` (the consumer's
        time between lines is its own), only each wait for dockerd is bounded by the deadline.
        """
        seconds = self.limits.build_s
        deadline = trio.current_time() + seconds
        timed_out = errors.AgentError(
            errors.DOCKER_TIMEOUT, f"dockerd did not finish {method} {path} within {seconds:g}s"
        )
        response: httpx.Response | None = None
        with trio.move_on_at(deadline):
            response = await self._send(
                method, path, params=params, content=content, headers=headers
            )
        if response is None:
            raise timed_out
        try:
            lines = Lines(self.limits.line_max_bytes, path)
            chunks = response.aiter_raw()
            while True:
                chunk: bytes | None = None
                with trio.move_on_at(deadline) as scope:
                    try:
                        chunk = await anext(chunks, None)
                    except httpx.HTTPError as exc:
                        raise _broken(method, path, exc) from exc
                if scope.cancelled_caught:
                    raise timed_out
                for line in lines.feed(chunk) if chunk is not None else lines.finish():
                    if line.strip():
                        yield _json_object(line, response.status_code)
                if chunk is None:
                    return
        finally:
            with trio.move_on_after(self.limits.call_s, shield=True):
                await response.aclose()

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

    async def pause(self, name: str) -> None:
        """Freeze every process of a running container (the cgroup freezer)."""
        await self.call("POST", f"/containers/{name}/pause")

    async def unpause(self, name: str) -> None:
        with contextlib.suppress(Conflict):  # not paused (any more)
            await self.call("POST", f"/containers/{name}/unpause")

    async def stop(self, name: str, grace_s: int) -> None:
        """Stop, waiting up to ``grace_s`` for the box to exit before dockerd kills it."""
        deadline = self.limits.call_s + grace_s
        with contextlib.suppress(NotModified, NotFound):  # already stopped or gone
            await self.call(
                "POST", f"/containers/{name}/stop", params={"t": grace_s}, deadline_s=deadline
            )

    async def remove(self, name: str) -> bool:
        try:
            await self.call(
                "DELETE",
                f"/containers/{name}",
                params={"force": "true", "v": "1"},
                deadline_s=self.limits.remove_s,
            )
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
        """The newest ``logs_max_bytes`` of each stream of the last ``tail`` lines."""
        params = {"stdout": "1", "stderr": "1", "tail": str(tail), "timestamps": "1"}
        cap = self.limits.logs_max_bytes
        demux = Demux(Tail(cap), Tail(cap))
        async with self._stream("GET", f"/containers/{name}/logs", params=params) as response:
            async for chunk in response.aiter_raw():
                demux.feed(chunk)
        if demux.out.cut or demux.err.cut:
            log.info("docker_logs_cut", container=name, seen=demux.total, kept_each=cap)
        return demux.out.value(), demux.err.value()

    async def stats(self, name: str) -> dict[str, Any]:
        found: dict[str, Any] = await self.call(
            "GET", f"/containers/{name}/stats", params={"stream": "false"}
        )
        return found

    async def exec(
        self,
        name: str,
        argv: list[str],
        *,
        user: str = "",
        overflow: Literal["fail", "truncate"] = "fail",
    ) -> ExecResult:
        """Run ``argv`` (never a shell string) in the container and collect its output.

        Bounded by ``exec_s`` and ``exec_output_max_bytes`` (stdout and stderr together). Past
        the deadline, or past the cap with ``overflow="fail"``, the command is abandoned and a
        coded error raised; with ``"truncate"`` the output kept so far is returned, cut.
        """
        created = await self.call(
            "POST",
            f"/containers/{name}/exec",
            body={"Cmd": argv, "User": user, "AttachStdout": True, "AttachStderr": True},
        )
        exec_id = str(created["Id"])
        cap = self.limits.exec_output_max_bytes
        demux = Demux(Head(cap), Head(cap))
        finished = False
        try:
            async with self._stream(
                "POST",
                f"/exec/{exec_id}/start",
                body={"Detach": False, "Tty": False},
                deadline_s=self.limits.exec_s,
                timeout_code=errors.BOX_EXEC_TIMEOUT,
            ) as response:
                async for chunk in response.aiter_raw():
                    demux.feed(chunk)
                    if demux.total > cap:
                        break
                else:
                    finished = True
        finally:
            if not finished:
                with trio.CancelScope(shield=True):
                    await self._abandon(exec_id, name, demux.total)
        cut = demux.total > cap
        if cut and overflow == "fail":
            raise errors.AgentError(
                errors.BOX_EXEC_OUTPUT_TOO_LARGE,
                f"{argv[0]!r} in {name} printed more than {cap} bytes; it was stopped",
            )
        exit_code = -1
        if not cut:
            info = await self.call("GET", f"/exec/{exec_id}/json")
            exit_code = int(info.get("ExitCode") or 0)
        return ExecResult(
            exit_code=exit_code,
            stdout=demux.out.value(),
            stderr=demux.err.value(),
            truncated=cut,
        )

    async def _abandon(self, exec_id: str, name: str, seen: int) -> None:
        """Kill what a command left running (its connection is already closed), and log it."""
        killed, pid = 0, 0
        with trio.move_on_after(self.limits.call_s), contextlib.suppress(errors.AgentError):
            while True:  # dockerd records the PID a moment after the output starts
                info = await self.call("GET", f"/exec/{exec_id}/json")
                pid, container_id = int(info.get("Pid") or 0), str(info.get("ContainerID", ""))
                if not info.get("Running") or (pid > 0 and container_id):
                    break
                await trio.sleep(0.02)
            if info.get("Running"):
                killed = await trio.to_thread.run_sync(cgroups.kill_tree, pid, container_id, 4096)
        log.warning("box_exec_abandoned", container=name, pid=pid, output_bytes=seen, killed=killed)

    # --- images ------------------------------------------------------------------------------

    async def image(self, name: str) -> dict[str, Any] | None:
        try:
            info: dict[str, Any] = await self.call("GET", f"/images/{name}/json")
        except NotFound:
            return None
        return info

    async def tag(self, source: str, repo: str, tag: str) -> None:
        await self.call("POST", f"/images/{source}/tag", params={"repo": repo, "tag": tag})


def _broken(method: str, path: str, exc: Exception) -> errors.AgentError:
    return errors.AgentError(
        errors.DOCKER_UNAVAILABLE, f"dockerd broke off its answer to {method} {path}: {exc}"
    )


def _json_object(line: bytes, status: int) -> dict[str, Any]:
    try:
        event = json.loads(line)
    except ValueError as exc:
        raise DockerError(status, f"unreadable progress line {line[:200]!r}") from exc
    if not isinstance(event, dict):
        raise DockerError(status, f"progress line is not an object: {line[:200]!r}")
    return event
