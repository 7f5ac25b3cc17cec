"""SQL for ``egress_ips`` (exits).

``config`` holds ``{"options": {...}, "masked": {...}}``: the kind's non-secret options and the
mask of each stored secret; the secrets themselves are one sealed blob in ``credentials_enc``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import attrs

from cloudclaude.db.pool import Record
from cloudclaude.db.repos import Executor
from cloudclaude.domain.exit_schema import ExitConfig
from cloudclaude.model.exits import Exit, ExitStatus

_COLUMNS = (
    "id, label, kind, server, port, expected_ip, dns_server,"
    " expected_resolvers AS configured_resolvers, verify_url, verify_dns_name, config, status,"
    " last_verified_at, detected_ip, created_at, updated_at,"
    " (SELECT count(*) FROM host_egress_bindings b JOIN hosts h ON h.id = b.host_id"
    "  WHERE b.egress_ip_id = egress_ips.id AND h.status <> 'deleted') AS bound_hosts"
)


@attrs.frozen(kw_only=True)
class ExitPage:
    items: list[Exit]
    total: int


def _exit(row: Record) -> Exit:
    data = dict(row)
    config = data.pop("config") or {}
    data["bound_hosts"] = int(data["bound_hosts"])
    return Exit(**data, options=config.get("options", {}), masked=config.get("masked", {}))


def _values(cfg: ExitConfig, masked: dict[str, str]) -> list[Any]:
    return [
        cfg.label,
        cfg.kind,
        cfg.server,
        cfg.port,
        cfg.expected_ip,
        cfg.dns_server,
        list(cfg.expected_resolvers) if cfg.expected_resolvers is not None else None,
        cfg.verify_url,
        cfg.verify_dns_name,
        {"options": cfg.options, "masked": masked},
    ]


async def insert(
    db: Executor,
    cfg: ExitConfig,
    masked: dict[str, str],
    credentials_enc: bytes | None,
    exit_id: uuid.UUID | None = None,
) -> Exit:
    """A new exit; ``exit_id`` is chosen by the caller when the sealed secrets are bound to it."""
    row = await db.fetchrow(
        "INSERT INTO egress_ips (id, label, kind, server, port, expected_ip, dns_server,"
        " expected_resolvers, verify_url, verify_dns_name, config, credentials_enc)"
        " VALUES (COALESCE($12, gen_random_uuid()), $1, $2, $3, $4, $5::inet, $6::inet,"
        f" $7::inet[], $8, $9, $10, $11) RETURNING {_COLUMNS}",
        *_values(cfg, masked),
        credentials_enc,
        exit_id,
    )
    assert row is not None
    return _exit(row)


async def replace(
    db: Executor,
    exit_id: uuid.UUID,
    cfg: ExitConfig,
    masked: dict[str, str],
    credentials_enc: bytes | None,
) -> Exit | None:
    """Overwrite every setting; a changed exit is ``unverified`` until checked again."""
    row = await db.fetchrow(
        "UPDATE egress_ips SET label = $2, kind = $3, server = $4, port = $5,"
        " expected_ip = $6::inet, dns_server = $7::inet, expected_resolvers = $8::inet[],"
        " verify_url = $9, verify_dns_name = $10, config = $11, credentials_enc = $12,"
        " status = 'unverified', detected_ip = NULL, updated_at = now()"
        f" WHERE id = $1 RETURNING {_COLUMNS}",
        exit_id,
        *_values(cfg, masked),
        credentials_enc,
    )
    return _exit(row) if row else None


async def get(db: Executor, exit_id: uuid.UUID, *, for_update: bool = False) -> Exit | None:
    lock = " FOR UPDATE" if for_update else ""
    row = await db.fetchrow(f"SELECT {_COLUMNS} FROM egress_ips WHERE id = $1{lock}", exit_id)
    return _exit(row) if row else None


async def get_by_label(db: Executor, label: str) -> Exit | None:
    row = await db.fetchrow(f"SELECT {_COLUMNS} FROM egress_ips WHERE label = $1", label)
    return _exit(row) if row else None


async def list_page(db: Executor, *, limit: int, offset: int) -> ExitPage:
    total = await db.fetchval("SELECT count(*) FROM egress_ips")
    rows = await db.fetch(
        f"SELECT {_COLUMNS} FROM egress_ips ORDER BY label LIMIT $1 OFFSET $2", limit, offset
    )
    return ExitPage(items=[_exit(r) for r in rows], total=int(total))


async def get_credentials(db: Executor, exit_id: uuid.UUID) -> bytes | None:
    """The sealed secrets (None when the exit has none or does not exist)."""
    value = await db.fetchval("SELECT credentials_enc FROM egress_ips WHERE id = $1", exit_id)
    return bytes(value) if value is not None else None


async def delete(db: Executor, exit_id: uuid.UUID) -> bool:
    return (await db.execute("DELETE FROM egress_ips WHERE id = $1", exit_id)) == "DELETE 1"


async def record_verification(
    db: Executor,
    exit_id: uuid.UUID,
    status: ExitStatus,
    detected_ip: str | None,
    at: dt.datetime,
) -> None:
    """The result of the latest check through this exit (``updated_at`` is left alone)."""
    await db.execute(
        "UPDATE egress_ips SET status = $2, detected_ip = $3::inet, last_verified_at = $4"
        " WHERE id = $1",
        exit_id,
        status,
        detected_ip,
        at,
    )
