"""``GET /healthz`` (public) and ``GET /metrics`` (loopback, or any address with the token).

``/healthz`` tells anyone whether the daemon is ok, degraded or down; what each check found
(versions, latencies, error texts) only a direct loopback peer or a signed-in admin sees.
"""

from __future__ import annotations

import hmac
from typing import Any

from quart import Blueprint, Response, request

from cloudclaude.core import health
from cloudclaude.errors import CloudClaudeError
from web.api.common import authenticate, direct_loopback, services

blueprint = Blueprint("api_health", __name__)


#: The public answer: the overall status only, ``error`` said as ``down``.
_PUBLIC_STATUS = {"ok": "ok", "degraded": "degraded", "error": "down"}


@blueprint.get("/healthz")
async def healthz() -> tuple[dict[str, Any], int]:
    svc = services()
    ok, report = await health.overall(svc.db, svc.agent, svc.metrics)
    code = 200 if ok else 503
    if not await _may_see_details():
        return {"status": _PUBLIC_STATUS[report["status"]]}, code
    report["version"] = svc.status.version
    return report, code


async def _may_see_details() -> bool:
    if direct_loopback():
        return True
    if not request.headers.get("Authorization"):
        return False
    try:
        await authenticate("admin")
    except CloudClaudeError:
        return False
    return True


@blueprint.get("/metrics")
async def metrics() -> Response:
    svc = services()
    token = svc.live.current.metrics.token
    if token:
        given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(given.encode(), token.encode()):
            raise CloudClaudeError("metrics_forbidden", "a valid metrics token is required")
    elif not direct_loopback():
        raise CloudClaudeError("metrics_forbidden")
    await health.check_database(svc.db, svc.metrics)
    return Response(svc.metrics.render(), content_type="text/plain; version=0.0.4")
