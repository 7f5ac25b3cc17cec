"""The local CA's certificate and revocation list, for anyone (both are public by nature).

``/tls/ca.pem`` lets a user trust the local CA in a browser; ``/tls/ca.crl`` is the address
the leaf names as its CRL distribution point. Both are 404 when the daemon serves an
operator's certificate or plain HTTP.
"""

from __future__ import annotations

from pathlib import Path

import trio
from quart import Blueprint, Response

from cloudclaude.errors import CloudClaudeError
from web.api.common import services

blueprint = Blueprint("api_tls", __name__)


async def _local_file(pick: str, mimetype: str) -> Response:
    tls = services().tls
    if tls is None or tls.local is None:
        raise CloudClaudeError("not_found", "this server has no local CA")
    path: Path = getattr(tls.local, pick)
    data = await trio.to_thread.run_sync(path.read_bytes)
    response = Response(data, mimetype=mimetype)
    response.headers["Cache-Control"] = "max-age=3600"
    return response


@blueprint.get("/tls/ca.pem")
async def ca_certificate() -> Response:
    return await _local_file("ca_cert", "application/x-pem-file")


@blueprint.get("/tls/ca.crl")
async def ca_revocations() -> Response:
    return await _local_file("crl", "application/pkix-crl")
