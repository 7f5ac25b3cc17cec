"""Agent protocol messages: frozen keyword-only attrs classes, tagged by ``"op"``.

A connection starts with ``Hello``/``HelloReply``; then every request carries an ``id`` that its
replies repeat, so several requests run at once on one connection. Long operations send
``Progress`` replies before their final one. The classes live by domain (``session_messages``,
``host_messages``, ``egress_messages``, ``backup_messages``, ``checkout_messages``); this module
joins them into the unions the codec tags, and re-exports every name, so callers write
``m.BoxSpec`` whatever the domain.
"""

from __future__ import annotations

from typing import Any

from cattrs.strategies import configure_tagged_union

from agent.protocol.backup_messages import OPS as BACKUP_OPS
from agent.protocol.backup_messages import TAKES_SOCKET as BACKUP_TAKES_SOCKET
from agent.protocol.backup_messages import ExportHome, HomeArchived, ImportHome
from agent.protocol.checkout_messages import OPS as CHECKOUT_OPS
from agent.protocol.checkout_messages import TAKES_SOCKET as CHECKOUT_TAKES_SOCKET
from agent.protocol.checkout_messages import CheckoutMounted, MountCheckout, UnmountCheckout
from agent.protocol.codec import strict_converter
from agent.protocol.egress_messages import (
    EXIT_KINDS,
    CountersReply,
    EgressCounters,
    EgressReply,
    EgressState,
    ExitSpec,
    GatewayList,
    GatewaySpec,
    ListGateways,
    LlmListenerOpened,
    OpenLlmListener,
    ProbeExit,
    SetAllowlist,
    SetupEgress,
    SweepGateways,
    TeardownEgress,
    VerifyEgress,
    VerifyReply,
)
from agent.protocol.egress_messages import OPS as EGRESS_OPS
from agent.protocol.host_messages import OPS as HOST_OPS
from agent.protocol.host_messages import (
    ActivityReply,
    BoxSpec,
    CreateHost,
    EnsureImage,
    HostActivity,
    HostList,
    HostLogs,
    HostReply,
    HostState,
    HostStats,
    ImageReady,
    InspectHost,
    ListHosts,
    LogsReply,
    OpenPort,
    PortOpened,
    RemoveHost,
    StartHost,
    StatsReply,
    StopHost,
)
from agent.protocol.session_messages import OPS as SESSION_OPS
from agent.protocol.session_messages import (
    PROTOCOL_VERSION,
    Done,
    ErrorReply,
    Hello,
    HelloReply,
    Ping,
    Pong,
    Progress,
)

__all__ = [
    "EXIT_KINDS",
    "PROTOCOL_VERSION",
    "TAKES_SOCKET",
    "ActivityReply",
    "BoxSpec",
    "CheckoutMounted",
    "CountersReply",
    "CreateHost",
    "Done",
    "EgressCounters",
    "EgressReply",
    "EgressState",
    "EnsureImage",
    "ErrorReply",
    "ExitSpec",
    "ExportHome",
    "GatewayList",
    "GatewaySpec",
    "Hello",
    "HelloReply",
    "HomeArchived",
    "HostActivity",
    "HostList",
    "HostLogs",
    "HostReply",
    "HostState",
    "HostStats",
    "ImageReady",
    "ImportHome",
    "InspectHost",
    "ListGateways",
    "ListHosts",
    "LlmListenerOpened",
    "LogsReply",
    "Message",
    "MountCheckout",
    "OpenLlmListener",
    "OpenPort",
    "Ping",
    "Pong",
    "PortOpened",
    "ProbeExit",
    "Progress",
    "RemoveHost",
    "Reply",
    "Request",
    "SetAllowlist",
    "SetupEgress",
    "StartHost",
    "StatsReply",
    "StopHost",
    "SweepGateways",
    "TeardownEgress",
    "UnmountCheckout",
    "VerifyEgress",
    "VerifyReply",
    "converter",
    "op_name",
]

Request = (
    Ping
    | EnsureImage
    | CreateHost
    | StartHost
    | StopHost
    | RemoveHost
    | InspectHost
    | ListHosts
    | HostLogs
    | HostStats
    | OpenPort
    | HostActivity
    | SetupEgress
    | TeardownEgress
    | SetAllowlist
    | VerifyEgress
    | ProbeExit
    | ListGateways
    | SweepGateways
    | EgressCounters
    | OpenLlmListener
    | ExportHome
    | ImportHome
    | MountCheckout
    | UnmountCheckout
)
Reply = (
    Pong
    | Progress
    | ErrorReply
    | ImageReady
    | HostReply
    | HostList
    | LogsReply
    | StatsReply
    | PortOpened
    | LlmListenerOpened
    | ActivityReply
    | EgressReply
    | VerifyReply
    | GatewayList
    | CountersReply
    | HomeArchived
    | CheckoutMounted
    | Done
)

_OPS: dict[type[Any], str] = {
    **SESSION_OPS,
    **HOST_OPS,
    **EGRESS_OPS,
    **BACKUP_OPS,
    **CHECKOUT_OPS,
}
#: Requests that carry exactly one socket with their frame.
TAKES_SOCKET = BACKUP_TAKES_SOCKET | CHECKOUT_TAKES_SOCKET

converter = strict_converter()
# One union holds every message, so each side decodes any frame with one call.
Message = Hello | HelloReply | Request | Reply
configure_tagged_union(Message, converter, tag_generator=lambda cls: _OPS[cls], tag_name="op")


def op_name(message_type: type[Any]) -> str:
    return _OPS[message_type]
