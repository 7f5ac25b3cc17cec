"""The healing session's pure parts with an injected clock (backoff, the typed-ahead buffer,
the status line's timing, the tmux title), and ``run_session`` itself on a real pty with a
stand-in for ssh that "loses the connection" (exits 255) on cue."""

from __future__ import annotations

import os
import select
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from cloudclaude.client import exit_codes, outage, profile
from cloudclaude.client.heal import KEEPALIVE, with_keepalives
from cloudclaude.client.outage import (
    LIMIT_ENV,
    SHOW_AFTER_S,
    TYPED_LIMIT,
    Outage,
    TypedAhead,
    backoff,
    give_up_text,
    reconnect_limit,
)
from cloudclaude.client.pty_relay import TitleWatch
from cloudclaude.client.ssh_commands import ssh_argv

REPO = Path(__file__).resolve().parents[2]
#: Only a bound for a broken run; nothing asserts on how long things take.
DEADLINE_S = 30.0


def test_the_backoff_is_1_2_4_8_then_every_30_s() -> None:
    assert [backoff(n) for n in range(7)] == [1, 2, 4, 8, 30, 30, 30]


def test_tries_follow_the_backoff_from_each_failure() -> None:
    drop = Outage(since=100.0, limit_s=600.0)
    tries = []
    now = 100.0
    for _ in range(6):
        assert not drop.due(drop.next_try - 0.01)
        now = drop.next_try
        assert drop.due(now)
        tries.append(now - 100.0)
        drop.start()
        assert not drop.due(now)  # not twice at once
        assert drop.failed(now, "refused")
    assert tries == [1, 3, 7, 15, 45, 75]


def test_enter_retries_at_once() -> None:
    drop = Outage(since=0.0, limit_s=600.0)
    drop.start()
    drop.failed(1.0)
    assert not drop.due(1.5)
    drop.retry_now(1.5)
    assert drop.due(1.5)


def test_it_gives_up_at_the_limit_with_a_last_try_there() -> None:
    drop = Outage(since=0.0, limit_s=10.0)
    for at in (1.0, 3.0, 7.0):
        assert drop.next_try == at
        drop.start()
        assert drop.failed(at, f"failed at {at}")
    assert drop.next_try == 10.0  # not 15: the last try is at the limit
    drop.start()
    assert not drop.failed(10.0, "")
    assert drop.last_error == "failed at 7.0"  # an empty reason keeps the last one


def test_the_limit_comes_from_the_environment() -> None:
    assert reconnect_limit({}) == 600.0
    assert reconnect_limit({LIMIT_ENV: "2.5"}) == 2.5
    assert reconnect_limit({LIMIT_ENV: "soon"}) == 600.0
    assert reconnect_limit({LIMIT_ENV: "-1"}) == 600.0


def test_the_status_line_waits_until_a_drop_is_noticeable() -> None:
    drop = Outage(since=50.0, limit_s=600.0)
    typed = TypedAhead()
    drop.start()
    drop.failed(51.0)  # the first try failed at once: the next at 53 s
    assert drop.status(50.0 + SHOW_AFTER_S - 0.01, typed) is None
    shown = drop.status(50.0 + SHOW_AFTER_S, typed)
    assert shown is not None
    text, state = shown
    assert text == "cloud-claude: connection lost; retry in 2 s (Enter: now, Ctrl-C: quit)"
    assert state == "cloud-claude: connection lost; waiting to retry"  # no counters
    drop.start()
    attempting = drop.status(52.0, typed)
    assert attempting is not None and "reconnecting" in attempting[0]


def test_the_loop_wakes_for_the_first_showing_the_try_and_each_second() -> None:
    drop = Outage(since=0.0, limit_s=600.0)
    assert drop.wake_in(0.25) == pytest.approx(0.75)  # the first try at 1 s
    drop.start()
    assert drop.wake_in(1.1) == pytest.approx(0.4)  # trying; the status line at 1.5 s
    drop.failed(1.2)  # next at 3.2 s
    assert drop.wake_in(1.25) == pytest.approx(0.25)  # the status line at 1.5 s
    assert drop.wake_in(1.6) == pytest.approx(0.6)  # "retry in 2 s" becomes "1 s" at 2.2 s
    assert drop.wake_in(4.0) == 0.0  # overdue


