"""The commands that reach a box through ssh: a command, the tmux session and sessions, files
(scp over SFTP, rsync), a port forward that reconnects, and ``ssh-config`` for other tools.

Every ssh they run uses the CLI's own key and the pinned host key (``StrictHostKeyChecking``),
never the laptop's ``known_hosts``.
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import subprocess
from collections.abc import Callable
from typing import Any

from cloudclaude.client import exit_codes, heal, hosts, profile, session
from cloudclaude.client.api import ApiError
from cloudclaude.client.output import show as _print
from cloudclaude.client.pty_relay import TitleWatch
from cloudclaude.client.reconnect import reconnecting


def ssh_argv(signed: profile.Profile, short_id: str, extra: list[str]) -> list[str]:
    """ssh to a box; ``extra`` first, since ssh takes the first value given for an option."""
    return [
        "ssh",
        *extra,
        "-p",
        str(signed.ssh_port),
        "-i",
        signed.ssh_key or str(session.key_path()),
        "-o",
        "IdentitiesOnly=yes",
        "-o",
        f"UserKnownHostsFile={session.known_hosts_path()}",
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        "ServerAliveInterval=15",
        f"{signed.username}+{short_id}@{signed.ssh_host}",
    ]


def cmd_ssh(args: argparse.Namespace) -> int:
    signed, api = session.signed_in()
    host = hosts.find(api, args.host)
    command = list(args.remote)
    if command[:1] == ["--"]:
        command = command[1:]
    argv = ssh_argv(signed, str(host["short_id"]), ["-T"] if command else ["-t"])
    if shutil.which("ssh") is None:
        raise ApiError("the OpenSSH client (ssh) is not installed")
    # Words, as typed (quoted for the remote shell, unlike plain ssh, which joins them).
    remote = [shlex.join(command)] if command else []
    return subprocess.call([*argv, *remote])  # the remote command's status passes through


def cmd_connect(args: argparse.Namespace) -> int:
    """Attach to the box's tmux in a session that heals: after a drop it re-attaches to the
    tmux session last shown in the terminal's title (so a ``--new-session`` one is found again;
    the box names it), or plainly (``attach-claude``) when no title said which."""
    signed, api = session.signed_in()
    short_id = str(hosts.find(api, args.host)["short_id"])
    if shutil.which("ssh") is None:
        raise ApiError("the OpenSSH client (ssh) is not installed")
    mode = "new" if args.new_session else ("takeover" if args.take_over else "")
    titles = TitleWatch()

    def attach(reconnecting: bool) -> list[str]:
        if not reconnecting:
            extra = ["-o", f"SetEnv=CLOUDCLAUDE_SESSION={mode}"] if mode else []
            return ssh_argv(signed, short_id, ["-tt", *extra])
        if not titles.session:
            return ssh_argv(signed, short_id, ["-tt"])
        target = shlex.quote(f"={titles.session}")
        again = (  # the session may be gone (the box restarted): then the plain one
            f"tmux has-session -t {target} 2>/dev/null && exec tmux attach-session -t {target};"
            " exec /usr/local/bin/attach-claude"
        )
        return [*ssh_argv(signed, short_id, ["-tt"]), again]

    return heal.run_session(attach, watch=titles.feed)


def _ssh_options(signed: profile.Profile) -> list[str]:
    """The ssh options every tool gets (scp, rsync -e): the CLI's key and the pinned host key."""
    return ssh_argv(signed, "", [])[1:-1]


def _remote(signed: profile.Profile, short_id: str, path: str) -> str:
    return f"{signed.username}+{short_id}@{signed.ssh_host}:{path}"


def _box_path(
    api_hosts: Callable[[str | None], dict[str, Any]], signed: profile.Profile, arg: str
) -> str:
    """``HOST:PATH`` (or ``:PATH`` for the latest host) → scp's remote form; else a local path."""
    host, sep, path = arg.partition(":")
    if not sep or "/" in host:
        return arg
    return _remote(signed, str(api_hosts(host or None)["short_id"]), path or ".")


