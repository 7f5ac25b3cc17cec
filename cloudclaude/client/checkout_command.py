"""``cloud-claude [--host H] [--new-session | --take-over] [claude args…]`` in a git checkout.

Starts the host if it is stopped, mounts the checkout into the box at its own absolute path,
and runs ``claude`` there in the checkout's tmux session, in a session that heals: after a
drop the mount is made again first, then the pane is attached again, and Claude Code started
again in it when it worked in the dead mount.
"""

from __future__ import annotations

import argparse
import secrets
import sys
from pathlib import Path

from cloudclaude.client import checkout, exit_codes, heal, hosts, laptop_git, session
from cloudclaude.client.api import Api, ApiError
from cloudclaude.client.mount_channel import MountChannel
from cloudclaude.client.ssh_commands import ssh_argv


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="cloud-claude",
        usage="cloud-claude [--host HOST] [--new-session | --take-over] [CLAUDE ARGS...]",
        description="In a git checkout: Claude Code in your box, working on this checkout "
        "(mounted into the box at the same path). Other commands: cloud-claude --help.",
    )
    top.add_argument("--host", help="short id (default: your latest host)")
    modes = top.add_mutually_exclusive_group()
    modes.add_argument("--new-session", action="store_true", help="a fresh tmux session")
    modes.add_argument("--take-over", action="store_true", help="detach other clients")
    return top


def main(argv: list[str]) -> int:
    """``argv``: what followed ``cloud-claude``; ours first, the rest is Claude Code's."""
    args, claude_args = parser().parse_known_args(argv)
    if claude_args[:1] == ["--"]:
        claude_args = claude_args[1:]
    root = checkout.require_checkout(Path.cwd())
    signed, api = session.signed_in()
    host = _running(api, args.host)
    short_id = str(host["short_id"])
    name = checkout.session_name(root)
    if args.new_session:
        name = f"{name}-{secrets.token_hex(2)}"  # named here, so a re-attach finds it
    desk = laptop_git.Desk(str(root), _say)
    mount = MountChannel(
        ssh_argv(signed, short_id, MountChannel.ssh_options(root)), root, desk, _say
    )
    try:
        _say(f"mounting {root} in {short_id}…")
        mount.open()

        def attach(reconnecting: bool) -> list[str]:
            command = checkout.remote_command(
                root, name, claude_args, args.take_over and not reconnecting
            )
            return [*ssh_argv(signed, short_id, ["-tt"]), command]

        def before_reattach() -> None:
            """The mount again if it died with the connection (the attach command then
            restarts Claude Code, which worked in the dead one)."""
            if not mount.alive():
                mount.close()
                mount.open()

        return heal.run_session(attach, before_reattach=before_reattach)
    finally:
        mount.close()
        desk.close()


def _running(api: Api, ref: str | None) -> dict[str, object]:
    """The host, started first (with progress) when it is stopped."""
    host = hosts.find(api, ref)
    if host["status"] == "stopped":
        _say(f"starting {host['short_id']}…")
        hosts.act(api, host, "start")
    elif host["status"] not in ("running", "starting"):
        raise ApiError(
            f"{host['short_id']} is {host['status']}",
            code=str(host.get("error_code") or ""),
            fix=f"cloud-claude status {host['short_id']}; cloud-claude explain CODE",
            status=exit_codes.FAILED,
        )
    return host


def _say(line: str) -> None:
    """One line for the user, also while the terminal is raw (hence the carriage return)."""
    sys.stderr.write(f"\rcloud-claude: {line}\r\n")
    sys.stderr.flush()
