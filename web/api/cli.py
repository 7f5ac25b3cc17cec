"""``/v1/cli``: the laptop CLI, served by the server it talks to (issue 17).

``install.sh`` (public) is the pinned one-liner's script; ``cloud-claude.pyz`` (public) is
the CLI as one zipapp, built in memory from ``cloudclaude/client`` (stdlib only, so one file
runs on any Python >= 3.9); ``simple/`` is a package index (PEP 503) with the same files as a
wheel, for ``pipx``; ``ssh`` tells a signed-in CLI where the SSH proxy is and its host key, to
pin.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import io
import shlex
import zipfile
from importlib import resources
from typing import Any

import attrs
from quart import Blueprint, Response

from cloudclaude.sshproxy.hostkey import known_hosts_line
from web.api.common import authenticate, services
from web.api.connect import client_pin, server_url, ssh_target
from web.api.contract import Raw, documented

blueprint = Blueprint("api_cli", __name__, url_prefix="/v1/cli")
MAIN = "import sys\nfrom cloudclaude.client.cli import main\nsys.exit(main())\n"
#: The CLI as a package in the server's own index (``pipx install --index-url …/simple/``).
PROJECT = "cloud-claude"
VERSION = "0.1.0"
WHEEL = f"cloud_claude-{VERSION}-py3-none-any.whl"


@attrs.frozen(kw_only=True)
class SshEndpoint:
    """Where the SSH proxy listens, and its host key (one known_hosts line) to pin."""

    host: str
    port: int
    known_hosts: str
    fingerprint: str


def _client_files() -> list[tuple[str, bytes]]:
    """(path in the archive, content) of the CLI: an empty ``cloudclaude`` and the client."""
    client = resources.files("cloudclaude.client")
    files = [("cloudclaude/__init__.py", b"")]
    for entry in sorted(client.iterdir(), key=lambda e: e.name):
        if entry.name.endswith((".py", ".json")):
            files.append((f"cloudclaude/client/{entry.name}", entry.read_bytes()))
    return files


@functools.cache
def wheel() -> bytes:
    """The CLI as a wheel (pure Python, any platform), built the same way every time."""
    dist = f"cloud_claude-{VERSION}.dist-info"
    files = [
        *_client_files(),
        (
            f"{dist}/METADATA",
            f"Metadata-Version: 2.1\nName: {PROJECT}\nVersion: {VERSION}\n"
            "Summary: Claude Code in your cloudclaude box\nRequires-Python: >=3.9\n".encode(),
        ),
        (
            f"{dist}/WHEEL",
            b"Wheel-Version: 1.0\nGenerator: cloudclaude\nRoot-Is-Purelib: true\n"
            b"Tag: py3-none-any\n",
        ),
        (
            f"{dist}/entry_points.txt",
            b"[console_scripts]\ncloud-claude = cloudclaude.client.cli:main\n",
        ),
    ]
    record = [f"{name},sha256={_digest(data)},{len(data)}" for name, data in files]
    record.append(f"{dist}/RECORD,,")
    files.append((f"{dist}/RECORD", ("\n".join(record) + "\n").encode()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files:
            archive.writestr(zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0)), data)
    return out.getvalue()


def _digest(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


@functools.cache
def zipapp() -> bytes:
    """``cloudclaude/client`` (and an empty ``cloudclaude`` package) as a runnable zip."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("__main__.py", MAIN)
        for name, data in _client_files():
            archive.writestr(name, data)
    return b"#!/usr/bin/env python3\n" + out.getvalue()


@blueprint.get("/install.sh")
@documented(auth="public", answers={200: Raw("text/x-shellscript", "the install script")})
async def install_script() -> Response:
    template = resources.files("web").joinpath("scripts/install-cli.sh").read_text()
    text = template.replace("@SERVER@", shlex.quote(server_url())).replace(
        "@PIN@", shlex.quote(client_pin())
    )
    return Response(text, mimetype="text/x-shellscript")


@blueprint.get("/cloud-claude.pyz")
@documented(auth="public", answers={200: Raw("application/zip", "the CLI as a zipapp")})
async def cli_zipapp() -> Response:
    return Response(zipapp(), mimetype="application/zip")


@blueprint.get("/simple/")
@documented(auth="public", answers={200: Raw("text/html", "the package index (PEP 503)")})
async def simple_index() -> Response:
    body = f'<!DOCTYPE html><html><body><a href="{PROJECT}/">{PROJECT}</a></body></html>'
    return Response(body, mimetype="text/html")


@blueprint.get("/simple/cloud-claude/")
@documented(auth="public", answers={200: Raw("text/html", "the CLI's files (PEP 503)")})
async def simple_project() -> Response:
    link = f"{WHEEL}#sha256={hashlib.sha256(wheel()).hexdigest()}"
    body = (
        '<!DOCTYPE html><html><body><a href="'
        + link
        + '" data-requires-python="&gt;=3.9">'
        + WHEEL
        + "</a></body></html>"
    )
    return Response(body, mimetype="text/html")


@blueprint.get(f"/simple/cloud-claude/{WHEEL}")
@documented(auth="public", answers={200: Raw("application/zip", "the CLI as a wheel")})
async def simple_wheel() -> Response:
    return Response(wheel(), mimetype="application/zip")


@blueprint.get("/ssh")
@documented(auth="user", answers={200: SshEndpoint})
async def ssh_endpoint() -> dict[str, Any]:
    await authenticate()
    svc = services()
    host, port = ssh_target()
    return {
        "host": host,
        "port": port,
        "known_hosts": known_hosts_line(svc.ssh_host_key, host, port),
        "fingerprint": svc.ssh_host_key.get_fingerprint("sha256"),
    }
