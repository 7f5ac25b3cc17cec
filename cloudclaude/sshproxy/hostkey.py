"""The proxy's own ed25519 host key: made once, kept in the state directory (mode 0600)."""

from __future__ import annotations

from pathlib import Path

import asyncssh

from cloudclaude.core.private_files import write_private
from cloudclaude.core.settings import Settings

FILE_NAME = "ssh_host_ed25519_key"


def host_key_path(settings: Settings) -> Path:
    return Path(settings.ssh.host_key) if settings.ssh.host_key else settings.state_path / FILE_NAME


def load_or_create(path: Path) -> asyncssh.SSHKey:
    """Read the key, or create it atomically (a crash never leaves half a key behind)."""
    if path.exists():
        return asyncssh.read_private_key(str(path))
    key = asyncssh.generate_private_key("ssh-ed25519", comment="cloudclaude-proxy")
    path.parent.mkdir(parents=True, exist_ok=True)
    write_private(path, key.export_private_key())
    return key


def known_hosts_line(key: asyncssh.SSHKey, host: str, port: int) -> str:
    """The line a client pins the key with (``[host]:port`` unless the port is 22)."""
    name = host if port == 22 else f"[{host}]:{port}"
    public = key.export_public_key("openssh").decode().split()
    return f"{name} {public[0]} {public[1]}"
