"""The services the daemon builds once at start-up and hands to the web app and ctl socket."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import asyncssh
import attrs
import trio

from cloudclaude.agent_client.handle import Agent
from cloudclaude.auth.passwords import PasswordHasher
from cloudclaude.auth.tickets import Tickets
from cloudclaude.auth.tokens import KeyRing, TokenService
from cloudclaude.core.metrics import Metrics
from cloudclaude.core.serverkey import load_or_create
from cloudclaude.core.settings import LiveSettings, SettingsDiff
from cloudclaude.core.status import StatusBoard
from cloudclaude.core.tls import ServerTls, open_server_tls
from cloudclaude.db.pool import Database
from cloudclaude.domain.accounts import Accounts
from cloudclaude.domain.audit import AuditLog
from cloudclaude.domain.backup_manifest import state_files
from cloudclaude.domain.backups import Backups
from cloudclaude.domain.credentials import Credentials
from cloudclaude.domain.exits import Exits
from cloudclaude.domain.host_tasks import HostTasks
from cloudclaude.domain.host_usage import HostUsage
from cloudclaude.domain.hosts import Hosts
from cloudclaude.domain.live_sessions import LiveSessions
from cloudclaude.domain.llm_usage import LlmUsage
from cloudclaude.domain.resealing import reseal_all
from cloudclaude.domain.self_service import SelfService
from cloudclaude.domain.user_deletion import UserDeleter
from cloudclaude.sshproxy import hostkey
from cloudclaude.sshproxy.access import SshAccess


async def _no_reload() -> SettingsDiff:
    return SettingsDiff((), ())


@attrs.define(kw_only=True)
class Services:
    live: LiveSettings
    db: Database
    metrics: Metrics
    status: StatusBoard
    tokens: TokenService
    accounts: Accounts
    hosts: Hosts
    tasks: HostTasks
    audit: AuditLog
    exits: Exits
    agent: Agent
    tickets: Tickets
    ssh_access: SshAccess
    #: The SSH proxy's host key: the proxy serves with it, the bootstrap handoff pins it.
    ssh_host_key: asyncssh.SSHKey
    #: Deleting users, with their hosts first when asked.
    user_deletion: UserDeleter
    #: Backups into restic, on demand (ctl) and on ``backup.schedule``.
    backups: Backups
    #: Users making and deleting their own boxes (``users.self_service``).
    self_service: SelfService
    #: Claude Code's API keys (sealed), and each user's key for the credentials endpoint.
    credentials: Credentials
    #: Token usage of the forwarded requests and the users' monthly budgets.
    llm_usage: LlmUsage
    #: Open SSH sessions and web terminals, ended by the revocation watch when they no longer hold.
    live_sessions: LiveSessions = attrs.field(factory=LiveSessions)
    #: The last hour of running hosts' CPU, memory and disk use (the stats sampler fills it).
    usage: HostUsage = attrs.field(factory=HostUsage)
    #: The web listener's certificate and its pin; None when it serves plain HTTP.
    tls: ServerTls | None = None
    #: Re-reads the settings and applies what may change at run time (set by the supervisor).
    reload: Callable[[], Awaitable[SettingsDiff]] = _no_reload


async def build(live: LiveSettings, db: Database, agent: Agent) -> Services:
    settings = live.current
    server_key = load_or_create(settings.state_path)
    metrics = Metrics()
    agent.latency = metrics.agent_latency
    tokens = TokenService(db, KeyRing(server_key, settings.auth.token_ttl_s))
    await tokens.start()
    await reseal_all(db, server_key)  # version 1 sealed values -> version 2, once
    hasher = PasswordHasher(settings.auth)
    accounts = Accounts(db, hasher, tokens, settings.rate_limits, settings.auth)
    exits = Exits(db, server_key, live)
    hosts = Hosts(db, hasher, server_key, settings.hosts, settings.tasks, exits, agent)
    tickets = Tickets(db, settings.ssh.ticket_ttl_s)
    host_key_path = hostkey.host_key_path(settings)
    return Services(
        live=live,
        db=db,
        metrics=metrics,
        status=StatusBoard(metrics),
        tokens=tokens,
        accounts=accounts,
        hosts=hosts,
        tasks=hosts.tasks,
        audit=AuditLog(db),
        exits=exits,
        agent=agent,
        tickets=tickets,
        ssh_access=SshAccess(db, hosts, tickets, settings.rate_limits, metrics),
        user_deletion=UserDeleter(db, hosts),
        self_service=SelfService(db, hosts, exits, live),
        credentials=Credentials(db, server_key, live),
        llm_usage=LlmUsage(db, live),
        backups=Backups(
            db, agent, live, lambda: state_files(live.current.state_path, host_key_path)
        ),
        ssh_host_key=await trio.to_thread.run_sync(hostkey.load_or_create, host_key_path),
        tls=await trio.to_thread.run_sync(open_server_tls, settings),
    )
