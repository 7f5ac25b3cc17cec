"""``cloudclaudectl users sign-out`` over the real control socket: every session ends."""

from __future__ import annotations

import pytest

from cloudclaude.app.wiring import Services
from cloudclaude.ctl.client import CtlClient
from cloudclaude.ctl.commands.users import UsersAdd, UsersSignOut
from cloudclaude.ctl.server import CtlServer
from cloudclaude.errors import CloudClaudeError


async def test_users_sign_out_ends_every_session_of_the_user(
    ctl: CtlServer, services: Services
) -> None:
    client = CtlClient(str(ctl.path))
    await client.call(UsersAdd(username="liam", password="liam-password"))
    tokens = [(await services.accounts.login("liam", "liam-password", None)).token for _ in "ab"]
    reply = await client.call(UsersSignOut(username="liam"))
    assert reply.kind == "ok" and reply.data == {"signed_out": "liam"}
    for token in tokens:
        with pytest.raises(CloudClaudeError) as info:
            await services.accounts.authenticate(token)
        assert info.value.error.slug == "session_ended"
    assert (await services.accounts.get_by_username("liam")).session_epoch == 1
    events = await services.audit.recent(1)
    assert events[0].type == "admin.user.signed_out"
