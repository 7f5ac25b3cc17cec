"""JSON shapes of the model objects, shared by the API and the control socket."""

from __future__ import annotations

from typing import Any

from cloudclaude.model.audit import AuditEvent
from cloudclaude.model.users import SshKey, User
from cloudclaude.timefmt import iso, utcnow


def user_view(user: User) -> dict[str, Any]:
    return {
        "id": str(user.id),
        "username": user.username,
        "role": user.role,
        "status": user.effective_status(utcnow()),
        "expires_at": iso(user.expires_at),
        "max_hosts": user.max_hosts,
        "last_login_at": iso(user.last_login_at),
        "created_at": iso(user.created_at),
        "updated_at": iso(user.updated_at),
    }


def key_view(key: SshKey) -> dict[str, Any]:
    return {
        "id": str(key.id),
        "name": key.name,
        "fingerprint": key.fingerprint,
        "public_key": key.public_key,
        "created_at": iso(key.created_at),
    }


def audit_view(event: AuditEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "type": event.type,
        "actor": event.actor,
        "actor_user_id": str(event.actor_user_id) if event.actor_user_id else None,
        "user_id": str(event.user_id) if event.user_id else None,
        "host_id": str(event.host_id) if event.host_id else None,
        "source_ip": event.source_ip,
        "metadata": event.metadata,
        "at": iso(event.at),
    }
