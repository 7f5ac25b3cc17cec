"""SYSTEM_* error codes. The daemon itself: requests, configuration, database, agent, dockerd.

Each constant is one registry row, named after its slug in upper case;
``cloudclaude.errors.codes`` assembles ``REGISTRY`` from these modules in definition order.
Codes and slugs are never reused.
"""

from __future__ import annotations

from cloudclaude.errors.base import ErrorCode

INTERNAL_ERROR = ErrorCode(
    code="SYSTEM_001",
    slug="internal_error",
    http_status=500,
    message="Internal error.",
    cause="An unexpected failure; the server log has the details.",
    fix="Retry; report the time of the failure to an admin if it persists.",
)

DATABASE_UNAVAILABLE = ErrorCode(
    code="SYSTEM_002",
    slug="database_unavailable",
    http_status=503,
    message="The database is unavailable.",
    cause="PostgreSQL cannot be reached or did not answer in time.",
    fix="Check that PostgreSQL runs and that database.url is right.",
)

BAD_REQUEST = ErrorCode(
    code="SYSTEM_003",
    slug="bad_request",
    http_status=400,
    message="The request could not be read.",
    cause="The body is not valid JSON, or a header or a parameter is malformed.",
    fix="Fix what the message names; a body must be a JSON object sent with"
    " Content-Type: application/json.",
)

VALIDATION_FAILED = ErrorCode(
    code="SYSTEM_004",
    slug="validation_failed",
    http_status=422,
    message="The request has invalid fields.",
    cause="A field is unknown, missing, or of the wrong type or range.",
    fix="Fix the fields named in the message.",
)

BODY_TOO_LARGE = ErrorCode(
    code="SYSTEM_005",
    slug="body_too_large",
    http_status=413,
    message="The request body is too large.",
    cause="The body exceeds web.max_body_bytes.",
    fix="Send a smaller body.",
)

METHOD_NOT_ALLOWED = ErrorCode(
    code="SYSTEM_006",
    slug="method_not_allowed",
    http_status=405,
    message="Method not allowed.",
    cause="This path does not accept that HTTP method.",
    fix="Check the API reference.",
)

CONFIG_INVALID = ErrorCode(
    code="SYSTEM_007",
    slug="config_invalid",
    http_status=400,
    message="The configuration is invalid.",
    cause="A key in the config file or a CLOUDCLAUDE_* variable is unknown or has a wrong value.",
    fix="Fix the key named in the message; `cloudclaude config check FILE` validates.",
)

PROTOCOL_ERROR = ErrorCode(
    code="SYSTEM_008",
    slug="protocol_error",
    http_status=400,
    message="Malformed control message.",
    cause="A frame was too large, truncated, not JSON, or not a known message.",
    fix="Use a cloudclaudectl of the same version as the daemon.",
)

DAEMON_UNREACHABLE = ErrorCode(
    code="SYSTEM_009",
    slug="daemon_unreachable",
    http_status=503,
    message="The cloudclaude daemon is not reachable.",
    cause="Nothing listens on the control socket, or the socket path is wrong.",
    fix="Start the daemon (`make up` or `systemctl start cloudclaude`) or pass --socket.",
)

METRICS_FORBIDDEN = ErrorCode(
    code="SYSTEM_010",
    slug="metrics_forbidden",
    http_status=403,
    message="Metrics are served to loopback only.",
    cause="No metrics token is configured and the request came from another address.",
    fix="Scrape from the server itself or set metrics.token and send it as a bearer token.",
)

AGENT_UNAVAILABLE = ErrorCode(
    code="SYSTEM_011",
    slug="agent_unavailable",
    http_status=503,
    message="The privileged agent is not available.",
    cause="The agent is not configured or not reachable.",
    fix="Start cloudclaude-agent or check the agent settings.",
)

PROTOCOL_VERSION_MISMATCH = ErrorCode(
    code="SYSTEM_012",
    slug="protocol_version_mismatch",
    http_status=503,
    message="The daemon and the agent speak different protocol versions.",
    cause="cloudclaude and cloudclaude-agent come from different releases.",
    fix="Install the same version of both and restart them.",
)

DOCKER_UNAVAILABLE = ErrorCode(
    code="SYSTEM_013",
    slug="docker_unavailable",
    http_status=503,
    message="The agent cannot reach dockerd.",
    cause="dockerd is not running or its socket is not where the agent looks.",
    fix="Start dockerd (make up does) or set agent.docker_socket.",
)

DOCKER_ERROR = ErrorCode(
    code="SYSTEM_014",
    slug="docker_error",
    http_status=500,
    message="dockerd refused an operation.",
    cause="The Docker Engine API answered with an error; its message is in the detail.",
    fix="Read the detail and the dockerd log.",
)

