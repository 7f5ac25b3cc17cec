"""JSON shapes of the model objects, shared by the API and the control socket."""

from __future__ import annotations

from typing import Any

from cloudclaude.model.audit import AuditEvent
from cloudclaude.model.hosts import Host
from cloudclaude.model.tasks import Task
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


def host_view(host: Host) -> dict[str, Any]:
    return {
        "id": str(host.id),
        "short_id": host.short_id,
        "user_id": str(host.user_id),
        "status": host.status,
        "desired_state": host.desired_state,
        "image_ref": host.image_ref,
        "cpus": host.cpus,
        "memory_mb": host.memory_mb,
        "pids": host.pids,
        "disk_gb": host.disk_gb,
        "timezone": host.timezone,
        "box_public_key": host.box_public_key,
        "error_code": host.error_code,
        "error_message": host.error_message,
        "last_activity_at": iso(host.last_activity_at),
        "last_used_at": iso(host.last_used_at),
        "idle_stop_after_s": host.idle_stop_after_s,
        "created_at": iso(host.created_at),
        "updated_at": iso(host.updated_at),
    }


def task_view(task: Task, *, with_events: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": str(task.id),
        "host_id": str(task.host_id) if task.host_id else None,
        "kind": task.kind,
        "status": task.status,
        "attempt": task.attempt,
        "max_attempts": task.max_attempts,
        "progress_percent": task.progress_percent,
        "progress_message": task.progress_message,
        "error_code": task.error_code,
        "error_message": task.error_message,
        "cancel_requested": task.cancel_requested,
        "params": task.params,
        "created_at": iso(task.created_at),
        "started_at": iso(task.started_at),
        "finished_at": iso(task.finished_at),
    }
    if with_events:
        out["events"] = [
            {"seq": e.seq, "code": e.code, "message": e.message, "at": iso(e.at)}
            for e in task.events
        ]
    return out
