"""Users making and deleting their own boxes, within what the admin allows.

With ``users.self_service`` on (the default) a user makes boxes up to their ``max_hosts``, in
one of the sizes of ``users.presets`` (the ``hosts.*`` defaults when none are set), bound to
``egress.default_exit`` or to an exit the admin allowed for them (``user_exits``), and deletes
them (home included). Start, stop and rebuild need nothing new: ``Hosts.act`` with ``owner``.
Every change is audited with the user as the actor, so the admin sees who made what.
"""

from __future__ import annotations

import uuid

import attrs

from cloudclaude.core.settings import LiveSettings, host_presets
from cloudclaude.db.pool import Database
from cloudclaude.db.repos import exits as exits_repo
from cloudclaude.db.repos import user_exits
from cloudclaude.db.repos import users as users_repo
from cloudclaude.domain import audit
from cloudclaude.domain.exits import Exits
from cloudclaude.domain.hosts import Hosts
from cloudclaude.errors import CloudClaudeError, auth, net
from cloudclaude.model.audit import Actor
from cloudclaude.model.exits import Exit
from cloudclaude.model.hosts import Host, HostLimits
from cloudclaude.model.tasks import Task
from cloudclaude.model.users import User

DEFAULT_PRESET = "standard"


@attrs.frozen(kw_only=True)
class Preset:
    name: str
    limits: HostLimits


@attrs.frozen(kw_only=True)
class Options:
    """What a user may choose for a new box."""

    enabled: bool
    presets: list[Preset]
    #: The default exit first (when one is set), then the ones allowed for the user.
    exits: list[Exit]
    #: How many more boxes they may make.
    room: int


class SelfService:
    def __init__(self, db: Database, hosts: Hosts, exits: Exits, live: LiveSettings) -> None:
        self._db = db
        self._hosts = hosts
        self._exits = exits
        self._live = live

    def presets(self) -> list[Preset]:
        settings = self._live.current
        defaults = self._hosts.defaults
        named = host_presets(settings.users.presets)
        if not named:
            return [Preset(name=DEFAULT_PRESET, limits=defaults)]
        return [
            Preset(
                name=name,
                limits=attrs.evolve(defaults, cpus=cpus, memory_mb=memory, disk_gb=disk),
            )
            for name, cpus, memory, disk in named
        ]

    async def allowed_exits(self, user_id: uuid.UUID) -> list[Exit]:
        found: list[Exit] = []
        label = self._live.current.egress.default_exit
        default = await exits_repo.get_by_label(self._db, label) if label else None
        if default is not None:
            found.append(default)
        for exit_id in await user_exits.for_user(self._db, user_id):
            exit_ = await exits_repo.get(self._db, exit_id)
            if exit_ is not None and all(e.id != exit_.id for e in found):
                found.append(exit_)
        return found

    async def options(self, user: User) -> Options:
        page = await self._hosts.list_hosts(limit=1, offset=0, user_id=user.id)
        return Options(
            enabled=self._live.current.users.self_service,
            presets=self.presets(),
            exits=await self.allowed_exits(user.id),
            room=max(0, user.max_hosts - page.total),
        )

    def _check_enabled(self) -> None:
        if not self._live.current.users.self_service:
            raise CloudClaudeError(auth.SELF_SERVICE_OFF)

    async def create(
        self,
        actor: Actor,
        user: User,
        *,
        preset: str | None = None,
        exit_id: uuid.UUID | None = None,
        start: bool = True,
    ) -> tuple[Host, str, Task]:
        """A box of ``preset`` for ``user`` (their ``max_hosts`` holds, as for an admin)."""
        self._check_enabled()
        presets = {p.name: p for p in self.presets()}
        chosen = presets.get(preset or next(iter(presets)))
        if chosen is None:
            raise CloudClaudeError(
                "validation_failed", f"preset must be one of {', '.join(presets)}"
            )
        allowed = await self.allowed_exits(user.id)
        if exit_id is not None and all(e.id != exit_id for e in allowed):
            raise CloudClaudeError(net.EXIT_NOT_ALLOWED, f"exit {exit_id} is not offered to you")
        return await self._hosts.create(
            actor, user_id=user.id, limits=chosen.limits, egress_ip_id=exit_id, start=start
        )

    async def delete(self, actor: Actor, user: User, host_id: uuid.UUID) -> Task:
        """Delete one's own box, its home too (another user's box is a 404)."""
        self._check_enabled()
        return await self._hosts.act(actor, host_id, "delete", owner=user.id, purge=True)

    async def set_allowed_exits(
        self, actor: Actor, user_id: uuid.UUID, refs: list[str]
    ) -> list[Exit]:
        """(admin) The exits ``user_id`` may choose besides the default one."""
        chosen = [await self._exits.resolve(ref) for ref in refs]
        async with self._db.transaction() as conn:
            user = await users_repo.get(conn, user_id, for_update=True)
            if user is None:
                raise CloudClaudeError("not_found", f"no user {user_id}")
            await user_exits.replace(conn, user_id, sorted({e.id for e in chosen}))
            await audit.record(
                conn,
                "admin.user.updated",
                actor,
                user_id=user_id,
                allowed_exits=sorted(e.label for e in chosen),
            )
        return await self.allowed_exits(user_id)
