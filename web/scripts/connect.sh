#!/bin/sh
# cloudclaude: log in to your box. Served by the cloudclaude server; run it as
#   curl -fsSL -k --pinnedpubkey 'PIN' SERVER/v1/bootstrap/script | sh   (your login password)
#   curl -fsSL -k --pinnedpubkey 'PIN' SERVER/entry/SHORT_ID | sh         (the box's SSH password)
# POSIX sh (dash works). Needs curl and OpenSSH 8.4 or newer. The password is read from the
# terminal without echo, sent once over HTTPS (never placed in a command line, a shell string
# or JSON), and ssh logs in with a one-time ticket; the proxy's host key is pinned. With a
# certificate from the server's local CA, every call checks the server's public-key pin (PIN):
# a server with another key gets no byte of the password.
# After a session that ended well it offers to add the proxy's host key (its fingerprint shown) to
# ~/.ssh/known_hosts, so plain ssh, scp and sshfs trust it too; CLOUDCLAUDE_KNOWN_HOSTS=yes adds
# it without asking, =no never asks.
# Exit codes: 10 wrong password, 11 account disabled, 12 account expired, 13 no such box,
# 14 start failed, 15 ssh not ready, 16 no exit assigned, 2 network or HTTP failure, 1 other;
# after login, the exit status of the session.
set -u
SERVER=@SERVER@
MODE=@MODE@
SHORT_ID=@SHORT_ID@
PIN=@PIN@

say() { printf 'cloudclaude: %s\n' "$*" >&2; }
die() { code=$1; shift; say "$*"; exit "$code"; }
field() { printf '%s\n' "$2" | sed -n "s/^$1 //p" | head -n 1; }
# curl pinned to the server's key when it has one (-k only skips the name check the pin replaces).
cc_curl() {
    if [ -n "$PIN" ]; then curl -k --pinnedpubkey "$PIN" "$@"; else curl "$@"; fi
}

command -v curl >/dev/null 2>&1 || die 1 "curl is needed"
command -v ssh >/dev/null 2>&1 || die 1 "the OpenSSH client (ssh) is needed"
( : </dev/tty ) 2>/dev/null || die 1 "no terminal to read the password from (run it in a terminal)"

# An answer of the server: the fields, or the error it carries (exit with its code).
answer() {
    if [ "$1" -ne 0 ]; then die 2 "cannot reach $SERVER (curl exit $1)"; fi
    code=$(field error_code "$2")
    if [ -n "$code" ]; then
        say "$(field message "$2") ($code)"
        fix=$(field fix "$2")
        [ -n "$fix" ] && printf '  fix: %s\n' "$fix" >&2
        exit_code=$(field exit_code "$2")
        case "$exit_code" in ''|*[!0-9]*) exit_code=1 ;; esac
        exit "$exit_code"
    fi
}

# The proxy's host key into ~/.ssh/known_hosts, if the user wants it and it is not there yet.
offer_known_host() {
    [ -n "${HOME:-}" ] || return 0
    file="$HOME/.ssh/known_hosts"
    grep -qxF "$known" "$file" 2>/dev/null && return 0
    case "${CLOUDCLAUDE_KNOWN_HOSTS:-ask}" in
        yes) ;;
        no) return 0 ;;
        *)
            printf "The server's SSH host key is %s.\nAdd it to %s so plain ssh trusts it?" \
                "$fingerprint" "$file" >/dev/tty
            printf ' [y/N] ' >/dev/tty
            IFS= read -r reply </dev/tty || reply=""
            case "$reply" in y|Y|yes|YES) ;; *) return 0 ;; esac
            ;;
    esac
    (umask 077 && mkdir -p "$HOME/.ssh" && printf '%s\n' "$known" >>"$file") \
        && say "added the host key to $file" || say "could not write $file"
}

ask_secret() {
    printf '%s' "$1" >/dev/tty
    saved=$(stty -g </dev/tty)
    stty -echo </dev/tty
    IFS= read -r secret </dev/tty || secret=""
    stty "$saved" </dev/tty
    printf '\n' >/dev/tty
}

if [ "$MODE" = bootstrap ]; then
    user=${1:-${CLOUDCLAUDE_USER:-}}
    if [ -z "$user" ]; then
        printf 'Username: ' >/dev/tty
        IFS= read -r user </dev/tty || user=""
    fi
    ask_secret "Password for $user: "
    resp=$(printf '%s' "$secret" | cc_curl -sS --data-urlencode "username=$user" \
        --data-urlencode "password@-" --data-urlencode "host=${CLOUDCLAUDE_HOST:-}" \
        "$SERVER/v1/bootstrap/sessions?format=sh")
    answer $? "$resp"
    secret=""
    task=$(field task_id "$resp")
    token=$(field token "$resp")
    [ -n "$task" ] && [ -n "$token" ] || die 2 "unexpected answer from $SERVER"
    seen=0
    while :; do
        resp=$(printf 'header = "Authorization: Bearer %s"\n' "$token" | cc_curl -sS -K - \
            "$SERVER/v1/bootstrap/tasks/$task?format=sh&after=$seen&wait_s=10")
        answer $? "$resp"
        printf '%s\n' "$resp" | sed -n 's/^event /starting: /p' >&2
        last=$(field last_seq "$resp")
        [ -n "$last" ] && seen=$last
        status=$(field status "$resp")
        case "$status" in
            succeeded) break ;;
            pending|running) ;;
            *) die 2 "unexpected answer from $SERVER" ;;
        esac
    done
    resp=$(printf 'header = "Authorization: Bearer %s"\n' "$token" | cc_curl -sS -K - \
        "$SERVER/v1/bootstrap/tasks/$task/handoff?format=sh")
    answer $? "$resp"
else
    ask_secret "Password for box $SHORT_ID: "
    resp=$(printf '%s' "$secret" | cc_curl -sS --data-urlencode "password@-" \
        "$SERVER/v1/entry/$SHORT_ID/auth?format=sh")
    answer $? "$resp"
    secret=""
fi

host=$(field host "$resp")
port=$(field port "$resp")
login=$(field user "$resp")
known=$(field known_hosts "$resp")
fingerprint=$(field fingerprint "$resp")
ticket=$(field ticket "$resp")
[ -n "$host" ] && [ -n "$port" ] && [ -n "$login" ] && [ -n "$known" ] && [ -n "$ticket" ] \
    || die 2 "unexpected answer from $SERVER"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/cloudclaude.XXXXXX") || die 1 "cannot make a temporary directory"
trap 'rm -rf "$tmp"' EXIT
trap ':' INT
printf '%s\n' "$known" >"$tmp/known_hosts"
printf '#!/bin/sh\nprintf "%%s\\n" "$CLOUDCLAUDE_TICKET"\n' >"$tmp/askpass"
chmod 700 "$tmp/askpass"
CLOUDCLAUDE_TICKET=$ticket SSH_ASKPASS="$tmp/askpass" SSH_ASKPASS_REQUIRE=force \
    ssh -t -p "$port" \
    -o StrictHostKeyChecking=yes -o UserKnownHostsFile="$tmp/known_hosts" \
    -o GlobalKnownHostsFile=/dev/null -o UpdateHostKeys=no \
    -o PreferredAuthentications=password -o PubkeyAuthentication=no \
    -o NumberOfPasswordPrompts=1 -o ServerAliveInterval=30 \
    "$login@$host" </dev/tty
status=$?
[ "$status" -eq 0 ] && offer_known_host  # only after a session that ended well
exit "$status"
