#!/usr/bin/env bash
# Builds the Debian package and checks it: lintian (errors fail), and the
# systemd unit verified inside the unpacked package. Installs cargo-deb,
# lintian and what systemd-analyze needs when missing. Not part of CI: a
# release build takes minutes here.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo-deb >/dev/null || cargo install cargo-deb --locked
command -v lintian >/dev/null || { apt-get update -qq && apt-get install -y -qq --no-install-recommends lintian >/dev/null; }
deb=$(cargo deb --locked 2>/dev/null | tail -n 1)
echo "built $deb"
lintian "$deb" || { echo "lintian found errors" >&2; exit 1; }
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
dpkg-deb -x "$deb" "$root"
mkdir -p "$root/usr/lib/systemd" "$root/bin"
cp -rn /lib/systemd/system "$root/usr/lib/systemd/"
cp /bin/kill "$root/bin/"
systemd-analyze verify --root="$root" keepsake.service
echo "package checks passed"