IMAGE_BUILD_FAILED = ErrorCode(
    code="SYSTEM_015",
    slug="image_build_failed",
    http_status=500,
    message="The box image could not be built.",
    cause="A build step failed (no package mirror reachable, a changed checksum, a full disk).",
    fix="Read the build output, fix the cause and run cloudclaude image build again.",
)

RUNS_AS_ROOT = ErrorCode(
    code="SYSTEM_016",
    slug="runs_as_root",
    http_status=500,
    message="The daemon refuses to run as root.",
    cause="cloudclaude run was started with euid 0; the internet-facing daemon holds no host"
    " privileges (the agent does what needs root).",
    fix="Run it as the cloudclaude user (systemd's cloudclaude.service, or `make up`, which"
    ' starts it so); only a development embedded agent (agent.mode = "embedded") may run'
    " as root.",
)

UP_NEEDS_ROOT = ErrorCode(
    code="SYSTEM_017",
    slug="up_needs_root",
    http_status=500,
    message="cloudclaude up must be started as root.",
    cause="It creates the cloudclaude user, starts the agent as root and the daemon as"
    " cloudclaude, as production runs them.",
    fix="Run `make up` (or `cloudclaude up`) as root.",
)

DOCKER_TIMEOUT = ErrorCode(
    code="SYSTEM_018",
    slug="docker_timeout",
    http_status=504,
    message="dockerd did not answer in time.",
    cause="A Docker Engine API call ran past the agent's deadline (docker_limits.call_s, or"
    " build_s for image builds); dockerd is overloaded or stuck.",
    fix="Check that `docker info` answers quickly and read the dockerd log; retry.",
)

DOCKER_REPLY_TOO_LARGE = ErrorCode(
    code="SYSTEM_019",
    slug="docker_reply_too_large",
    http_status=502,
    message="dockerd's answer was too large.",
    cause="An Engine API answer or a build progress line was over the agent's cap"
    " (docker_limits.reply_max_bytes or line_max_bytes); the agent stopped reading it.",
    fix="Remove what makes the answer huge (thousands of containers or images), or raise the cap.",
)

BOX_EXEC_TIMEOUT = ErrorCode(
    code="SYSTEM_020",
    slug="box_exec_timeout",
    http_status=504,
    message="A command the agent ran in the box did not finish in time.",
    cause="The box's programs did not exit within docker_limits.exec_s; whoever is root in the"
    " box may have replaced them. The agent killed the command.",
    fix="Rebuild the box if its system files were changed; otherwise retry.",
)

BOX_EXEC_OUTPUT_TOO_LARGE = ErrorCode(
    code="SYSTEM_021",
    slug="box_exec_output_too_large",
    http_status=502,
    message="A command the agent ran in the box printed too much.",
    cause="Its output passed docker_limits.exec_output_max_bytes; whoever is root in the box may"
    " have replaced the programs it runs. The agent stopped reading and killed the command.",
    fix="Rebuild the box if its system files were changed; otherwise retry.",
)

ACTIVITY_UNREADABLE = ErrorCode(
    code="SYSTEM_022",
    slug="activity_unreadable",
    http_status=500,
    message="The box's activity counters could not be read.",
    cause="The agent found no cgroup (v1 cpuacct or v2) of the box's container on the host, or"
    " the container stopped while it was reading.",
    fix="Check that the agent runs as root in the host's PID namespace and sees /sys/fs/cgroup.",
)

TLS_UNUSABLE = ErrorCode(
    code="SYSTEM_023",
    slug="tls_unusable",
    http_status=500,
    message="The TLS certificate or key cannot be used.",
    cause="web.tls_cert or web.tls_key is missing, unreadable, or the key does not match.",
    fix="Point web.tls_cert and web.tls_key at a readable PEM certificate chain and its key;"
    " leave both empty to use the local CA.",
)

PLAIN_HTTP_TO_TLS = ErrorCode(
    code="SYSTEM_024",
    slug="plain_http_to_tls",
    http_status=400,
    message="This port speaks HTTPS; plain HTTP was sent.",
    cause="The client used http:// for a listener that only speaks TLS.",
    fix="Use https:// in the address (for the local CA, curl -k --pinnedpubkey with the pin"
    " the server printed).",
)

BAD_QUERY = ErrorCode(
    code="SYSTEM_025",
    slug="bad_query",
    http_status=400,
    message="A query parameter is malformed.",
    cause="A parameter after the ? in the address is not a number, or is out of its range.",
    fix="Fix the query parameter the message names (for example ?limit=50&offset=0).",
)

RESTORE_REFUSED = ErrorCode(
    code="SYSTEM_026",
    slug="restore_refused",
    http_status=409,
    message="A restore cannot run now.",
    cause="The daemon is running (its control socket answers), or the restore was not run as root.",
    fix="Stop the daemon (systemctl stop cloudclaude, or stop `make up`) and run"
    " `cloudclaude restore` as root.",
)
