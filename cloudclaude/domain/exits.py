"""Exits and host bindings: the rules shared by the API, the control socket and host starts.

An exit's secrets are sealed with the server key (purpose ``exit-credentials``) and leave the
daemon only in the ``ExitSpec`` handed to the privileged agent. A host has at most one exit; its
binding cannot change while the host is starting, running, degraded or stopping, and an exit
with bindings cannot be deleted. Every change writes its audit event in the same transaction.
"""

from __future__ import annotations

import ipaddress
import json
import uuid
from collections.abc import Mapping
from typing import Any

from agent.protocol import messages as m
from cloudclaude.auth.sealing import SealError, seal, unseal
from cloudclaude.core.settings import LiveSettings
from cloudclaude.core.timefmt import utcnow
from cloudclaude.db.errors import CheckViolation, UniqueViolation
from cloudclaude.db.pool import Connection, Database
from cloudclaude.db.repos import bindings as bindings_repo
from cloudclaude.db.repos import exits as exits_repo
from cloudclaude.db.repos import hosts as hosts_repo
from cloudclaude.db.repos import tasks as tasks_repo
from cloudclaude.domain import audit, resealing
from cloudclaude.domain.exit_schema import ExitConfig, merge_fields, parse_exit
from cloudclaude.domain.host_specs import visible
from cloudclaude.errors import CloudClaudeError
from cloudclaude.model.audit import Actor
from cloudclaude.model.exits import Binding, Exit, ExitStatus, mask
from cloudclaude.model.hosts import Host
from cloudclaude.model.tasks import Task

EXIT_CREDENTIALS = resealing.EXIT_CREDENTIALS
#: A host in one of these has a gateway (or is getting or losing one): its exit is fixed.
LOCKED_STATUSES = ("starting", "running", "degraded", "stopping")


