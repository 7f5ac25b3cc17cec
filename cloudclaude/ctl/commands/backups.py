"""``cloudclaudectl backup``: make a backup now and list the recent ones (restore is offline:
``cloudclaude restore``, with the daemon stopped)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs

from cloudclaude.ctl.registry import Request, arg, command, group, handles, text
from cloudclaude.model.views import backup_view

if TYPE_CHECKING:
    from cloudclaude.ctl.server import Context

group("backup", "backups of the database, the server's keys and every home (restic)")


def _size(value: Any) -> str:
    size = float(value or 0)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return "-"


def _line(b: dict[str, Any]) -> str:
    why = f"  {b['error_code']}: {b['error_message']}" if b["error_code"] else ""
    return (
        f"{b['id'][:8]}  {b['status']:<9} {b['trigger']:<8} {text(b['started_at']):<26}"
        f" {_size(b['size_bytes']):>10}  homes {b['homes']} (skipped {b['skipped']}){why}"
    )


def print_backup(data: dict[str, Any]) -> None:
    print(f"backup {data['id']} {data['status']}: {_size(data['size_bytes'])},"
          f" {data['homes']} homes, {data['skipped']} skipped")  # fmt: skip


def print_backups(data: dict[str, Any]) -> None:
    print(f"{'ID':<8}  {'STATUS':<9} {'TRIGGER':<8} {'STARTED':<26} {'SIZE':>10}  HOMES")
    for item in data["items"]:
        print(_line(item))
    if not data["items"]:
        print("(no backups yet: cloudclaudectl backup create)")


def print_step(event: dict[str, Any]) -> None:
    print(event["step"], flush=True)


@command(
    "backup.create",
    "back up the database, the server's keys and every home now (a running box is frozen"
    " while its home is read)",
    printer=print_backup,
    events=print_step,
)
@attrs.frozen(kw_only=True)
class BackupCreate(Request):
    pass


@handles(BackupCreate)
async def create_backup(_request: BackupCreate, ctx: Context) -> Any:
    async def say(step: str) -> None:
        await ctx.event({"step": step})

    backup = await ctx.services.backups.create(ctx.actor, say=say)
    return backup_view(backup)


@command(
    "backup.list",
    "recent backups, failures included",
    arg("--limit", type=int, help="how many (default 20)"),
    printer=print_backups,
)
@attrs.frozen(kw_only=True)
class BackupList(Request):
    limit: int | None = None


@handles(BackupList)
async def list_backups(request: BackupList, ctx: Context) -> Any:
    limit = max(1, min(request.limit or 20, 500))
    return {"items": [backup_view(b) for b in await ctx.services.backups.recent(limit)]}
