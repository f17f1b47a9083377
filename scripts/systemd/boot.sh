#!/usr/bin/env bash
# Runs the Debian package under a real systemd: boots a Debian bookworm root
# file system (debootstrap, cached in /var/cache/keepsake-test) as a
# container with systemd-nspawn, installs the package there and runs
# scripts/systemd/boot-test.sh inside as a service, against a private
# PostgreSQL and S3 server (moto) started here on the shared loopback.
#
#   scripts/systemd/boot.sh PACKAGE.deb
#
# The container's changes go to a throwaway overlay. Exits with the test's
# status; its log and the container's journal are printed on failure.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ $# = 1 ] && [ -f "$1" ] || { echo "usage: $0 PACKAGE.deb" >&2; exit 64; }
deb=$(readlink -f "$1")
. scripts/services.sh

ROOTFS=/var/cache/keepsake-test/rootfs-systemd
# Everything but keepsake itself is in the root file system already, so the
# test installs the package with dpkg, without a network mirror.
PACKAGES=systemd,systemd-sysv,dbus,adduser,ca-certificates,postgresql-client
if [ ! -x "$ROOTFS/lib/systemd/systemd" ] || [ "$(cat "$ROOTFS.packages" 2>/dev/null)" != "$PACKAGES" ]; then
    echo "== making a Debian root file system with systemd in $ROOTFS (once, ~2 min)"
    rm -rf "$ROOTFS.tmp"
    install -d "$(dirname "$ROOTFS")"
    debootstrap --variant=minbase --include="$PACKAGES" bookworm "$ROOTFS.tmp" >/dev/null
    rm -rf "$ROOTFS" && mv "$ROOTFS.tmp" "$ROOTFS"
    echo "$PACKAGES" >"$ROOTFS.packages"
fi

base=$(mktemp -d /tmp/keepsake-boot.XXXXXX)
chmod 755 "$base"
id="keepsake-boot-$$"
cgroups=()
nspawn_pid=""
cleanup() {
    if [ -n "$nspawn_pid" ] && kill -0 "$nspawn_pid" 2>/dev/null; then
        kill -KILL "$nspawn_pid" 2>/dev/null || true
    fi
    for d in "${cgroups[@]}"; do
        find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null || true
    done
    services_stop
    rm -rf "$base"
}
trap cleanup EXIT

# The services, a role that logs in and reads everything, data, a bucket.
services_start "$base"
psql_admin() { psql -h "$KS_PGHOST" -p "$KS_PGPORT" -U postgres -X -q -v ON_ERROR_STOP=1 "$@"; }
psql_admin -d postgres -c "CREATE ROLE keepsake LOGIN" -c "GRANT pg_read_all_data TO keepsake" \
    -c "CREATE DATABASE boot_shop"
psql_admin -d boot_shop -c "CREATE TABLE orders (id int PRIMARY KEY, note text)" \
    -c "INSERT INTO orders SELECT g, 'order ' || g FROM generate_series(1, 1000) g"
python3 - "$KS_S3_URL" <<'PY'
import sys, boto3
s3 = boto3.client("s3", endpoint_url=sys.argv[1], aws_access_key_id="test",
                  aws_secret_access_key="test", region_name="us-east-1")
s3.create_bucket(Bucket="boot-test")
PY

share="$base/share" out="$base/out" in="$base/in"
install -d "$share" "$out" "$in"
cp "$deb" "$share/keepsake.deb"
cat >"$share/env" <<ENV
PGHOST=$KS_PGHOST
PGPORT=$KS_PGPORT
S3_URL=$KS_S3_URL
ENV
install -m 0755 scripts/systemd/boot-test.sh "$in/test.sh"
cat >"$in/boot-test.service" <<'UNIT'
[Unit]
Description=keepsake package test
After=basic.target
# The container powers off when the test ends; nspawn exits then.
SuccessAction=exit
FailureAction=exit

[Service]
Type=exec
ExecStart=/run/keepsake-boot/in/test.sh
ExecStopPost=/bin/sh -c 'echo "$EXIT_STATUS" >/run/keepsake-boot/out/status; journalctl -b --no-pager >/run/keepsake-boot/out/journal.txt 2>&1'
StandardOutput=append:/run/keepsake-boot/out/test.log
StandardError=inherit
RuntimeMaxSec=300
UNIT

# Its own cgroup on each hierarchy systemd uses, so that systemd in the
# container can manage it although this host's PID 1 is not systemd.
for h in /sys/fs/cgroup /sys/fs/cgroup/unified /sys/fs/cgroup/systemd; do
    case "$h:$(stat -f -c %T "$h" 2>/dev/null)" in
        /sys/fs/cgroup:cgroup2fs | */unified:cgroup2fs | /sys/fs/cgroup/systemd:cgroupfs)
            install -d "$h/$id" && cgroups+=("$h/$id") ;;
    esac
done
[ ${#cgroups[@]} -gt 0 ] || { echo "no cgroup hierarchy for the container" >&2; exit 1; }

echo "== booting $ROOTFS with systemd-nspawn; the package test runs inside"
export SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1
setsid bash -c 'for d in "$@"; do [ "$d" = -- ] && break; echo $$ >"$d/cgroup.procs"; done
    while [ "$1" != -- ]; do shift; done; shift; exec systemd-nspawn "$@"' bar "${cgroups[@]}" -- \
    -D "$ROOTFS" --machine="$id" --register=no --keep-unit --console=pipe --quiet \
    --volatile=overlay --system-call-filter=bpf \
    --bind-ro="$in:/run/keepsake-boot/in" --bind-ro="$share:/run/keepsake-boot/share" \
    --bind="$out:/run/keepsake-boot/out" \
    --bind-ro="$in/boot-test.service:/run/systemd/system/boot-test.service" \
    -b -- systemd.wants=boot-test.service systemd.show_status=0 \
    >"$base/nspawn.log" 2>&1 </dev/null &
nspawn_pid=$!
deadline=$((SECONDS + 420))
while kill -0 "$nspawn_pid" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.5; done
if kill -0 "$nspawn_pid" 2>/dev/null; then
    leader=$(ps -o pid= --ppid "$nspawn_pid" | head -n 1 | tr -d ' ')
    [ -n "$leader" ] && kill -s SIGRTMIN+4 "$leader" 2>/dev/null || true
    sleep 5
fi
status=$(cat "$out/status" 2>/dev/null || echo "none")
cat "$out/test.log" 2>/dev/null || true
if [ "$status" != 0 ]; then
    echo "FAIL: the package test in the container ended with status $status" >&2
    echo "--- the container's journal (keepsake units)" >&2
    grep -E "keepsake" "$out/journal.txt" 2>/dev/null | tail -n 80 >&2 || cat "$base/nspawn.log" >&2
    exit 1
fi
echo "== the package works under systemd"
