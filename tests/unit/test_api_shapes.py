"""The answer classes of ``web.api.shapes`` match what ``cloudclaude.model.views`` writes.

The views build plain dicts; the document describes them with attrs classes. A key added to a
view without its class (or a type that changed) fails here, before any daemon runs.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from openapi_schema_validator import OAS31Validator

from cloudclaude.model.audit import AuditEvent
from cloudclaude.model.exits import Binding, Exit, ExitRef
from cloudclaude.model.hosts import Host
from cloudclaude.model.tasks import Task, TaskEvent
from cloudclaude.model.users import SshKey, User
from cloudclaude.model.views import (
    audit_view,
    binding_view,
    exit_choice_view,
    exit_view,
    host_view,
    key_view,
    task_view,
    user_view,
)
from web.api import shapes
from web.api.schemas import Components

NOW = dt.datetime(2030, 1, 2, 3, 4, 5, 678000, tzinfo=dt.UTC)


def _user(expires: dt.datetime | None) -> User:
    return User(
        id=uuid.uuid4(),
        username="mona",
        role="user",
        status="active",
        expires_at=expires,
        max_hosts=2,
        last_login_at=None,
        created_at=NOW,
        updated_at=NOW,
    )


def _host(exit_ref: ExitRef | None) -> Host:
    return Host(
        id=uuid.uuid4(),
        short_id="abc123",
        user_id=uuid.uuid4(),
        status="running",
        desired_state="running",
        image_ref="cloudclaude-box:1",
        cpus=1.5,
        memory_mb=2048,
        pids=512,
        disk_gb=10,
        timezone="Europe/Berlin",
        box_public_key=None,
        error_code=None,
        error_message=None,
        last_activity_at=NOW,
        last_used_at=None,
        idle_stop_after_s=None,
        created_at=NOW,
        updated_at=NOW,
        egress=exit_ref,
    )


def _task() -> Task:
    return Task(
        id=uuid.uuid4(),
        host_id=uuid.uuid4(),
        kind="start",
        status="running",
        params={"reason": "test"},
        attempt=1,
        max_attempts=3,
        run_after=NOW,
        lease_owner=None,
        lease_expires_at=None,
        requested_by=None,
        cancel_requested=False,
        error_code=None,
        error_message=None,
        progress_percent=40,
        progress_message="starting",
        created_at=NOW,
        started_at=NOW,
        finished_at=None,
        updated_at=NOW,
        events=[TaskEvent(seq=1, code="queued", message="queued", at=NOW)],
    )


def _exit() -> Exit:
    return Exit(
        id=uuid.uuid4(),
        label="berlin",
        kind="socks5",
        server="203.0.113.5",
        port=1080,
        expected_ip="203.0.113.5",
        dns_server="1.1.1.1",
        configured_resolvers=None,
        verify_url=None,
        verify_dns_name=None,
        options={"username": "u"},
        masked={"password": "••••ab"},
        created_at=NOW,
        updated_at=NOW,
    )


def _cases() -> list[tuple[Any, dict[str, Any]]]:
    ref = ExitRef(id=uuid.uuid4(), label="berlin", kind="socks5", verified=True)
    key = SshKey(
        id=uuid.uuid4(),
        user_id=uuid.uuid4(),
        name="laptop",
        public_key="ssh-ed25519 AAAA",
        fingerprint="SHA256:x",
        created_at=NOW,
    )
    binding = Binding(
        id=uuid.uuid4(),
        host_id=uuid.uuid4(),
        host_short_id="abc123",
        egress_ip_id=uuid.uuid4(),
        egress_label="berlin",
        created_at=NOW,
    )
    event = AuditEvent(
        id=7,
        type="user.created",
        actor="user:root",
        actor_user_id=None,
        user_id=uuid.uuid4(),
        host_id=None,
        source_ip="127.0.0.1",
        metadata={"username": "mona"},
        at=NOW,
    )
    return [
        (shapes.UserOut, user_view(_user(None))),
        (shapes.UserOut, user_view(_user(NOW))),
        (shapes.SshKeyOut, key_view(key)),
        (shapes.HostOut, host_view(_host(ref))),
        (shapes.HostOut, host_view(_host(None))),
        (shapes.TaskOut, task_view(_task())),
        (shapes.TaskSummary, task_view(_task(), with_events=False)),
        (shapes.ExitOut, exit_view(_exit())),
        (shapes.ExitChoice, exit_choice_view(_exit())),
        (shapes.BindingOut, binding_view(binding)),
        (shapes.AuditOut, audit_view(event)),
    ]


@pytest.mark.parametrize(("shape", "view"), _cases())
def test_a_view_matches_its_answer_class(shape: type, view: dict[str, Any]) -> None:
    components = Components()
    root = {**components.ref(shape), "components": {"schemas": components.schemas}}
    errors = [e.message for e in OAS31Validator(root).iter_errors(view)]
    assert not errors, errors


def test_a_key_the_class_does_not_know_is_refused() -> None:
    components = Components()
    root = {**components.ref(shapes.UserOut), "components": {"schemas": components.schemas}}
    view = {**user_view(_user(None)), "new_key": 1}
    assert not OAS31Validator(root).is_valid(view)
