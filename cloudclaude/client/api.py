"""The JSON API, over a pinned HTTPS connection, as the signed-in user."""

from __future__ import annotations

import json
import urllib.parse
from typing import Any

from cloudclaude.client import exit_codes
from cloudclaude.client.pinning import PinMismatch, PinnedConnection

TIMEOUT_S = 30.0
MAX_ANSWER = 16 * 1024 * 1024


class ApiError(Exception):
    """A failed call: the registry code when the server gave one, and the exit status."""

    def __init__(self, message: str, *, code: str = "", fix: str = "", status: int = 1) -> None:
        super().__init__(message)
        self.code = code
        self.fix = fix
        self.status = status


def split_server(server: str) -> tuple[str, int]:
    """``https://host:port`` → (host, port); only https."""
    parts = urllib.parse.urlsplit(server if "://" in server else f"https://{server}")
    if parts.scheme != "https" or not parts.hostname:
        raise ApiError(f"{server!r} is not an https:// server address", status=exit_codes.USAGE)
    return parts.hostname, parts.port or 443


class Api:
    def __init__(self, server: str, pin: str | None, token: str = "") -> None:
        self.host, self.port = split_server(server)
        self.pin = pin
        self.token = token
        #: The server's clock (its ``Date`` header) at the last answer, for the skew check.
        self.server_date = ""

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
        """(status, decoded JSON or None); an error answer raises ``ApiError``."""
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        conn = PinnedConnection(self.host, self.port, self.pin, TIMEOUT_S)
        try:
            conn.request(method, path, body=data, headers=headers)
            response = conn.getresponse()
            raw = response.read(MAX_ANSWER + 1)
            self.server_date = response.getheader("Date") or ""
        except PinMismatch as exc:
            raise ApiError(str(exc), status=exit_codes.PIN_MISMATCH) from exc
        except (TimeoutError, OSError) as exc:
            where = f"{self.host}:{self.port}"
            raise ApiError(f"cannot reach {where}: {exc}", status=exit_codes.UNREACHABLE) from exc
        finally:
            conn.close()
        if len(raw) > MAX_ANSWER:
            raise ApiError("the server's answer is too large")
        decoded = _decode(raw)
        if response.status >= 400:
            raise _error(response.status, decoded)
        return response.status, decoded


def _decode(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return {"text": raw[:500].decode(errors="replace")}


def _error(status: int, body: Any) -> ApiError:
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return ApiError(f"the server answered HTTP {status}")
    code = str(error.get("code", ""))
    message = str(error.get("message", f"HTTP {status}"))
    exit_status = _registry_exit(code)
    if status == 401 and exit_status == exit_codes.FAILED:  # a token refused: sign in again
        exit_status = exit_codes.SIGNED_OUT
    return ApiError(message, code=code, fix=str(error.get("fix", "")), status=exit_status)


def _registry_exit(code: str) -> int:
    from cloudclaude.client.explain import lookup

    row = lookup(code) if code else None
    return int(row["exit_code"]) if row else exit_codes.FAILED