class Exits:
    def __init__(self, db: Database, server_key: bytes, live: LiveSettings) -> None:
        self._db = db
        self._server_key = server_key
        self._live = live

    # --- reading --------------------------------------------------------------------------

    async def list_exits(self, *, limit: int, offset: int) -> exits_repo.ExitPage:
        return await exits_repo.list_page(self._db, limit=limit, offset=offset)

    async def get(self, exit_id: uuid.UUID) -> Exit:
        found = await exits_repo.get(self._db, exit_id)
        if found is None:
            raise CloudClaudeError("exit_not_found", f"no exit {exit_id}")
        return found

    async def resolve(self, ref: str) -> Exit:
        """An exit by id or label (for the control socket and humans)."""
        try:
            return await self.get(uuid.UUID(ref))
        except ValueError:
            pass
        found = await exits_repo.get_by_label(self._db, ref)
        if found is None:
            raise CloudClaudeError("exit_not_found", f"no exit labelled {ref[:64]!r}")
        return found

    # --- changes --------------------------------------------------------------------------

    async def create(self, actor: Actor, data: Mapping[str, Any]) -> Exit:
        cfg = parse_exit(data)
        secrets = {k: v for k, v in cfg.secrets.items() if v}
        try:
            async with self._db.transaction() as conn:
                new_id = uuid.uuid4()  # known before the insert: the sealed secrets bind it
                sealed = self._seal(secrets, new_id)
                created = await exits_repo.insert(conn, cfg, _masks(secrets), sealed, new_id)
                await self._audit(conn, "admin.exit.created", actor, created, {})
        except UniqueViolation as exc:
            raise _label_taken(cfg.label) from exc
        return created

    async def update(self, actor: Actor, exit_id: uuid.UUID, data: Mapping[str, Any]) -> Exit:
        """Replace every setting; a secret left out (or sent as its mask) keeps its value."""
        try:
            async with self._db.transaction() as conn:
                before = await exits_repo.get(conn, exit_id, for_update=True)
                if before is None:
                    raise CloudClaudeError("exit_not_found", f"no exit {exit_id}")
                stored = self._unseal(before, await exits_repo.get_credentials(conn, exit_id))
                cfg = parse_exit(data, stored=frozenset(stored))
                secrets = {k: stored[k] for k in cfg.kept}
                secrets.update({k: v for k, v in cfg.secrets.items() if v})
                changed = _changed(before, cfg, stored, secrets)
                if not changed:
                    return before
                after = await exits_repo.replace(
                    conn, exit_id, cfg, _masks(secrets), self._seal(secrets, exit_id)
                )
                assert after is not None
                await self._audit(conn, "admin.exit.updated", actor, after, {"changed": changed})
        except UniqueViolation as exc:
            raise _label_taken(str(data.get("label"))) from exc
        return after

    async def patch(self, actor: Actor, exit_id: uuid.UUID, changes: Mapping[str, Any]) -> Exit:
        """Change only the given fields (see ``exit_schema.merge_fields``)."""
        current = await self.get(exit_id)
        return await self.update(actor, exit_id, merge_fields(current.fields(), changes))

    async def delete(self, actor: Actor, exit_id: uuid.UUID) -> None:
        async with self._db.transaction() as conn:
            found = await exits_repo.get(conn, exit_id, for_update=True)
            if found is None:
                raise CloudClaudeError("exit_not_found", f"no exit {exit_id}")
            await bindings_repo.drop_deleted_hosts(conn, exit_id)
            bound = await bindings_repo.list_page(conn, limit=5, offset=0, exit_id=exit_id)
            if bound.total:
                names = ", ".join(b.host_short_id for b in bound.items)
                more = f" and {bound.total - len(bound.items)} more" if bound.total > 5 else ""
                raise CloudClaudeError(
                    "exit_in_use",
                    f"exit {found.label} is bound to host(s) {names}{more}",
                    bound_hosts=bound.total,
                )
            await exits_repo.delete(conn, exit_id)
            await self._audit(conn, "admin.exit.deleted", actor, found, {})

    # --- bindings -------------------------------------------------------------------------

    async def list_bindings(
        self,
        *,
        limit: int,
        offset: int,
        host_id: uuid.UUID | None = None,
        exit_id: uuid.UUID | None = None,
    ) -> bindings_repo.BindingPage:
        return await bindings_repo.list_page(
            self._db, limit=limit, offset=offset, host_id=host_id, exit_id=exit_id
        )

    async def bind(self, actor: Actor, host_id: uuid.UUID, exit_id: uuid.UUID) -> Binding:
        """Give a host without an exit this exit (not while the host runs)."""
        try:
            async with self._db.transaction() as conn:
                host = await _locked_host(conn, host_id)
                found = await exits_repo.get(conn, exit_id)
                if found is None:
                    raise CloudClaudeError("exit_not_found", f"no exit {exit_id}")
                existing = await bindings_repo.for_host(conn, host.id)
                if existing is not None:
                    raise CloudClaudeError(
                        "binding_exists",
                        f"host {host.short_id} is bound to exit {existing.egress_label}",
                        binding_id=str(existing.id),
                    )
                _check_unlocked(host)
                return await self._insert_binding(conn, actor, host, found, {})
        except CheckViolation as exc:  # the exit was deleted meanwhile
            raise CloudClaudeError("exit_not_found", f"no exit {exit_id}") from exc

    async def unbind(self, actor: Actor, binding_id: uuid.UUID) -> Binding:
        async with self._db.transaction() as conn:
            binding = await bindings_repo.get(conn, binding_id)
            if binding is None:
                raise CloudClaudeError("not_found", f"no binding {binding_id}")
            host = await _locked_host(conn, binding.host_id)
            _check_unlocked(host)
            await bindings_repo.delete(conn, binding.id)
            meta = {
                "binding_id": str(binding.id),
                "egress_ip_id": str(binding.egress_ip_id),
                "label": binding.egress_label,
                "short_id": host.short_id,
            }
            await audit.record_for_host(conn, "admin.binding.deleted", actor, host, meta=meta)
        return binding

    async def binding_of(self, host_id: uuid.UUID) -> Binding | None:
        return await bindings_repo.for_host(self._db, host_id)

    async def bind_new_host(
        self, conn: Connection, actor: Actor, host: Host, exit_id: uuid.UUID | None
    ) -> Binding | None:
        """Inside a host's creation: bind ``exit_id``, else ``egress.default_exit``, else none."""
        label = self._live.current.egress.default_exit
        if exit_id is not None:
            found = await exits_repo.get(conn, exit_id)
            if found is None:
                raise CloudClaudeError("exit_not_found", f"no exit {exit_id}")
        elif label:
            found = await exits_repo.get_by_label(conn, label)
            if found is None:
                raise CloudClaudeError(
                    "exit_not_found",
                    f"egress.default_exit is {label!r} but no exit has that label;"
                    " create it, change the setting, or pass egress_ip_id",
                )
        else:
            return None
        meta = {"default_exit": True} if exit_id is None else {}
        return await self._insert_binding(conn, actor, host, found, meta)

    async def _insert_binding(
        self, conn: Connection, actor: Actor, host: Host, exit_: Exit, meta: dict[str, Any]
    ) -> Binding:
        binding = await bindings_repo.insert(conn, host.id, exit_.id)
        meta = {
            "binding_id": str(binding.id),
            "egress_ip_id": str(exit_.id),
            "label": exit_.label,
            "short_id": host.short_id,
            **meta,
        }
        await audit.record_for_host(conn, "admin.binding.created", actor, host, meta=meta)
        return binding

    # --- the start pipeline ---------------------------------------------------------------

    async def exit_for_host(self, host_id: uuid.UUID) -> tuple[Exit, m.ExitSpec] | None:
        """The host's exit and its wire form with the secrets in clear (None: no binding)."""
        binding = await bindings_repo.for_host(self._db, host_id)
        if binding is None:
            return None
        try:
            return await self.exit_and_spec(binding.egress_ip_id)
        except CloudClaudeError as exc:
            if exc.error.slug == "exit_not_found":
                return None
            raise

    async def exit_and_spec(self, exit_id: uuid.UUID) -> tuple[Exit, m.ExitSpec]:
        """An exit and its wire form with the secrets in clear."""
        found = await self.get(exit_id)
        sealed = await exits_repo.get_credentials(self._db, found.id)
        secrets = self._unseal(found, sealed)
        if sealed is not None:
            plain = json.dumps(secrets).encode()
            await resealing.reseal_on_read(
                self._db, self._server_key, EXIT_CREDENTIALS, found.id, sealed, plain
            )
        return found, exit_spec(found, secrets)

    async def queue_test(self, actor: Actor, exit_id: uuid.UUID) -> Task:
        """A ``test_exit`` task: the exit verified from a throwaway namespace (no host)."""
        found = await self.get(exit_id)
        return await tasks_repo.insert(
            self._db,
            host_id=None,
            kind="test_exit",
            params={"exit_id": str(found.id)},
            requested_by=actor.user_id,
            max_attempts=1,
        )

    async def record_verification(self, exit_id: uuid.UUID, ok: bool, detected_ip: str) -> None:
        """Remember the latest check through the exit: ``ok`` or ``failed``, the address seen."""
        try:
            seen: str | None = str(ipaddress.ip_address(detected_ip.strip()))
        except ValueError:
            seen = None
        status: ExitStatus = "ok" if ok else "failed"
        await exits_repo.record_verification(self._db, exit_id, status, seen, utcnow())

    # --- secrets and audit ----------------------------------------------------------------

    def _seal(self, secrets: dict[str, str], exit_id: uuid.UUID) -> bytes | None:
        if not secrets:
            return None
        plain = json.dumps(secrets).encode()
        return seal(self._server_key, EXIT_CREDENTIALS, plain, owner=exit_id)

    def _unseal(self, exit_: Exit, sealed: bytes | None) -> dict[str, str]:
        if sealed is None:
            return {}
        try:
            plain = unseal(self._server_key, EXIT_CREDENTIALS, sealed, owner=exit_.id)
            data: dict[str, str] = json.loads(plain)
        except SealError as exc:
            raise CloudClaudeError(
                "exit_invalid",
                f"the stored credentials of exit {exit_.label} do not open with this server key;"
                " set them again",
            ) from exc
        return data

    @staticmethod
    async def _audit(
        conn: Connection, kind: str, actor: Actor, exit_: Exit, meta: dict[str, Any]
    ) -> None:
        meta = {"egress_ip_id": str(exit_.id), "label": exit_.label, "kind": exit_.kind, **meta}
        await audit.record(conn, kind, actor, meta=meta)


