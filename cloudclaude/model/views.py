"""JSON shapes of the model objects, shared by the API and the control socket."""

from __future__ import annotations

from typing import Any

from cloudclaude.core.timefmt import iso, utcnow
from cloudclaude.model.audit import AuditEvent
from cloudclaude.model.backups import Backup
from cloudclaude.model.exits import Binding, Exit
from cloudclaude.model.hosts import Host
from cloudclaude.model.tasks import Task
from cloudclaude.model.users import SshKey, User


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
        "image_outdated": host.image_outdated,
        "roll_pending": host.roll_pending,
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
        "egress_ip_id": str(host.egress.id) if host.egress else None,
        "egress_label": host.egress.label if host.egress else None,
        # False: no exit, or an exit without verification endpoints ("egress unverified").
        "egress_verified": bool(host.egress and host.egress.verified),
        "allowed_domains": list(host.allowed_domains),
        "created_at": iso(host.created_at),
        "updated_at": iso(host.updated_at),
    }


def exit_view(exit_: Exit) -> dict[str, Any]:
    """An exit as submitted (secrets masked), its resolved resolvers and its last check."""
    return {
        "id": str(exit_.id),
        "label": exit_.label,
        "kind": exit_.kind,
        "server": exit_.server,
        "port": exit_.port,
        **exit_.options,
        **exit_.masked,
        "expected_ip": exit_.expected_ip,
        "dns_server": exit_.dns_server,
        "expected_resolvers": list(exit_.expected_resolvers),
        "verify_url": exit_.verify_url,
        "verify_dns_name": exit_.verify_dns_name,
        # False: a direct exit without endpoints; its hosts' egress is never verified.
        "egress_verified": exit_.verified,
        "status": exit_.status,
        "last_verified_at": iso(exit_.last_verified_at),
        "detected_ip": exit_.detected_ip,
        "bound_hosts": exit_.bound_hosts,
        "created_at": iso(exit_.created_at),
        "updated_at": iso(exit_.updated_at),
    }


def exit_choice_view(exit_: Exit) -> dict[str, Any]:
    """What a user sees of an exit they may choose: no server, no secrets."""
    return {"id": str(exit_.id), "label": exit_.label, "kind": exit_.kind}


def binding_view(binding: Binding) -> dict[str, Any]:
    return {
        "id": str(binding.id),
        "host_id": str(binding.host_id),
        "host_short_id": binding.host_short_id,
        "egress_ip_id": str(binding.egress_ip_id),
        "egress_label": binding.egress_label,
        "created_at": iso(binding.created_at),
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


def backup_view(backup: Backup) -> dict[str, Any]:
    return {
        "id": str(backup.id),
        "trigger": backup.trigger,
        "actor": backup.actor,
        "status": backup.status,
        "started_at": iso(backup.started_at),
        "finished_at": iso(backup.finished_at),
        "size_bytes": backup.size_bytes,
        "homes": backup.homes,
        "skipped": backup.skipped,
        "error_code": backup.error_code,
        "error_message": backup.error_message,
    }