def test_typed_keys_are_kept_up_to_64_kib_then_refused_and_said() -> None:
    typed = TypedAhead()
    assert typed.limit == TYPED_LIMIT == 64 * 1024
    assert typed.add(b"x" * (TYPED_LIMIT - 10))
    assert typed.add(b"echo hi\r")
    assert not typed.add(b"too long")  # whole, not a part of it
    assert len(typed) == TYPED_LIMIT - 2 and typed.refused == 8
    drop = Outage(since=0.0, limit_s=600.0)
    shown = drop.status(0.1, typed)  # said at once, however short the drop
    assert shown is not None
    assert shown[0].endswith("; keys refused: buffer full (64 KiB)")
    assert len(shown[0]) <= 80
    assert typed.take().endswith(b"echo hi\r")
    assert len(typed) == 0 and typed.refused == 0
    assert typed.add(b"a")


def test_the_status_line_counts_typed_keys() -> None:
    typed = TypedAhead()
    typed.add(b"ls\r")
    drop = Outage(since=0.0, limit_s=600.0)
    drop.start()
    drop.failed(1.0)
    shown = drop.status(2.0, typed)
    assert shown == (
        "cloud-claude: connection lost; retry in 1 s; 3 B typed (Enter: now, Ctrl-C: quit)",
        "cloud-claude: connection lost; waiting to retry",
    )
    typed.add(b"x" * 2000)
    drop.start()
    shown = drop.status(2.0, typed)
    assert shown is not None
    assert (
        shown[0] == "cloud-claude: connection lost; reconnecting...; 2.0 KiB typed (Ctrl-C: quit)"
    )


def test_giving_up_prints_the_registry_code() -> None:
    drop = Outage(since=0.0, limit_s=5.0)
    drop.failed(5.0, "127.0.0.1 port 2222: Connection refused")
    text = give_up_text(drop, 5.0, unsent=4)
    assert text.startswith("cloud-claude: NET_018 The connection to the box was lost")
    assert "gave up after 5 s; last: 127.0.0.1 port 2222: Connection refused" in text
    assert "  fix: " in text and "4 typed bytes were not sent" in text
    assert exit_codes.CONNECTION_LOST == 7 and 7 in exit_codes.DESCRIPTIONS


def test_keepalives_go_first_where_ssh_takes_the_first_value() -> None:
    signed = profile.Profile(server="https://s", tls_pin="p", username="u", ssh_host="h")
    argv = with_keepalives(ssh_argv(signed, "abc", ["-tt"]))
    assert argv[: 1 + len(KEEPALIVE)] == ["ssh", *KEEPALIVE]
    assert argv[1 + len(KEEPALIVE)] == "-tt"  # the caller's own options before the defaults
    options = [argv[i + 1] for i, word in enumerate(argv) if word == "-o"]
    intervals = [o for o in options if o.startswith("ServerAliveInterval=")]
    assert intervals == ["ServerAliveInterval=5", "ServerAliveInterval=15"]
    assert with_keepalives(["python3", "x"]) == ["python3", "x"]  # not ssh: left alone


def test_the_tmux_session_comes_from_the_title_even_split() -> None:
    titles = TitleWatch()
    titles.feed(b"screen\x1b]0;claude-2:0:cla")
    assert titles.session == ""
    titles.feed(b'ude - "box-abc"\x07more')
    assert titles.session == "claude-2"
    titles.feed(b"\x1b]2;work:1:shell - x\x1b\\")  # OSC 2, ended by ST
    assert titles.session == "work"
    titles.feed(b"\x1b]0;$(rm -rf ~):0:x\x07")  # not a name this CLI would pass on
    assert titles.session == "work"
    titles.feed(b"\x1b]52;c;" + b"A" * 10000)  # an endless sequence stays bounded
    assert len(titles._tail) <= 600