def exit_spec(exit_: Exit, secrets: Mapping[str, str]) -> m.ExitSpec:
    """What sing-box needs of the exit (trojan always speaks TLS; http never carries UDP)."""
    options = exit_.options
    return m.ExitSpec(
        kind=exit_.kind,
        server=exit_.server or "",
        port=exit_.port or 0,
        username=options.get("username", ""),
        password=secrets.get("password", ""),
        method=options.get("method", ""),
        uuid=secrets.get("uuid", ""),
        security=options.get("security", ""),
        alter_id=options.get("alter_id", 0),
        flow=options.get("flow", ""),
        tls=exit_.kind == "trojan" or bool(options.get("tls", False)),
        tls_server_name=options.get("tls_server_name", ""),
        tls_insecure=bool(options.get("tls_insecure", False)),
        tls_certificate=options.get("tls_certificate", ""),
        dns_server=exit_.dns_server or "",
        # ``udp: false`` (a CONNECT-only SOCKS5 server, a shadowsocks server without UDP
        # relay): the gateway refuses and counts the box's UDP. DNS goes over TCP anyway.
        udp=exit_.kind != "http" and bool(options.get("udp", True)),
    )


async def _locked_host(conn: Connection, host_id: uuid.UUID) -> Host:
    return visible(await hosts_repo.get(conn, host_id, for_update=True), host_id)


def _check_unlocked(host: Host) -> None:
    if host.status in LOCKED_STATUSES:
        raise CloudClaudeError(
            "binding_locked", f"host {host.short_id} is {host.status}; stop it first"
        )


def _masks(secrets: Mapping[str, str]) -> dict[str, str]:
    return {name: mask(value) for name, value in secrets.items()}


def _changed(
    before: Exit, cfg: ExitConfig, stored: Mapping[str, str], secrets: Mapping[str, str]
) -> list[str]:
    """Names of the fields an edit changes (secrets by name only)."""
    old, new = before.fields(), cfg.fields()
    names = {k for k in old.keys() | new.keys() if old.get(k) != new.get(k)}
    names |= {k for k in stored.keys() | secrets.keys() if stored.get(k) != secrets.get(k)}
    return sorted(names)


def _label_taken(label: str) -> CloudClaudeError:
    return CloudClaudeError("exit_label_taken", f"an exit labelled {label[:64]!r} already exists")
