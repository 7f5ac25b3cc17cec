"""Control-socket message codec (cloudclaude/ctl/messages.py): round trips and rejections."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cloudclaude.ctl import messages
from cloudclaude.ctl.commands import backups, credentials, daemon, exits, hosts, tasks, users
from cloudclaude.ctl.messages import ProtocolError, Reply
from cloudclaude.ctl.registry import REGISTRY

OPS = {c.message: op for op, c in REGISTRY.commands.items()}

# One non-default instance per request type, so a lost field shows up in the round trip.
SAMPLES: dict[type[Any], Any] = {
    daemon.Status: daemon.Status(),
    users.UsersList: users.UsersList(search="bo", limit=5, offset=10),
    users.UsersAdd: users.UsersAdd(
        username="bob", role="admin", password="pw-1234567890", expires_at="2030-01-01", max_hosts=3
    ),
    users.UsersShow: users.UsersShow(username="bob"),
    users.UsersDisable: users.UsersDisable(username="bob"),
    users.UsersEnable: users.UsersEnable(username="bob"),
    users.UsersExpire: users.UsersExpire(username="bob", expires_at="never"),
    users.UsersPasswd: users.UsersPasswd(username="bob", password="pw-1234567890"),
    users.UsersDelete: users.UsersDelete(username="bob"),
    users.UsersSignOut: users.UsersSignOut(username="bob"),
    users.UsersExits: users.UsersExits(username="bob", exits=("tokyo",), clear=True),
    daemon.AuditTail: daemon.AuditTail(limit=3, follow=True),
    daemon.KeysRotate: daemon.KeysRotate(),
    daemon.Reload: daemon.Reload(),
    hosts.HostsList: hosts.HostsList(username="bob", status="running", limit=5),
    hosts.HostsShow: hosts.HostsShow(host="abcd2345"),
    hosts.HostsCreate: hosts.HostsCreate(
        username="bob", cpus=1.5, memory_mb=1024, disk_gb=5, exit="tokyo", start=True
    ),
    hosts.HostsAction: hosts.HostsAction(host="abcd2345", action="delete", purge=True),
    hosts.HostsRotateSshPassword: hosts.HostsRotateSshPassword(host="abcd2345"),
    hosts.HostsRoll: hosts.HostsRoll(hosts=("abcd2345",), now=True, parallel=2),
    tasks.TasksList: tasks.TasksList(status="failed", host="abcd2345", offset=3),
    tasks.TasksShow: tasks.TasksShow(task="5f0c1c2e-aaaa-bbbb-cccc-0123456789ab"),
    tasks.TasksCancel: tasks.TasksCancel(task="5f0c1c2e-aaaa-bbbb-cccc-0123456789ab"),
    exits.ExitsList: exits.ExitsList(limit=5, offset=1),
    exits.ExitsShow: exits.ExitsShow(exit="host"),
    exits.ExitsCreate: exits.ExitsCreate(
        fields={"label": "x", "kind": "socks5", "port": 1080, "tls": True, "n": None}
    ),
    exits.ExitsUpdate: exits.ExitsUpdate(exit="x", fields={"expected_resolvers": ["1.1.1.1"]}),
    exits.ExitsDelete: exits.ExitsDelete(exit="x"),
    exits.ExitsTest: exits.ExitsTest(exit="x"),
    exits.ExitsBind: exits.ExitsBind(host="abcd2345", exit="x"),
    exits.ExitsUnbind: exits.ExitsUnbind(host="abcd2345"),
    backups.BackupCreate: backups.BackupCreate(),
    backups.BackupList: backups.BackupList(limit=3),
    credentials.CredentialsList: credentials.CredentialsList(),
    credentials.CredentialsCreate: credentials.CredentialsCreate(
        name="team", key="sk-ant-0123456789abcdefghij", default=True, assign=("bob",)
    ),
    credentials.CredentialsRotate: credentials.CredentialsRotate(
        name="team", key="sk-ant-0123456789abcdefghij"
    ),
    credentials.CredentialsAssign: credentials.CredentialsAssign(
        name="team", users=("bob", "eve"), default=False
    ),
    credentials.CredentialsDelete: credentials.CredentialsDelete(name="team"),
    credentials.Usage: credentials.Usage(
        user="bob", host="abcd2345", since="2030-01-01", until="2030-01-31", group_by="model"
    ),
    credentials.UsersBudget: credentials.UsersBudget(username="bob", tokens="1_000"),
    credentials.UsersGateway: credentials.UsersGateway(username="bob", off=True),
}


def test_samples_cover_every_op() -> None:
    assert set(SAMPLES) == set(OPS)


@pytest.mark.parametrize("cls", list(OPS), ids=lambda c: OPS[c])
def test_request_round_trip(cls: type[Any]) -> None:
    request = SAMPLES[cls]
    body = messages.encode_request(request)
    assert json.loads(body)["op"] == OPS[cls]
    assert messages.decode_request(body) == request


def test_defaults_fill_missing_optional_fields() -> None:
    assert messages.decode_request(b'{"op": "audit.tail"}') == daemon.AuditTail()


def test_unknown_op_is_protocol_error() -> None:
    with pytest.raises(ProtocolError):
        messages.decode_request(b'{"op": "users.explode"}')


def test_missing_op_is_protocol_error() -> None:
    with pytest.raises(ProtocolError):
        messages.decode_request(b'{"username": "bob"}')


def test_extra_field_is_protocol_error() -> None:
    with pytest.raises(ProtocolError):
        messages.decode_request(b'{"op": "users.show", "username": "bob", "admin": true}')


def test_missing_required_field_is_protocol_error() -> None:
    with pytest.raises(ProtocolError):
        messages.decode_request(b'{"op": "users.show"}')


@pytest.mark.parametrize("body", [b"not json", b"\xff\xfe", b""])
def test_non_json_is_protocol_error(body: bytes) -> None:
    with pytest.raises(ProtocolError):
        messages.decode_request(body)


@pytest.mark.parametrize("body", [b"[]", b'"status"', b"42", b"null"])
def test_non_object_is_protocol_error(body: bytes) -> None:
    with pytest.raises(ProtocolError):
        messages.decode_request(body)


def test_wrong_type_is_protocol_error() -> None:
    with pytest.raises(ProtocolError):
        messages.decode_request(b'{"op": "users.list", "limit": "x"}')


def test_reply_round_trip() -> None:
    reply = Reply(kind="error", error={"code": "STATE_001", "slug": "not_found"})
    assert messages.decode_reply(messages.encode_reply(reply)) == reply


def test_malformed_reply_is_protocol_error() -> None:
    with pytest.raises(ProtocolError):
        messages.decode_reply(b'{"kind": "maybe"}')


@pytest.mark.parametrize("body", [b"[]", b"42", b"null"])
def test_non_object_reply_is_protocol_error(body: bytes) -> None:
    with pytest.raises(ProtocolError):
        messages.decode_reply(body)
