"""Signing in and out: the pins, the token, the SSH key the CLI logs in to boxes with."""

from __future__ import annotations

import getpass
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from cloudclaude.client import exit_codes, profile
from cloudclaude.client.api import Api, ApiError, split_server
from cloudclaude.client.pinning import learn_pin
from cloudclaude.client.profile import Profile


def signed_in() -> tuple[Profile, Api]:
    """The profile and an API client with its token; ``ApiError`` (exit 5) when signed out."""
    found = profile.load()
    token = profile.token()
    if found is None or not token:
        raise ApiError(
            "not signed in", fix="run: cloud-claude login SERVER", status=exit_codes.SIGNED_OUT
        )
    return found, Api(found.server, found.tls_pin, token)


def read_password(prompt: str, from_stdin: bool) -> str:
    if from_stdin or not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    return getpass.getpass(prompt)


def trust(pin: str, kind: str, assume_yes: bool) -> None:
    """Trust on first use: show the key and ask (``--yes`` accepts without asking)."""
    print(f"The server's {kind} is {pin}")
    if assume_yes:
        return
    if not sys.stdin.isatty():
        raise ApiError(
            f"cannot ask whether to trust the {kind} without a terminal",
            fix="compare it with the one on your page (/me) and run login again with --yes",
            status=exit_codes.USAGE,
        )
    if input("Trust it? [y/N] ").strip().lower() not in ("y", "yes"):
        raise ApiError("not trusted; nothing was saved", status=exit_codes.PIN_MISMATCH)


def login(server: str, username: str, password: str, assume_yes: bool) -> Profile:
    server = server.rstrip("/")
    if "://" not in server:
        server = f"https://{server}"
    host, port = split_server(server)
    old = profile.load()
    try:
        pin = learn_pin(host, port)
    except ConnectionError as exc:
        raise ApiError(str(exc), status=exit_codes.UNREACHABLE) from exc
    if old is not None and old.server == server and old.tls_pin != pin:
        raise ApiError(
            f"the server's TLS key changed: {old.tls_pin} was pinned, it shows {pin}",
            fix=f"if your admin changed it, remove {profile.config_dir()} and log in again",
            status=exit_codes.PIN_MISMATCH,
        )
    if old is None or old.server != server:
        trust(pin, "TLS key", assume_yes)
    api = Api(server, pin)
    _, answer = api.call("POST", "/v1/auth/login", {"username": username, "password": password})
    api.token = str(answer["token"])
    expires_at = str(answer.get("expires_at") or "")
    _, ssh = api.call("GET", "/v1/cli/ssh")
    known = str(ssh["known_hosts"])
    if old is not None and old.server == server and old.known_hosts and old.known_hosts != known:
        raise ApiError(
            "the server's SSH host key changed since you signed in last",
            fix=f"if your admin changed it, remove {profile.config_dir()} and log in again",
            status=exit_codes.PIN_MISMATCH,
        )
    if old is None or old.server != server:
        trust(str(ssh["fingerprint"]), "SSH host key", assume_yes)
    signed = Profile(
        server=server,
        tls_pin=pin,
        username=username,
        ssh_host=str(ssh["host"]),
        ssh_port=int(ssh["port"]),
        known_hosts=known,
        ssh_key=old.ssh_key if old is not None and old.server == server else "",
        extra={"token_expires_at": expires_at},
    )
    profile.save(signed)
    profile.save_token(api.token)
    write_known_hosts(signed)
    return signed


def logout() -> None:
    """End the session on the server (the token stops working) and forget it here."""
    try:
        _, api = signed_in()
    except ApiError:
        profile.forget_token()
        return
    try:
        api.call("POST", "/v1/auth/logout")
    finally:
        profile.forget_token()


def known_hosts_path() -> Path:
    return profile.config_dir() / "known_hosts"


def write_known_hosts(signed: Profile) -> None:
    path = known_hosts_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.write_text(signed.known_hosts.strip() + "\n")


def key_path() -> Path:
    return profile.config_dir() / "id_ed25519"


def ensure_key(signed: Profile, api: Api, password: str | None) -> dict[str, Any]:
    """Make the CLI's SSH key if absent and register it with the server if it is not yet."""
    path = key_path()
    if not path.exists():
        if shutil.which("ssh-keygen") is None:
            raise ApiError("ssh-keygen is not installed", fix="install the OpenSSH client")
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "cloud-claude", "-f", str(path)],
            check=True,
        )
        os.chmod(path, 0o600)
    public = Path(str(path) + ".pub").read_text().strip()
    _, keys = api.call("GET", "/v1/user/ssh-keys")
    wanted = " ".join(public.split()[:2])
    registered = any(
        " ".join(str(k.get("public_key", "")).split()[:2]) == wanted for k in keys["items"]
    )
    body: dict[str, Any] = {"public_key": public, "name": "cloud-claude"}
    if password:
        body["current_password"] = password
    answer: dict[str, Any] = {"registered": registered, "path": str(path)}
    if not registered:
        api.call("POST", "/v1/user/ssh-keys", body)
        answer["registered"] = True
        answer["added"] = True
    if signed.ssh_key != str(path):
        signed.ssh_key = str(path)
        profile.save(signed)
    return answer
