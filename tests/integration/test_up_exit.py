"""``cloudclaude up``'s development exit: a ``direct`` exit ``host``, made once, as the default."""

from __future__ import annotations

import attrs
import trio_asyncio

from cloudclaude.app import first_run, up
from cloudclaude.core.settings import Settings
from cloudclaude.db.pool import Database
from cloudclaude.db.repos import exits as exits_repo


async def _exits(settings: Settings) -> list[tuple[str, str, str | None]]:
    async with trio_asyncio.open_loop(), Database.open(settings.database.url) as db:
        page = await exits_repo.list_page(db, limit=10, offset=0)
        types = await db.fetch("SELECT type FROM audit_events WHERE type LIKE 'admin.exit.%'")
    assert [r["type"] for r in types] == ["admin.exit.created"]
    return [(e.label, e.kind, e.dns_server) for e in page.items]


async def test_prepare_makes_the_host_exit_once(settings: Settings) -> None:
    assert await first_run.prepare(settings) is not None  # the first admin's password
    assert await _exits(settings) == [("host", "direct", "1.1.1.1")]
    assert await first_run.prepare(settings) is None
    assert await _exits(settings) == [("host", "direct", "1.1.1.1")]


def test_the_default_exit_is_host_unless_the_operator_chose_one(settings: Settings) -> None:
    env = up.daemon_env(settings, "postgresql:///x", {"CLOUDCLAUDE_WEB__PORT": "9"})
    assert env["CLOUDCLAUDE_EGRESS__DEFAULT_EXIT"] == "host"
    assert env["CLOUDCLAUDE_WEB__PORT"] == "9" and env["CLOUDCLAUDE_AGENT__MODE"] == "socket"
    chosen = attrs.evolve(settings, egress=attrs.evolve(settings.egress, default_exit="paris"))
    assert "CLOUDCLAUDE_EGRESS__DEFAULT_EXIT" not in up.daemon_env(chosen, "postgresql:///x", {})
