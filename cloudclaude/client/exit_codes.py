"""The CLI's exit statuses: stable, documented (``cloud-claude --help``), and for an error from
the server the registry's own exit code (the one the curl scripts use)."""

from __future__ import annotations

OK = 0
#: Something failed that has no more specific status.
FAILED = 1
#: The command line was wrong (argparse's own status).
USAGE = 2
#: The server cannot be reached, or its TLS key is not the pinned one.
UNREACHABLE = 3
#: ``explain`` was given a code the registry does not have.
UNKNOWN_CODE = 4
#: Not signed in (no profile, or the token was refused): run ``cloud-claude login``.
SIGNED_OUT = 5
#: The SSH host key or TLS key the server shows now differs from the one pinned.
PIN_MISMATCH = 6
#: A session's connection was lost and did not come back within the reconnect limit (NET_018).
CONNECTION_LOST = 7

DESCRIPTIONS = {
    OK: "success",
    FAILED: "failure (also a server error without its own status)",
    USAGE: "bad command line",
    UNREACHABLE: "server unreachable",
    UNKNOWN_CODE: "unknown error code (explain)",
    SIGNED_OUT: "not signed in, or the token was refused",
    PIN_MISMATCH: "the server's key is not the pinned one",
    CONNECTION_LOST: "the connection was lost and did not come back (NET_018)",
}
