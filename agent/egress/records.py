"""What the agent remembers of each gateway: one JSON file per host in its state directory.

The record is how a restarted agent finds its gateways again (slot, sing-box PID, exit), and
holds the kill-switch trip count the daemon watches. Reads and writes run on a worker thread, so
a slow disk never stalls the agent's trio thread.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import attrs
import cattrs
import trio

from agent.errors import AgentError
from agent.ops.names import check_host_id

_converter = cattrs.Converter(forbid_extra_keys=True)
#: Files of a gateway's directory: the sing-box config (exit credentials: root only, handed to
#: sing-box on stdin) and its allowlist rule-set (readable by that sing-box's group alone).
CONFIG_NAME = "sing-box.json"
ALLOWLIST_NAME = "allowlist.json"


@attrs.define(kw_only=True)
class GatewayRecord:
    host_id: str
    slot: int
    #: The instance tag its names were made with (another instance may have to remove it).
    tag: str = ""
    pid: int = 0
    trips: int = 0
    exit_kind: str = ""
    exit_address: str = ""
    exit_port: int = 0
    allowed_domains: list[str] = attrs.field(factory=list)
    always_allowed: list[str] = attrs.field(factory=list)
    #: The password of sing-box's upstream proxy inbound (new at every setup; root-only file).
    upstream_password: str = attrs.field(default="", repr=False)


class Records:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def dir_of(self, host_id: str) -> Path:
        return self.directory / check_host_id(host_id)

    def config_path(self, host_id: str) -> Path:
        return self.dir_of(host_id) / CONFIG_NAME

    def allowlist_path(self, host_id: str) -> Path:
        return self.dir_of(host_id) / ALLOWLIST_NAME

    def log_path(self, host_id: str) -> Path:
        return self.dir_of(host_id) / "sing-box.log"

    async def load(self, host_id: str) -> GatewayRecord | None:
        return await trio.to_thread.run_sync(self._load, host_id)

    async def all(self) -> list[GatewayRecord]:
        return await trio.to_thread.run_sync(self._all)

    async def save(self, record: GatewayRecord) -> None:
        text = json.dumps(_converter.unstructure(record))
        await trio.to_thread.run_sync(self._save, self.dir_of(record.host_id), text)

    async def forget(self, host_id: str) -> None:
        await trio.to_thread.run_sync(self._forget, self.dir_of(host_id))

    def _load(self, host_id: str) -> GatewayRecord | None:
        try:
            data = json.loads((self.dir_of(host_id) / "state.json").read_text())
        except FileNotFoundError:
            return None
        return _converter.structure(data, GatewayRecord)

    def _all(self) -> list[GatewayRecord]:
        found: list[GatewayRecord] = []
        if not self.directory.is_dir():
            return found
        for entry in sorted(self.directory.iterdir()):
            try:
                record = self._load(entry.name)
            except (AgentError, ValueError, cattrs.BaseValidationError):
                continue  # not a gateway directory: listed as a leftover by its netns instead
            if record is not None:
                found.append(record)
        return found

    @staticmethod
    def _save(directory: Path, text: str) -> None:
        directory.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        directory.mkdir(exist_ok=True, mode=0o700)
        write_private(directory / "state.json", text)

    @staticmethod
    def _forget(directory: Path) -> None:
        if directory.is_dir():
            for entry in directory.iterdir():
                entry.unlink(missing_ok=True)
            directory.rmdir()


def write_private(path: Path, text: str, group: int | None = None) -> None:
    """Write ``text`` atomically, readable by root only, or also by ``group`` (0640)."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        if group is not None:
            os.fchown(out.fileno(), 0, group)
        os.fchmod(out.fileno(), 0o600 if group is None else 0o640)  # a leftover .tmp too
        out.write(text)
    os.replace(tmp, path)


def open_to_group(directory: Path, group: int) -> None:
    """Let ``group`` (one sing-box) look up and watch files in ``directory``, no one else.

    Its own files there stay closed to it unless written for its group; other users get nothing.
    """
    os.chown(directory, 0, group)
    os.chmod(directory, 0o750)  # noqa: S103 (group = one sing-box; others get nothing)
