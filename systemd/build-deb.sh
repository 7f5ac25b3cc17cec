#!/bin/bash
# Build dist/cloudclaude_<version>_amd64.deb from this checkout (as root, on Debian 12).
#
#   systemd/build-deb.sh [OUTPUT_DIR]        (what `make deb` runs; OUTPUT_DIR defaults to dist/)
#
# A virtualenv is not relocatable, so it is made at its final path, /opt/cloudclaude/.venv, from
# Debian's /usr/bin/python3: in a private mount namespace the staged tree's opt/ is bound over
# /opt, so this machine's /opt is never touched. The project is installed from a copy of its
# files (never this checkout's path), with the versions of $CONSTRAINTS (a pip freeze) when
# given. The package is the staged tree: venv, box image inputs, units, sysusers, tmpfiles, the
# commented /etc/cloudclaude/cloudclaude.toml conffile and the maintainer scripts beside this
# file (deb/). No file of the package may name this checkout or the scratch directory.
set -euo pipefail

SRC_ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT_DIR=$(realpath -m "${1:-$SRC_ROOT/dist}")
HERE=$SRC_ROOT/systemd
SYSTEM_PYTHON=/usr/bin/python3
VERSION=$(sed -n 's/^version = "\(.*\)"$/\1/p' "$SRC_ROOT/pyproject.toml" | head -n1)
ARCH=$(dpkg --print-architecture)
[ -n "$VERSION" ] || { echo "no version in pyproject.toml" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "build-deb.sh runs as root (it makes a mount namespace)" >&2; exit 1; }
[ -x "$SYSTEM_PYTHON" ] || { echo "$SYSTEM_PYTHON missing: apt-get install python3-venv" >&2; exit 1; }
[ -f "$SRC_ROOT/web/static/vendor/.stamp" ] || { echo "web assets missing: run make web-assets" >&2; exit 1; }

SCRATCH=$(mktemp -d /var/tmp/cc-deb.XXXXXX)
trap 'rm -rf "$SCRATCH"' EXIT
PKG=$SCRATCH/pkg
SRC=$SCRATCH/src
mkdir -p "$PKG/opt/cloudclaude" "$SRC"

echo "==> copying the sources"
tar -C "$SRC_ROOT" --exclude=__pycache__ --exclude='*.pyc' --exclude=node_modules \
	-cf - pyproject.toml README.md cloudclaude agent web | tar -C "$SRC" -xf -

echo "==> making /opt/cloudclaude/.venv with $SYSTEM_PYTHON and installing cloudclaude $VERSION"
PIP_ARGS=(install -q --no-cache-dir --disable-pip-version-check)
if [ -n "${CONSTRAINTS:-}" ]; then
	grep -v -e '^-e ' -e '^cloudclaude[= @]' "$CONSTRAINTS" > "$SCRATCH/constraints.txt"
	PIP_ARGS+=(-c "$SCRATCH/constraints.txt")
fi
# Only /opt/cloudclaude is covered (pip's configured indexes may live elsewhere under /opt); an
# empty mount point made here is removed again.
made_mountpoint=no
[ -d /opt/cloudclaude ] || { mkdir -p /opt/cloudclaude; made_mountpoint=yes; }
trap 'rm -rf "$SCRATCH"; [ $made_mountpoint = no ] || rmdir /opt/cloudclaude' EXIT
unshare --mount --propagation private -- bash -euo pipefail -c '
	mount --bind "$1/opt/cloudclaude" /opt/cloudclaude
	"$2" -m venv /opt/cloudclaude/.venv
	shift 2
	/opt/cloudclaude/.venv/bin/pip "$@"
' build "$PKG" "$SYSTEM_PYTHON" "${PIP_ARGS[@]}" "$SRC"
# pip records where it installed from; that path is gone once this script ends.
find "$PKG/opt/cloudclaude/.venv" -name direct_url.json -delete
INSTALLED=$("$PKG/opt/cloudclaude/.venv/bin/python" -c 'import sys; print(sys.version)' 2>/dev/null || true)
[ -x "$PKG/opt/cloudclaude/.venv/bin/cloudclaude" ] || { echo "venv has no cloudclaude" >&2; exit 1; }

echo "==> staging units, sysusers, tmpfiles, configuration and the box image inputs"
cp -a "$SRC_ROOT/image" "$PKG/opt/cloudclaude/image"
install -m 0644 "$SRC_ROOT/README.md" "$PKG/opt/cloudclaude/README.md"
install -d "$PKG/lib/systemd/system" "$PKG/usr/lib/sysusers.d" "$PKG/usr/lib/tmpfiles.d" \
	"$PKG/usr/bin" "$PKG/etc/cloudclaude" "$PKG/DEBIAN"
for unit in cloudclaude.service cloudclaude-agent.socket cloudclaude-agent.service \
	cloudclaude-image.service; do
	install -m 0644 "$HERE/$unit" "$PKG/lib/systemd/system/$unit"
done
install -m 0644 "$HERE/cloudclaude.sysusers" "$PKG/usr/lib/sysusers.d/cloudclaude.conf"
install -m 0644 "$HERE/cloudclaude.tmpfiles" "$PKG/usr/lib/tmpfiles.d/cloudclaude.conf"
install -m 0644 "$HERE/deb/cloudclaude.toml" "$PKG/etc/cloudclaude/cloudclaude.toml"
for cmd in cloudclaude cloudclaudectl; do
	ln -s "/opt/cloudclaude/.venv/bin/$cmd" "$PKG/usr/bin/$cmd"
done
for script in postinst prerm postrm; do
	install -m 0755 "$HERE/deb/$script" "$PKG/DEBIAN/$script"
done
install -m 0644 "$HERE/deb/conffiles" "$PKG/DEBIAN/conffiles"
SIZE=$(du -sk --exclude=DEBIAN "$PKG" | cut -f1)
sed -e "s/@VERSION@/$VERSION/" -e "s/@ARCH@/$ARCH/" -e "s/@SIZE@/$SIZE/" \
	"$HERE/deb/control" > "$PKG/DEBIAN/control"

echo "==> checking that no file names the build paths"
if grep -rlF -e "$SRC_ROOT" -e "$SCRATCH" "$PKG" >"$SCRATCH/leaks" 2>/dev/null; then
	echo "these files name the build checkout or scratch directory:" >&2
	cat "$SCRATCH/leaks" >&2
	exit 1
fi

mkdir -p "$OUT_DIR"
DEB=$OUT_DIR/cloudclaude_${VERSION}_${ARCH}.deb
dpkg-deb --root-owner-group -Zxz -z1 --build "$PKG" "$DEB.tmp" >/dev/null
mv "$DEB.tmp" "$DEB"
echo "==> built $DEB (python ${INSTALLED%% *})"
