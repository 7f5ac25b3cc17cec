"""``doctor``: what stands between this laptop and a box, each check with a verdict and a fix.

Checks the ssh client, the sign-in and the token's expiry, the server (reachable, its TLS key
the pinned one, its clock), the SSH host key against the pin, the CLI's SSH key (there and
registered), the state of each host, and in a git checkout the mount: the checkout mounted
into the latest host and read back there. ``--fix`` repairs what it can: it makes the SSH key
and registers it. Exit 0 when all pass, 1 with warnings only, 2 with a failure.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import shlex
import shutil
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

from cloudclaude.client import checkout, laptop_git, profile, session
from cloudclaude.client.api import Api, ApiError
from cloudclaude.client.hosts import all_hosts
from cloudclaude.client.mount_channel import MountChannel
from cloudclaude.client.profile import Profile
from cloudclaude.client.ssh_commands import ssh_argv

SKEW_WARN_S = 60.0
SKEW_FAIL_S = 300.0
EXPIRY_WARN_S = 3600.0
#: The mount check's limit for the mount and for reading it back.
MOUNT_CHECK_S = 60.0


@dataclass
class Check:
    name: str
    verdict: str  # "ok" | "warn" | "fail"
    detail: str
    fix: str = ""


def status_of(checks: list[Check]) -> int:
    verdicts = {check.verdict for check in checks}
    return 2 if "fail" in verdicts else (1 if "warn" in verdicts else 0)


def as_dicts(checks: list[Check]) -> list[dict]:  # type: ignore[type-arg]
    return [asdict(check) for check in checks]


def run(fix: bool, password: Callable[[], str]) -> list[Check]:
    checks = [_ssh_client()]
    found = profile.load()
    if found is None or not profile.token():
        checks.append(Check("sign-in", "fail", "not signed in", "cloud-claude login SERVER"))
        return checks
    api = Api(found.server, found.tls_pin, profile.token())
    try:
        api.call("GET", "/v1/me")
    except ApiError as exc:
        checks.append(Check("server", "fail", str(exc), exc.fix or "cloud-claude login"))
        return checks
    checks.append(Check("server", "ok", f"{found.server}, TLS key {found.tls_pin}"))
    checks += [_token(found), _clock(api), _host_key(found, api), _key(found, api, fix, password)]
    hosts = all_hosts(api)
    checks += [_host(host) for host in hosts]
    checks.append(_mount(found, hosts))
    return checks


def _ssh_client() -> Check:
    if shutil.which("ssh") is None:
        return Check("ssh client", "fail", "no ssh on PATH", "install the OpenSSH client")
    done = subprocess.run(["ssh", "-V"], capture_output=True, text=True, check=False)
    return Check("ssh client", "ok", (done.stderr or done.stdout).strip())


def _token(found: Profile) -> Check:
    expires = str(found.extra.get("token_expires_at") or "")
    try:
        left = (
            dt.datetime.fromisoformat(expires) - dt.datetime.now(dt.timezone.utc)
        ).total_seconds()
    except ValueError:
        return Check("token", "ok", "valid (expiry unknown)")
    if left < EXPIRY_WARN_S:
        return Check(
            "token", "warn", f"expires in {max(left, 0) / 60:.0f} min", "cloud-claude login"
        )
    return Check("token", "ok", f"valid for {left / 3600:.1f} h")


def _clock(api: Api) -> Check:
    try:
        server = email.utils.parsedate_to_datetime(api.server_date)
    except (TypeError, ValueError):
        return Check("clock", "warn", "the server sent no time", "")
    skew = abs((dt.datetime.now(dt.timezone.utc) - server).total_seconds())
    verdict = "fail" if skew > SKEW_FAIL_S else ("warn" if skew > SKEW_WARN_S else "ok")
    fix = "" if verdict == "ok" else "set the laptop's clock (NTP); tokens and SSH need it"
    return Check("clock", verdict, f"{skew:.0f} s apart from the server", fix)


def _host_key(found: Profile, api: Api) -> Check:
    _, ssh = api.call("GET", "/v1/cli/ssh")
    if str(ssh["known_hosts"]).strip() != found.known_hosts.strip():
        return Check(
            "ssh host key",
            "fail",
            f"the server shows {ssh['fingerprint']}, not the pinned key",
            "ask your admin; if the key was changed on purpose, log in again",
        )
    session.write_known_hosts(found)
    return Check("ssh host key", "ok", str(ssh["fingerprint"]))


def _key(found: Profile, api: Api, fix: bool, password: Callable[[], str]) -> Check:
    path = session.key_path()
    if not fix:
        if not path.exists():
            return Check("ssh key", "fail", f"no key at {path}", "cloud-claude doctor --fix")
        public = " ".join(path.with_name(path.name + ".pub").read_text().split()[:2])
        _, keys = api.call("GET", "/v1/user/ssh-keys")
        if not any(" ".join(str(k["public_key"]).split()[:2]) == public for k in keys["items"]):
            return Check("ssh key", "fail", "not registered", "cloud-claude doctor --fix")
        return Check("ssh key", "ok", str(path))
    try:
        done = session.ensure_key(found, api, None)
    except ApiError as exc:
        if exc.code != "AUTH_015":  # recent_auth_required: ask for the password once
            raise
        done = session.ensure_key(found, api, password())
    what = "made and registered" if done.get("added") else "registered"
    return Check("ssh key", "ok", f"{path} ({what})")


def _host(host: dict[str, Any]) -> Check:
    name = f"host {host['short_id']}"
    if host["status"] in ("failed", "degraded"):
        code: str | None = host.get("error_code")
        fix = f"cloud-claude explain {code}" if code else "cloud-claude start"
        return Check(name, "warn", f"{host['status']} {code or ''}".strip(), fix)
    if not host.get("egress_verified"):
        return Check(name, "warn", f"{host['status']}, egress unverified")
    return Check(name, "ok", f"{host['status']}, egress verified")


def _mount(found: Profile, hosts: list[dict[str, Any]]) -> Check:
    """In a git checkout: mount it into the latest running host and read its ``.git`` there."""
    root = checkout.git_root(Path.cwd())
    if root is None:
        return Check("mount", "ok", "not checked: not in a git checkout")
    running = [h for h in hosts if h["status"] == "running"]
    if not running:
        return Check("mount", "warn", "not checked: no running host", "cloud-claude start")
    short_id = str(max(running, key=lambda h: str(h.get("last_used_at") or ""))["short_id"])
    desk = laptop_git.Desk(str(root), lambda _line: None)
    mount = MountChannel(
        ssh_argv(found, short_id, MountChannel.ssh_options(root)), root, desk, lambda _l: None
    )
    try:
        mount.open(timeout=MOUNT_CHECK_S)
        probe = [*ssh_argv(found, short_id, ["-T"]), shlex.join(["test", "-d", f"{root}/.git"])]
        done = subprocess.run(probe, capture_output=True, timeout=MOUNT_CHECK_S, check=False)
    except (ApiError, subprocess.TimeoutExpired) as exc:
        return Check("mount", "fail", str(exc), "cloud-claude explain CODE; cloud-claude ssh")
    finally:
        mount.close()
        desk.close()
    if done.returncode != 0:
        return Check("mount", "fail", f"{root} mounted in {short_id} but not readable there")
    return Check("mount", "ok", f"{root} mounts in {short_id} and reads back")
