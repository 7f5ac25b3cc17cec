"""The fake Messages API (``fake_anthropic.py``) run in the simulated internet, for tests."""

from __future__ import annotations

import contextlib
import json
import select
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs

from tests.integration.netsim import SimInternet

#: An address of the simulated internet its certificate names (TLS is checked for real).
ADDRESS = "198.18.1.3"
PORT = 8443
URL = f"https://{ADDRESS}:{PORT}"
START_TIMEOUT_S = 20.0


@attrs.define
class FakeApi:
    log_path: Path
    keys_path: Path
    #: The certificate to trust for it (``credentials.upstream_ca_file``).
    ca_file: Path
    url: str = URL

    def requests(self) -> list[dict[str, Any]]:
        """Every request it answered, oldest first."""
        text = self.log_path.read_text() if self.log_path.exists() else ""
        return [json.loads(line) for line in text.splitlines() if line.strip()]


@contextlib.contextmanager
def running_fake_api(sim: SimInternet, workdir: Path, keys: list[str]) -> Iterator[FakeApi]:
    """The fake API inside the simulated internet, accepting ``keys``, until the block ends."""
    config = workdir / "fake-api.json"
    log = workdir / "fake-api.jsonl"
    config.write_text(
        json.dumps(
            {
                "listen": ADDRESS,
                "port": PORT,
                "cert": str(sim.workdir / "sim-cert.pem"),
                "key": str(sim.workdir / "sim-key.pem"),
                "keys": keys,
                "log": str(log),
            }
        )
    )
    script = Path(__file__).with_name("fake_anthropic.py")
    errors = (workdir / "fake-api.err").open("wb")
    process = subprocess.Popen(
        ["ip", "netns", "exec", sim.names.netns, sys.executable, str(script), str(config)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=errors,
        start_new_session=True,
    )
    try:
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], START_TIMEOUT_S)
        line = process.stdout.readline() if ready else b""
        if line.strip() != b"ready":
            raise RuntimeError(f"the fake API did not start: {line!r}")
        yield FakeApi(log, config, sim.workdir / "sim-cert.pem")
    finally:
        process.kill()
        process.wait(timeout=5)
        errors.close()
