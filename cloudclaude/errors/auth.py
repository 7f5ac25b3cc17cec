"""AUTH_* error codes. Logins, tokens, roles, passwords, SSH keys and CSRF.

Each constant is one registry row, named after its slug in upper case;
``cloudclaude.errors.codes`` assembles ``REGISTRY`` from these modules in definition order.
Codes and slugs are never reused.
"""

from __future__ import annotations

from cloudclaude.errors.base import ErrorCode

AUTH_INVALID = ErrorCode(
    code="AUTH_001",
    slug="auth_invalid",
    http_status=401,
    exit_code=10,
    message="Wrong username or password.",
    cause="The username does not exist or the password does not match.",
    fix="Check the username and password; ask an admin to rotate the password if it is lost.",
)

ACCOUNT_DISABLED = ErrorCode(
    code="AUTH_002",
    slug="account_disabled",
    http_status=403,
    exit_code=11,
    message="This account is disabled.",
    cause="An admin disabled the account.",
    fix="Ask an admin to enable the account.",
)

ACCOUNT_EXPIRED = ErrorCode(
    code="AUTH_003",
    slug="account_expired",
    http_status=403,
    exit_code=12,
    message="This account has expired.",
    cause="The account's expiry date has passed.",
    fix="Ask an admin to extend the expiry date.",
)

AUTH_REQUIRED = ErrorCode(
    code="AUTH_004",
    slug="auth_required",
    http_status=401,
    message="Authentication required.",
    cause="The request carried no bearer token.",
    fix="Log in with POST /v1/auth/login and send 'Authorization: Bearer <token>'.",
)

TOKEN_INVALID = ErrorCode(
    code="AUTH_005",
    slug="token_invalid",
    http_status=401,
    message="The token is invalid or has expired.",
    cause="The token is malformed, forged, signed by an unknown key, or past its expiry.",
    fix="Log in again to get a fresh token.",
)

FORBIDDEN = ErrorCode(
    code="AUTH_006",
    slug="forbidden",
    http_status=403,
    message="You are not allowed to do this.",
    cause="The action needs a role this account does not have.",
    fix="Use an admin account, or ask an admin to do it.",
)

RATE_LIMITED = ErrorCode(
    code="AUTH_007",
    slug="rate_limited",
    http_status=429,
    message="Too many attempts; try again later.",
    cause="Too many login attempts from this address or for this user in a short time.",
    fix="Wait for the time given in Retry-After, then try again.",
)

PASSWORD_INVALID = ErrorCode(
    code="AUTH_008",
    slug="password_invalid",
    http_status=422,
    message="The password does not meet the rules.",
    cause="Passwords need 10 to 1024 characters.",
    fix="Choose a longer password.",
)

CURRENT_PASSWORD_WRONG = ErrorCode(
    code="AUTH_009",
    slug="current_password_wrong",
    http_status=403,
    message="The current password is wrong.",
    cause="Changing a password needs the current one.",
    fix="Type the current password again.",
)

PEER_NOT_ALLOWED = ErrorCode(
    code="AUTH_010",
    slug="peer_not_allowed",
    http_status=403,
    message="This local user may not use the control socket.",
    cause="The connecting process's uid and groups are not on the control socket's allow-list.",
    fix="Run as root or as a member of the configured admin group (ctl.group).",
)

SSH_KEY_INVALID = ErrorCode(
    code="AUTH_011",
    slug="ssh_key_invalid",
    http_status=422,
    message="The SSH public key could not be read.",
    cause="The text is not an OpenSSH public key line.",
    fix="Paste one line such as 'ssh-ed25519 AAAA... comment' from your .pub file.",
)

CSRF_INVALID = ErrorCode(
    code="AUTH_012",
    slug="csrf_invalid",
    http_status=403,
    message="The form is out of date or did not come from this site.",
    cause="A page request that changes something lacked the page's CSRF token, or it was wrong.",
    fix="Reload the page and submit the form again.",
)

AUTH_BUSY = ErrorCode(
    code="AUTH_013",
    slug="auth_busy",
    http_status=503,
    message="Too many sign-ins are being checked right now; try again shortly.",
    cause="The queue of password checks waiting for a free slot is full.",
    fix="Wait for the time given in Retry-After, then try again.",
)

SESSION_ENDED = ErrorCode(
    code="AUTH_014",
    slug="session_ended",
    http_status=401,
    message="This session has ended; sign in again.",
    cause=(
        "The session was signed out, or ended because the password was changed or reset, the"
        " account was disabled, expired or lost its admin role."
    ),
    fix="Sign in again (POST /v1/auth/login or the sign-in page).",
)

RECENT_AUTH_REQUIRED = ErrorCode(
    code="AUTH_015",
    slug="recent_auth_required",
    http_status=403,
    message="Confirm your password to do this.",
    cause="This change needs the current password or a sign-in from the last few minutes.",
    fix="Send your current password with the request (current_password), or sign in again.",
)

TOKEN_SCOPE_DENIED = ErrorCode(
    code="AUTH_016",
    slug="token_scope_denied",
    http_status=403,
    message="This token may only be used for the bootstrap steps.",
    cause="The token came from POST /v1/bootstrap/sessions, which grants nothing else.",
    fix="Sign in with POST /v1/auth/login for a full token.",
)

SELF_SERVICE_OFF = ErrorCode(
    code="AUTH_017",
    slug="self_service_off",
    http_status=403,
    message="Users cannot make or delete their own boxes here.",
    cause="users.self_service is off on this server.",
    fix="Ask an admin to make the box for you.",
    admin_fix="Turn users.self_service on, or make the box on the Hosts page.",
)

USER_KEYS_OFF = ErrorCode(
    code="AUTH_018",
    slug="user_keys_off",
    http_status=403,
    message="Users cannot add their own API keys here.",
    cause="credentials.user_keys is off on this server.",
    fix="Ask an admin to assign you a key, or use your own Claude subscription (/me).",
    admin_fix="Turn credentials.user_keys on, or assign the user a key on the Credentials page.",
)

API_KEY_INVALID = ErrorCode(
    code="AUTH_019",
    slug="api_key_invalid",
    http_status=422,
    message="That is not a usable API key.",
    cause="An API key is 20 to 512 printable ASCII characters without spaces or line breaks.",
    fix="Paste the whole key (sk-ant-...) as one line, with nothing before or after it.",
)

# --- the credentials endpoint (Claude Code in a box); answered in the Messages API's format ---

LLM_KEY_MISSING = ErrorCode(
    code="AUTH_020",
    slug="llm_key_missing",
    http_status=403,
    message="No API key is assigned to you.",
    cause="Claude Code in the box asked the gateway, which holds no key for this user.",
    fix="Ask your admin to assign you a key, or add your own on your page (/me).",
    admin_fix="Assign the user a key or make one the team default (cloudclaudectl credentials).",
)

LLM_BUDGET_SPENT = ErrorCode(
    code="AUTH_021",
    slug="llm_budget_spent",
    http_status=403,
    message="Your monthly token budget is used up.",
    cause="The tokens counted this calendar month (UTC) reached the user's budget.",
    fix="Wait for the reset at the start of next month, or ask your admin for a larger budget.",
    admin_fix="Raise it: cloudclaudectl users budget NAME TOKENS (or the Usage page).",
)

LLM_GATEWAY_OFF = ErrorCode(
    code="AUTH_022",
    slug="llm_gateway_off",
    http_status=403,
    message="You chose to use your own Claude subscription.",
    cause="The team key is switched off for this user, so the gateway puts no key in.",
    fix="Run /login in claude, or switch the team key back on on your page (/me).",
)
