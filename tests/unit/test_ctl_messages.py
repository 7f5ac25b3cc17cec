"""Control-socket message codec (cloudclaude/ctl/messages.py): round trips and rejections."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cloudclaude.ctl import messages
from cloudclaude.ctl.messages import OPS, ProtocolError, Reply

# One non-default instance per request type, so a lost field shows up in the round trip.
SAMPLES: dict[type[Any], Any] = {
    messages.Status: messages.Status(),
    messages.UsersList: messages.UsersList(search="bo", limit=5, offset=10),
    messages.UsersAdd: messages.UsersAdd(
        username="bob", role="admin", password="pw-1234567890", expires_at="2030-01-01", max_hosts=3
    ),
    messages.UsersShow: messages.UsersShow(username="bob"),
    messages.UsersDisable: messages.UsersDisable(username="bob"),
    messages.UsersEnable: messages.UsersEnable(username="bob"),
    messages.UsersExpire: messages.UsersExpire(username="bob", expires_at="never"),
    messages.UsersPasswd: messages.UsersPasswd(username="bob", password="pw-1234567890"),
    messages.UsersDelete: messages.UsersDelete(username="bob"),
    messages.AuditTail: messages.AuditTail(limit=3, follow=True),
    messages.KeysRotate: messages.KeysRotate(),
    messages.Reload: messages.Reload(),
    messages.HostsList: messages.HostsList(username="bob", status="running", limit=5),
    messages.HostsShow: messages.HostsShow(host="abcd2345"),
    messages.HostsAction: messages.HostsAction(host="abcd2345", action="delete", purge=True),
    messages.TasksList: messages.TasksList(status="failed", host="abcd2345", offset=3),
    messages.TasksShow: messages.TasksShow(task="5f0c1c2e-aaaa-bbbb-cccc-0123456789ab"),
    messages.TasksCancel: messages.TasksCancel(task="5f0c1c2e-aaaa-bbbb-cccc-0123456789ab"),
    messages.ExitsList: messages.ExitsList(limit=5, offset=1),
    messages.ExitsShow: messages.ExitsShow(exit="host"),
    messages.ExitsCreate: messages.ExitsCreate(
        fields={"label": "x", "kind": "socks5", "port": 1080, "tls": True, "n": None}
    ),
    messages.ExitsUpdate: messages.ExitsUpdate(
        exit="x", fields={"expected_resolvers": ["1.1.1.1"]}
    ),
    messages.ExitsDelete: messages.ExitsDelete(exit="x"),
    messages.ExitsTest: messages.ExitsTest(exit="x"),
    messages.ExitsBind: messages.ExitsBind(host="abcd2345", exit="x"),
    messages.ExitsUnbind: messages.ExitsUnbind(host="abcd2345"),
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
    assert messages.decode_request(b'{"op": "audit.tail"}') == messages.AuditTail()


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
