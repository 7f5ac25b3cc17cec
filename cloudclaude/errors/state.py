"""STATE_* error codes. Objects and their state: lookups, conflicts, host and task lifecycle.

Each constant is one registry row, named after its slug in upper case;
``cloudclaude.errors.codes`` assembles ``REGISTRY`` from these modules in definition order.
Codes and slugs are never reused.
"""

from __future__ import annotations

from cloudclaude.errors.base import ErrorCode

NOT_FOUND = ErrorCode(
    code="STATE_001",
    slug="not_found",
    http_status=404,
    message="Not found.",
    cause="The object does not exist, or you may not see it.",
    fix="Check the id or name.",
)

USERNAME_TAKEN = ErrorCode(
    code="STATE_002",
    slug="username_taken",
    http_status=409,
    message="That username is already taken.",
    cause="Usernames are unique.",
    fix="Choose another username.",
)

SSH_KEY_DUPLICATE = ErrorCode(
    code="STATE_003",
    slug="ssh_key_duplicate",
    http_status=409,
    message="That SSH key is already registered.",
    cause="A user may register a key (by fingerprint) once; other users may register it too.",
    fix="Remove the existing key first, or use another key.",
)

CONFLICT = ErrorCode(
    code="STATE_004",
    slug="conflict",
    http_status=409,
    message="The request conflicts with the current state.",
    cause="Another change happened first.",
    fix="Reload and try again.",
)

HOST_NOT_FOUND = ErrorCode(
    code="STATE_005",
    slug="host_not_found",
    http_status=404,
    exit_code=13,
    message="No box found for this user.",
    cause="The user has no host, or the short id names none of theirs.",
    fix="Ask an admin to create a box for you, or check the short id.",
    admin_fix="Check the host id or short id: the Hosts page and `cloudclaudectl hosts list`"
    " show every host; a deleted host is gone.",
)

START_FAILED = ErrorCode(
    code="STATE_006",
    slug="start_failed",
    http_status=500,
    exit_code=14,
    message="The box could not be started.",
    cause="A start step failed; the task's events say which.",
    fix="Retry; if it fails again, ask an admin to look at the task.",
)

LAST_ADMIN = ErrorCode(
    code="STATE_007",
    slug="last_admin",
    http_status=409,
    message="The last active admin cannot be removed or demoted.",
    cause="Without an active admin nobody could manage the server.",
    fix="Create or enable another admin first.",
)

CONTAINER_MISSING = ErrorCode(
    code="STATE_008",
    slug="container_missing",
    http_status=404,
    message="The host has no container.",
    cause="The host was never created on this server, or its container was removed.",
    fix="Rebuild the host, or let the reconciler repair it.",
)

HOST_NOT_RUNNING = ErrorCode(
    code="STATE_009",
    slug="host_not_running",
    http_status=409,
    message="The host is not running.",
    cause="The operation needs a running container.",
    fix="Start the host first.",
)

HOST_BUSY = ErrorCode(
    code="STATE_010",
    slug="host_busy",
    http_status=409,
    message="Another operation is already queued or running for this host.",
    cause="A host runs one task at a time (start, stop, rebuild, delete).",
    fix="Wait for the current task to finish (GET /v1/admin/tasks/{id}) or cancel it.",
)

HOST_LIMIT_REACHED = ErrorCode(
    code="STATE_011",
    slug="host_limit_reached",
    http_status=409,
    message="The user already has as many hosts as allowed.",
    cause="Every user may own up to max_hosts hosts (deleted ones do not count).",
    fix="Delete a host of this user or raise the user's max_hosts.",
)

TASK_CANCELED = ErrorCode(
    code="STATE_012",
    slug="task_canceled",
    http_status=409,
    message="The task was canceled.",
    cause="An admin canceled the task before it finished.",
    fix="Start the operation again if it is still wanted.",
)

ILLEGAL_TRANSITION = ErrorCode(
    code="STATE_013",
    slug="illegal_transition",
    http_status=409,
    message="The host cannot move to that status from the one it is in.",
    cause="A writer asked for a status change the host state machine does not allow"
    " (cloudclaude/domain/host_states.py), for example a deleted host starting again.",
    fix="Read the host's current status and act from there; report it if the daemon did this.",
)

HOST_NOT_MANAGED = ErrorCode(
    code="STATE_014",
    slug="host_not_managed",
    http_status=409,
    message="A container with the host's name exists, but this server did not make it.",
    cause="The agent acts only on containers labelled as made by its own instance"
    " (cloudclaude.instance); another installation or a person made this one.",
    fix="Remove or rename the foreign container on dockerd, or set a distinct agent instance.",
)

SEALED_SECRET_UNREADABLE = ErrorCode(
    code="STATE_015",
    slug="sealed_secret_unreadable",
    http_status=409,
    message="A stored secret does not open with this server key.",
    cause="The sealed value was sealed with another server key, tampered with, or copied from"
    " another row (sealed secrets are bound to the row that owns them).",
    fix="Restore the right server key, or recreate the host or set the secret again.",
)

USER_HAS_HOSTS = ErrorCode(
    code="STATE_016",
    slug="user_has_hosts",
    http_status=409,
    message="The user still has hosts that are not deleted.",
    cause="A user is deleted only once every host of theirs is deleted (deleted hosts never"
    " count: their rows stay for the audit trail).",
    fix="Pass with_hosts=true (cloudclaudectl users delete NAME --with-hosts) to delete their"
    " hosts first, or delete the hosts yourself.",
)

CREDENTIAL_NOT_FOUND = ErrorCode(
    code="STATE_017",
    slug="credential_not_found",
    http_status=404,
    message="No such API key.",
    cause="No stored credential has that id or name (or it is another user's own key).",
    fix="List the keys (GET /v1/admin/credentials, cloudclaudectl credentials list) and use"
    " one of those.",
)

CREDENTIAL_NAME_TAKEN = ErrorCode(
    code="STATE_018",
    slug="credential_name_taken",
    http_status=409,
    message="An API key with that name already exists.",
    cause="Credential names are unique (a user's own keys are named username/name).",
    fix="Choose another name, or rotate the existing key instead.",
)
