"""A private dockerd for the chaos campaign, the only dockerd it may kill.

dockerd on these machines is shared and runs without live-restore: killing it kills every box
on the machine. The campaign's own has its own ``--data-root``, ``--exec-root``, ``-H`` socket
and ``--pidfile``, no iptables rules (boxes run ``--network=none``), and its own managed
containerd under its exec root. It gets a bridge of its own rather than ``--bridge=none``:
with ``none`` dockerd deletes the host's ``docker0`` at start, which breaks the shared dockerd's
builds (their RUN steps attach to ``docker0``). The box image is copied in from the shared dockerd
(``docker save`` | ``docker load``, every tag of it), so the agent finds its content tag and
builds nothing. ``close`` stops it and removes its directories (unmounting what is left).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import attrs

from agent.ops.mounts import deepest_first, read_mounts

READY_S = 60.0
#: The box image and the base it was built from (its id is part of the box image's tag).
IMAGE_REPOS = ("cloudclaude-box", "cloudclaude-base")
#: The private bridge's address: in the test range, and no box is ever attached to it.
BRIDGE_ADDRESS = "198.19.254.1/30"


@attrs.define
class PrivateDockerd:
    #: Short (a unix socket path has at most 107 bytes; containerd's sit below the exec root).
    root: Path = attrs.field(factory=lambda: Path(tempfile.mkdtemp(prefix="ccd-", dir="/tmp")))
    proc: subprocess.Popen[bytes] | None = None

    @property
    def bridge(self) -> str:
        """An interface name (at most 15 bytes) unique to this dockerd."""
        return "ccd-" + self.root.name.removeprefix("ccd-")[:11]

    @property
    def socket(self) -> Path:
        return self.root / "d.sock"

    @property
    def host(self) -> str:
        return f"unix://{self.socket}"

    def argv(self) -> list[str]:
        return [
            "dockerd",
            f"--data-root={self.root / 'data'}",
            f"--exec-root={self.root / 'x'}",
            f"-H={self.host}",
            f"--pidfile={self.root / 'd.pid'}",
            f"--bridge={self.bridge}",
            "--iptables=false",
            "--ip-masq=false",
        ]

    def start(self) -> None:
        self._add_bridge()
        with (self.root / "dockerd.log").open("ab") as log:
            self.proc = subprocess.Popen(
                self.argv(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + READY_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                tail = (self.root / "dockerd.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"private dockerd exited with {self.proc.returncode}:\n{tail}")
            if self.docker("version").returncode == 0:
                return
            time.sleep(0.2)
        raise RuntimeError(f"private dockerd did not answer within {READY_S:.0f} s")

    def _add_bridge(self) -> None:
        """A bridge with an address in the test range (dockerd takes the bridge's subnet)."""
        shown = subprocess.run(["ip", "link", "show", self.bridge], capture_output=True)
        if shown.returncode == 0:
            return
        for argv in (
            ["ip", "link", "add", self.bridge, "type", "bridge"],
            ["ip", "addr", "add", BRIDGE_ADDRESS, "dev", self.bridge],
        ):
            subprocess.run(argv, capture_output=True, check=True)

    def kill(self) -> None:
        """kill -9 dockerd and its managed containerd (its session), as a crashed docker
        service loses both; the shims, and so the boxes, are left for the restarted one."""
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self._kill_containerd()
        # Its pid may now be a zombie nobody reaps here (no init in this container), which a
        # restarted dockerd takes for a live containerd and then waits for forever.
        (self.root / "x" / "containerd" / "containerd.pid").unlink(missing_ok=True)

    def _kill_containerd(self) -> None:
        needle = f"{self.root}/x/containerd/containerd.toml"
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                with contextlib.suppress(OSError):
                    if needle in (entry / "cmdline").read_bytes().decode(errors="replace"):
                        os.kill(int(entry.name), signal.SIGKILL)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def docker(self, *args: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            ["docker", "-H", self.host, *args], capture_output=True, check=False, timeout=600
        )

    def copy_images(self) -> None:
        """Every tag of the box and base images of the shared dockerd, loaded into this one."""
        listed = [
            name
            for repo in IMAGE_REPOS
            for name in subprocess.run(
                ["docker", "images", "--format", "{{.Repository}}:{{.Tag}}", repo],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.split()
        ]
        if not listed:
            raise RuntimeError("no cloudclaude-box image in the shared dockerd; build it first")
        save = subprocess.Popen(["docker", "save", *listed], stdout=subprocess.PIPE)
        load = subprocess.run(
            ["docker", "-H", self.host, "load", "-q"],
            stdin=save.stdout,
            capture_output=True,
            check=False,
        )
        assert save.stdout is not None
        save.stdout.close()
        if save.wait() != 0 or load.returncode != 0:
            raise RuntimeError(f"copying the box image failed: {load.stderr.decode()[-500:]}")

    def close(self) -> None:
        running = self.docker("ps", "-aq").stdout.split() if self.alive() else []
        for container in running:
            self.docker("rm", "-f", container.decode())
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()
        # Its containerd (and shims) may outlive a killed dockerd: they run under the exec root.
        exec_root = str(self.root / "x")
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                with contextlib.suppress(OSError):
                    cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
                    if exec_root in cmdline or str(self.root / "data") in cmdline:
                        os.kill(int(entry.name), signal.SIGKILL)
        time.sleep(0.5)
        prefix = f"{self.root}/"
        for mount in deepest_first(m for m in read_mounts() if m.point.startswith(prefix)):
            subprocess.run(["umount", "-l", mount.point], capture_output=True, check=False)
        shutil.rmtree(self.root, ignore_errors=True)
        subprocess.run(["ip", "link", "del", self.bridge], capture_output=True, check=False)
