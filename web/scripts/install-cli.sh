#!/bin/sh
# Installs cloud-claude (the laptop CLI) into your home, no root: the zipapp goes to
# ~/.local/share/cloud-claude/ and a launcher to ~/.local/bin/cloud-claude. Needs Python >= 3.9
# and the OpenSSH client. Served by your cloudclaude server with its address and TLS key pin
# filled in; the download is checked against that pin, as this script was.
set -eu
server=@SERVER@
pin=@PIN@
fail() { echo "cloud-claude install: $*" >&2; exit 1; }
command -v python3 >/dev/null 2>&1 || fail "python3 is not installed (Python 3.9 or newer is needed)"
python3 -c 'import sys; sys.exit(0 if sys.version_info >= (3, 9) else 1)' \
    || fail "Python 3.9 or newer is needed (found $(python3 -V 2>&1))"
command -v ssh >/dev/null 2>&1 || echo "cloud-claude install: warning: no ssh client (OpenSSH) found" >&2
share="${XDG_DATA_HOME:-$HOME/.local/share}/cloud-claude"
bin="$HOME/.local/bin"
mkdir -p "$share" "$bin"
if [ -n "$pin" ]; then
    curl -fsSL -k --pinnedpubkey "$pin" -o "$share/cloud-claude.pyz.new" "$server/v1/cli/cloud-claude.pyz"
else
    curl -fsSL -o "$share/cloud-claude.pyz.new" "$server/v1/cli/cloud-claude.pyz"
fi
mv "$share/cloud-claude.pyz.new" "$share/cloud-claude.pyz"
cat > "$bin/cloud-claude" <<LAUNCHER
#!/bin/sh
exec python3 "$share/cloud-claude.pyz" "\$@"
LAUNCHER
chmod 0755 "$bin/cloud-claude"
echo "Installed $bin/cloud-claude"
case ":$PATH:" in *":$bin:"*) ;; *) echo "Add $bin to your PATH." ;; esac
echo "Next: cloud-claude login $server"