FAKE_SSH = textwrap.dedent(
    """\
    import os, sys
    reconnecting = sys.argv[1] == "True"
    def line():
        got = b""
        while not got.endswith((b"\\r", b"\\n")):
            got += os.read(0, 1)
        return got.decode().strip()
    if not reconnecting:
        os.write(1, b"first attach\\r\\n")
        while line() != "drop":
            pass
        os.write(2, b"Connection reset by peer\\r\\n")  # held back: no news on a drop
        sys.exit(255)
    if os.path.exists(os.environ["FAKE_DOWN"]):  # the server is still unreachable
        sys.exit(255)
    os.write(1, b"attached again\\r\\n")
    os.write(1, ("got:" + line() + "\\r\\n").encode())
    sys.exit(3)
    """
)
RUN = (
    "import sys; from cloudclaude.client import heal; "
    "sys.exit(heal.run_session(lambda r: [sys.executable, sys.argv[1], str(r)]))"
)


class Child:
    """``run_session`` in a process of its own, on a pty (or on pipes)."""

    def __init__(self, tmp_path: Path, *, tty: bool, env: dict[str, str]) -> None:
        fake = tmp_path / "fake_ssh.py"
        fake.write_text(FAKE_SSH)
        #: While this file exists, re-attaching fails as if the network were still down.
        self.down = tmp_path / "down"
        self.down.touch()
        full = {**os.environ, "PYTHONPATH": str(REPO), "TERM": "xterm", "FAKE_DOWN": str(self.down)}
        full.update(env)
        if tty:
            self.writer, slave = os.openpty()
            self.readers = [self.writer]
            stdin = stdout = slave
        else:
            stdin, self.writer = os.pipe()
            out_read, stdout = os.pipe()
            self.readers = [out_read]
        argv = [sys.executable, "-c", RUN, str(fake)]
        self.process = subprocess.Popen(
            argv, env=full, stdin=stdin, stdout=stdout, stderr=stdout, start_new_session=True
        )
        for fd in {stdin, stdout}:
            os.close(fd)
        self.output = b""

    def expect(self, wanted: bytes) -> None:
        """Read until ``wanted`` appears (or the child ends, or the deadline)."""
        while wanted not in self.output:
            ready, _, _ = select.select(self.readers, [], [], DEADLINE_S)
            assert ready, f"no {wanted!r} in {self.output!r}"
            try:
                chunk = os.read(ready[0], 65536)
            except OSError:
                chunk = b""
            assert chunk, f"ended without {wanted!r}: {self.output!r}"
            self.output += chunk

    def type(self, data: bytes) -> None:
        os.write(self.writer, data)

    def status(self) -> int:
        try:
            return self.process.wait(DEADLINE_S)
        finally:
            self.process.kill()
            for fd in {self.writer, *self.readers}:
                os.close(fd)


@pytest.mark.parametrize("tty", [True, False], ids=["tty", "pipes"])
def test_a_lost_connection_is_reattached_with_the_keys_typed_meanwhile(
    tmp_path: Path, tty: bool
) -> None:
    child = Child(tmp_path, tty=tty, env={LIMIT_ENV: "60"})
    try:
        child.expect(b"first attach")
        child.type(b"drop\r")
        child.expect(b"connection lost")  # the status line (or a plain line on pipes)
        child.down.unlink()
        child.type(b"typed while down\r")  # kept, and Enter tries at once
        child.expect(b"got:typed while down")
    finally:
        status = child.status()
    assert status == 3  # the remote's own end passes through
    assert b"Connection reset" not in child.output
    assert (b"\x1b7" in child.output) is tty  # drawn on the last row only on a terminal
    assert (b"cloud-claude: reconnected\n" in child.output) is not tty  # a log says it


def test_it_gives_up_after_the_limit_with_net_018(tmp_path: Path) -> None:
    child = Child(tmp_path, tty=True, env={LIMIT_ENV: "0.5"})
    try:
        child.expect(b"first attach")
        child.type(b"drop\r")
        child.expect(b"NET_018")
    finally:
        status = child.status()
    assert status == exit_codes.CONNECTION_LOST
    assert b"fix: " in child.output and b"connection_lost" not in child.output
    assert outage.LIMIT_S == 600.0
