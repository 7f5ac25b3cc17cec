"""Rolling hosts forward to the current box image (``cloudclaudectl hosts roll``).

A host is *outdated* when its ``image_ref`` is not the current image (``box_image``, recorded
from what the agent reports after ``ensure_image``). A roll picks outdated hosts (all, one
user's, or named ones) and for each:

- a stopped (or failed) host is rebuilt now: a ``rebuild`` task, which keeps the home volume;
- a running host is marked ``roll_pending``, and its next ``stop`` task rebuilds it; with
  ``now`` it is rebuilt at once instead (the rebuild starts it again, it is meant to run),
  after a notice to its tmux clients when a notifier is given;
- a host in the middle of something else (starting, stopping, busy with a task) is left for the
  next run.

Rebuilds run ``parallel`` at a time and each is followed to its end. Running the roll again
picks up what is still outdated, so an interrupted roll is resumed by re-running it. Each host
gets one ``host.roll.*`` audit event (``rebuild``, ``deferred``, ``skipped``) and the roll one
``host.roll.summary``.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Literal

import attrs
import trio

from cloudclaude.agent_client.handle import Agent
from cloudclaude.db.pool import Database
from cloudclaude.db.repos import box_image
from cloudclaude.domain import audit
from cloudclaude.errors import CloudClaudeError
from cloudclaude.model.audit import Actor
from cloudclaude.model.hosts import Host, HostStatus
from cloudclaude.model.images import ImageBuild

if TYPE_CHECKING:  # domain.hosts builds ``Rolls``: no import cycle at run time
    from cloudclaude.domain.hosts import Hosts

Step = Literal["rebuild", "defer", "pending", "skip"]
#: Statuses a host is rebuilt from without touching a running box.
_AT_REST: frozenset[HostStatus] = frozenset({"stopped", "failed"})
#: Statuses of a box users may be working in.
_LIVE: frozenset[HostStatus] = frozenset({"running", "degraded"})
#: How often a roll looks at the rebuild tasks it follows.
POLL_S = 0.5

Progress = Callable[[dict[str, Any]], Awaitable[None]]
#: Shows a message to the users attached to a host's tmux session (best effort).
Notifier = Callable[[Host, str], Awaitable[None]]
NOTICE = "cloudclaude: this box is being rebuilt on a new image now (your home is kept)"


@attrs.frozen(kw_only=True)
class Planned:
    host: Host
    step: Step
    why: str = ""


def plan(
    hosts: Iterable[Host],
    *,
    now: bool = False,
    user_id: uuid.UUID | None = None,
    refs: Sequence[str] = (),
) -> list[Planned]:
    """What a roll does to each outdated host among ``hosts`` (selection only, no I/O).

    ``user_id`` keeps one user's hosts, ``refs`` (ids or short ids) named ones; named hosts
    that are not outdated are reported as skipped, so a typo or an up-to-date host is visible.
    """
    wanted = set(refs)
    out: list[Planned] = []
    for host in hosts:
        if host.status == "deleted":
            continue
        if user_id is not None and host.user_id != user_id:
            continue
        named = str(host.id) in wanted or host.short_id in wanted
        if wanted and not named:
            continue
        if not host.image_outdated:
            if named:
                out.append(Planned(host=host, step="skip", why="image up to date"))
            continue
        out.append(_step(host, now=now))
    return out


def _step(host: Host, *, now: bool) -> Planned:
    if host.status in _AT_REST:
        return Planned(host=host, step="rebuild", why=f"{host.status}")
    if host.status in _LIVE:
        if now:
            return Planned(host=host, step="rebuild", why=f"{host.status}, --now")
        if host.roll_pending:
            return Planned(host=host, step="pending", why="rebuilt at its next stop")
        return Planned(host=host, step="defer", why="rebuilt at its next stop")
    return Planned(host=host, step="skip", why=f"{host.status}; roll again later")


@attrs.frozen(kw_only=True)
class RollResult:
    image: str
    rebuilt: list[str]
    failed: list[str]
    deferred: list[str]
    skipped: list[str]

    def as_dict(self) -> dict[str, Any]:
        return attrs.asdict(self)


class Rolls:
    def __init__(self, db: Database, hosts: Hosts, agent: Agent) -> None:
        self._db = db
        self._hosts = hosts
        self._agent = agent

    async def current_image(self) -> str | None:
        return await box_image.current(self._db)

    async def last_build(self) -> ImageBuild | None:
        """The box image's last build (``cloudclaude image build``), running or ended."""
        return await box_image.last_build(self._db)

    async def refresh_image(self) -> str:
        """Ask the agent for the image of the current inputs (it builds one when they
        changed) and record it as current: hosts on another one become outdated."""
        ready = await self._agent.ensure_image()
        await box_image.record(self._db, ready.image)
        return ready.image

    async def roll(
        self,
        actor: Actor,
        *,
        user_id: uuid.UUID | None = None,
        refs: Sequence[str] = (),
        now: bool = False,
        parallel: int = 1,
        progress: Progress | None = None,
        notifier: Notifier | None = None,
    ) -> RollResult:
        if parallel < 1:
            raise CloudClaudeError("validation_failed", "--parallel must be at least 1")
        image = await self.refresh_image()
        hosts = await self._hosts.every_host()
        known = {str(h.id) for h in hosts} | {h.short_id for h in hosts}
        for ref in refs:
            if ref not in known:
                raise CloudClaudeError("host_not_found", f"no host {ref}")
        steps = plan(hosts, now=now, user_id=user_id, refs=refs)
        report = progress or _quiet
        result = RollResult(image=image, rebuilt=[], failed=[], deferred=[], skipped=[])
        await report({"event": "plan", "image": image, "hosts": len(steps)})
        limiter = trio.CapacityLimiter(parallel)
        async with trio.open_nursery() as nursery:
            for item in steps:
                if item.step == "rebuild":
                    nursery.start_soon(
                        self._rebuild, actor, item, limiter, report, notifier, result
                    )
                elif item.step in ("defer", "pending"):
                    await self._defer(actor, item, image)
                    result.deferred.append(item.host.short_id)
                    await report(_line(item.host, "deferred", item.why))
                else:
                    await audit.record_for_host(
                        self._db, "host.roll.skipped", actor, item.host, why=item.why, image=image
                    )
                    result.skipped.append(item.host.short_id)
                    await report(_line(item.host, "skipped", item.why))
        await audit.record(self._db, "host.roll.summary", actor, meta=result.as_dict())
        return result

    async def _defer(self, actor: Actor, item: Planned, image: str) -> None:
        async with self._db.transaction() as conn:
            await box_image.set_roll_pending(conn, item.host.id, True)
            await audit.record_for_host(
                conn, "host.roll.deferred", actor, item.host, why=item.why, image=image
            )

    async def _rebuild(
        self,
        actor: Actor,
        item: Planned,
        limiter: trio.CapacityLimiter,
        report: Progress,
        notifier: Notifier | None,
        result: RollResult,
    ) -> None:
        host = item.host
        async with limiter:
            if notifier is not None and host.status in _LIVE:
                try:
                    await notifier(host, NOTICE)
                except Exception as exc:  # noqa: BLE001 - a notice is best effort
                    await report(_line(host, "notice failed", str(exc)))
            try:
                task = await self._hosts.act(
                    actor, host.id, "rebuild", audit_type="host.roll.rebuild", reason=item.why
                )
            except CloudClaudeError as exc:
                if exc.error.slug not in ("host_busy", "host_not_found"):
                    raise
                why = exc.detail or exc.error.slug
                await audit.record_for_host(self._db, "host.roll.skipped", actor, host, why=why)
                result.skipped.append(host.short_id)
                await report(_line(host, "skipped", why))
                return
            await report(_line(host, "rebuilding", f"task {task.id}"))
            status = await self._follow(host, str(task.id), report)
        (result.rebuilt if status == "succeeded" else result.failed).append(host.short_id)
        await report(_line(host, status, f"task {task.id}"))

    async def _follow(self, host: Host, task_id: str, report: Progress) -> str:
        seen: tuple[int, str] | None = None
        while True:
            task = await self._hosts.tasks.get(task_id)
            if (task.progress_percent, task.progress_message) != seen:
                seen = (task.progress_percent, task.progress_message)
                await report(_line(host, f"{task.progress_percent}%", task.progress_message or ""))
            if not task.active:
                return task.status
            await trio.sleep(POLL_S)


def _line(host: Host, what: str, detail: str) -> dict[str, Any]:
    return {"event": "host", "host": host.short_id, "what": what, "detail": detail}


async def _quiet(_event: dict[str, Any]) -> None:
    return None