def cmd_cp(args: argparse.Namespace) -> int:
    signed, api = session.signed_in()
    paths = [_box_path(lambda ref: hosts.find(api, ref), signed, a) for a in args.paths]
    port = ["-P", str(signed.ssh_port)]
    options = [o for o in _ssh_options(signed) if o not in ("-p", str(signed.ssh_port))]
    return subprocess.call(["scp", "-r", *port, *options, *paths])


def cmd_sync(args: argparse.Namespace) -> int:
    signed, api = session.signed_in()
    paths = [_box_path(lambda ref: hosts.find(api, ref), signed, a) for a in args.paths]
    shell = shlex.join(["ssh", *_ssh_options(signed)])
    extra = ["--delete"] if args.delete else []
    return subprocess.call(["rsync", "-a", *extra, "-e", shell, *paths])


def cmd_sessions(args: argparse.Namespace) -> int:
    signed, api = session.signed_in()
    host = hosts.find(api, args.host)
    short_id = str(host["short_id"])
    if args.action == "attach":
        if not args.name:
            raise ApiError("attach needs a session name", status=exit_codes.USAGE)
        remote = shlex.join(["tmux", "attach-session", "-t", f"={args.name}"])
        return subprocess.call([*ssh_argv(signed, short_id, ["-t"]), remote])
    listing = "tmux list-sessions -F '#{session_name} #{session_attached}' 2>/dev/null || true"
    done = subprocess.run(
        [*ssh_argv(signed, short_id, ["-T"]), listing], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise ApiError(done.stderr.strip() or "ssh failed")
    found = [
        {"name": name, "attached": int(count)}
        for name, _, count in (line.rpartition(" ") for line in done.stdout.splitlines())
        if name
    ]
    text = "\n".join(f"{s['name']}  ({s['attached']} attached)" for s in found) or "no sessions"
    _print(args, found, text)
    return exit_codes.OK


def cmd_forward(args: argparse.Namespace) -> int:
    signed, api = session.signed_in()
    host = hosts.find(api, args.host)
    local, _, box = args.ports.partition(":")
    if not local.isdigit() or not (box or local).isdigit():
        raise ApiError(f"{args.ports!r} is not LOCAL[:BOXPORT]", status=exit_codes.USAGE)
    spec = f"127.0.0.1:{local}:localhost:{box or local}"
    argv = ssh_argv(
        signed,
        str(host["short_id"]),
        ["-N", "-T", "-o", "ExitOnForwardFailure=yes", "-o", "ServerAliveCountMax=2", "-L", spec],
    )
    print(f"localhost:{local} -> {host['short_id']}:{box or local} (Ctrl-C ends it)", flush=True)
    return reconnecting(argv, args.max_tries)


def cmd_ssh_config(args: argparse.Namespace) -> int:
    signed, api = session.signed_in()
    blocks = []
    for host in hosts.all_hosts(api):
        blocks.append(
            f"Host cc-{host['short_id']}\n"
            f"    HostName {signed.ssh_host}\n"
            f"    Port {signed.ssh_port}\n"
            f"    User {signed.username}+{host['short_id']}\n"
            f"    IdentityFile {signed.ssh_key or session.key_path()}\n"
            f"    IdentitiesOnly yes\n"
            f"    UserKnownHostsFile {session.known_hosts_path()}\n"
            f"    StrictHostKeyChecking yes\n"
        )
    text = "# cloud-claude: your boxes (ssh cc-SHORTID)\n" + "\n".join(blocks)
    if args.write:
        path = profile.config_dir() / "ssh_config"
        path.write_text(text)
        print(f"Wrote {path}; add to ~/.ssh/config:  Include {path}")
    else:
        print(text, end="")
    return exit_codes.OK
