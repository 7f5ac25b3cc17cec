"""Names instead of ids on the admin pages: usernames and host short ids, looked up once per
page (one query per kind) for every row it shows."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

import attrs

from web.api.common import services


@attrs.frozen
class Names:
    """What a page shows for a user or host id; a gone user shows the id's first 8 digits."""

    users: dict[uuid.UUID, str] = attrs.field(factory=dict)
    hosts: dict[uuid.UUID, str] = attrs.field(factory=dict)

    def user(self, user_id: uuid.UUID | None) -> str:
        if user_id is None:
            return ""
        return self.users.get(user_id) or str(user_id)[:8]

    def host(self, host_id: uuid.UUID | None) -> str:
        if host_id is None:
            return ""
        return self.hosts.get(host_id) or str(host_id)[:8]


def _ids(values: Iterable[uuid.UUID | None]) -> list[uuid.UUID]:
    return sorted({value for value in values if value is not None})


async def look_up(
    *,
    user_ids: Iterable[uuid.UUID | None] = (),
    host_ids: Iterable[uuid.UUID | None] = (),
) -> Names:
    """The names of these users and hosts (ids the database no longer knows stay short ids)."""
    svc = services()
    users, hosts = _ids(user_ids), _ids(host_ids)
    return Names(
        users=await svc.accounts.usernames(users) if users else {},
        hosts=await svc.hosts.short_ids(hosts) if hosts else {},
    )
