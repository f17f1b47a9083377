#!/usr/bin/env bash
# A throwaway single-node Ceph cluster (one ceph-mon, one ceph-osd, no mgr)
# and radosgw on 127.0.0.1:PORT, with one S3 user; from the project's shared
# recipe (recipes/ceph-rgw). Installs the Debian packages when missing.
# Prints `export AWS_ACCESS_KEY_ID=... AWS_SECRET_ACCESS_KEY=... S3URL=...`
# on stdout, progress and errors on stderr. Stop it with stop.sh WORKDIR.
#
#   scripts/rgw/start.sh WORKDIR PORT
#
# WORKDIR is made afresh (logs under WORKDIR/log); if it exists it must be
# empty or hold an earlier cluster of this script, which is stopped first.
# Environment:
#   RGW_STORE=memstore|bluestore      objects in the OSD's RAM (default) or in
#                                     a sparse file WORKDIR/osd.0/block.file
#   RGW_STORE_BYTES=N                 capacity of the store (default 4 GiB)
#   RGW_STORAGE_CLASSES="..."         storage classes besides STANDARD
#                                     (default "STANDARD_IA"; "" for none)
#   RGW_ACCESS_KEY, RGW_SECRET_KEY    keys of the S3 user (default fixed test keys)
#   RGW_START_TIMEOUT=N               seconds to wait for each daemon (default 120)
set -euo pipefail

work=${1:?usage: start.sh WORKDIR PORT}
port=${2:?usage: start.sh WORKDIR PORT}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
store=${RGW_STORE:-memstore}
store_bytes=${RGW_STORE_BYTES:-$((4 * 1024 * 1024 * 1024))}
classes=${RGW_STORAGE_CLASSES-STANDARD_IA}
access_key=${RGW_ACCESS_KEY:-TESTACCESSKEY0000001}
secret_key=${RGW_SECRET_KEY:-testsecretkey0000000000000000000000000001}
timeout=${RGW_START_TIMEOUT:-120}
# Ceph's tools read these; a stray one from the caller must not redirect them.
unset CEPH_ARGS CEPH_CONF

log() { echo "[rgw $(date +%T)] $*" >&2; }
die() {
    log "ERROR: $*"
    if [ -d "$work/log" ]; then
        for f in "$work"/log/*.log "$work"/log/*.out "$work"/log/*.err; do
            [ -s "$f" ] && { echo "--- tail $f" >&2; tail -n 15 "$f" >&2; }
        done
    fi
    # Stop what was started; keep the directory (its logs) for stop.sh to remove.
    if [ -f "$work/pids" ]; then
        while read -r pid _; do kill -KILL "$pid" 2>/dev/null || true; done <"$work/pids"
    fi
    exit 1
}
case $store in memstore|bluestore) ;; *) die "RGW_STORE must be memstore or bluestore" ;; esac
case $port in ''|*[!0-9]*) die "PORT must be a number" ;; esac

# ---- 1. packages ------------------------------------------------------------
# Debian's python3: it has the rados module the packages ship (a python3
# earlier on PATH, e.g. pyenv's, does not).
py=/usr/bin/python3
pkgs="ceph-mon ceph-osd radosgw ceph-common"
if ! command -v ceph-mon >/dev/null || ! command -v ceph-osd >/dev/null ||
    ! command -v radosgw >/dev/null || ! command -v radosgw-admin >/dev/null ||
    ! command -v ceph >/dev/null || ! command -v ceph-authtool >/dev/null ||
    ! command -v monmaptool >/dev/null || ! "$py" -c 'import rados' 2>/dev/null; then
    log "installing $pkgs (Debian, --no-install-recommends, ~35 s once)"
    apt_log=$(mktemp /tmp/keepsake-rgw-apt.XXXXXX)
    # shellcheck disable=SC2086
    if ! { DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $pkgs ||
        { apt-get update -q && DEBIAN_FRONTEND=noninteractive \
            apt-get install -y -q --no-install-recommends $pkgs; }; } >"$apt_log" 2>&1; then
        tail -n 30 "$apt_log" >&2
        rm -f "$apt_log"
        die "apt-get install $pkgs failed"
    fi
    rm -f "$apt_log"
fi

# ---- 2. a fresh work dir ------------------------------------------------------
if [ -f "$work/pids" ] || [ -f "$work/ceph.conf" ]; then
    log "$work holds a cluster already: stopping it first"
    "$here/stop.sh" "$work"
elif [ -e "$work" ] && [ -n "$(ls -A "$work" 2>/dev/null)" ]; then
    echo "[rgw] $work is not empty and holds no cluster: not touching it" >&2
    exit 1
fi
port_busy() { "$py" -c 'import socket,sys; s=socket.socket(); sys.exit(0 if s.connect_ex(("127.0.0.1",int(sys.argv[1])))==0 else 1)' "$1"; }
port_busy "$port" && { echo "[rgw] 127.0.0.1:$port is already in use" >&2; exit 1; }
rm -rf "$work"
mkdir -p "$work"/{run,log,crash,mon.a,osd.0,rgw}
work=$(cd "$work" && pwd)
: >"$work/pids"
conf=$work/ceph.conf
t0=$(date +%s.%N)

mon_port=$("$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
fsid=$(cat /proc/sys/kernel/random/uuid)
osd_uuid=$(cat /proc/sys/kernel/random/uuid)

# ---- 3. config ------------------------------------------------------------------
cat >"$conf" <<CONF
[global]
fsid = $fsid
mon host = [v2:127.0.0.1:$mon_port]
mon initial members = a
public addr = 127.0.0.1
ms bind ipv6 = false
ms bind msgr1 = false
auth cluster required = none
auth service required = none
auth client required = none
# radosgw defaults to ms_mon_client_mode=secure, which auth none cannot do
ms mon client mode = crc
ms client mode = crc
keyring = $work/keyring
run dir = $work/run
admin socket = $work/run/\$name.asok
pid file = $work/run/\$name.pid
log file = $work/log/\$name.log
crash dir = $work/crash
log to stderr = false
err to stderr = false
log to syslog = false
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
mon warn on pool no app = false
mon warn on insecure global id reclaim = false
mon warn on insecure global id reclaim allowed = false
mon data avail warn = 2
mon data avail crit = 1

[mon]
mon data = $work/mon.\$id
mon cluster log file = $work/log/cluster.log
# commit map changes quickly (the default 1 s per proposal makes every pool
# creation cost ~2 s)
paxos propose interval = 0.05
paxos min wait = 0.01

[osd]
osd data = $work/osd.\$id
osd objectstore = $store
memstore device bytes = $store_bytes
bluestore block path = $work/osd.\$id/block.file
bluestore block create = true
bluestore block size = $store_bytes
bluestore block db path =
bluestore block wal path =
bluestore block db create = false
bluestore block wal create = false
bluestore fsck on mkfs = false
bluestore fsck on mount = false
bluestore fsck on umount = false
osd memory target = 1073741824
osd crush update on start = true

[client.rgw]
rgw frontends = beast endpoint=127.0.0.1:$port
rgw data = $work/rgw
rgw thread pool size = 64
# The data of deleted and overwritten objects goes to a garbage collector that
# waits 2 h by default: meanwhile memstore holds it in RAM and counts it
# against its capacity. Collect within seconds instead.
rgw gc obj min wait = 5
rgw gc processor period = 5
# SSE-C and SSE-KMS over plain http (test only)
rgw crypt require ssl = false
rgw crypt s3 kms backend = testing
rgw crypt s3 kms encryption keys = testkey-1=$(head -c32 /dev/urandom | base64) testkey-2=$(head -c32 /dev/urandom | base64)
CONF

# Starts a daemon in the foreground mode, detached in its own session (a
# Ctrl-C at the terminal does not reach it; stop.sh does), and records its pid.
run_bg() {  # name cmd...
    local name=$1
    shift
    setsid "$@" >>"$work/log/$name.out" 2>&1 </dev/null &
    echo "$! $name" >>"$work/pids"
}
alive() { kill -0 "$(awk -v n="$1" '$2==n{print $1}' "$work/pids")" 2>/dev/null; }
cephc() { timeout 30 ceph -c "$conf" --connect-timeout 20 "$@"; }
wait_for() {  # daemon description cmd...
    local daemon=$1 what=$2 i=0
    shift 2
    until "$@" >/dev/null 2>&1; do
        alive "$daemon" || die "$daemon exited while waiting for $what"
        i=$((i + 1))
        [ $i -le $((timeout * 5)) ] || die "timed out waiting for $what"
        sleep 0.2
    done
}

# ---- 4. monitor -------------------------------------------------------------------
ceph-authtool --create-keyring "$work/keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
monmaptool --create --clobber --fsid "$fsid" --addv a "[v2:127.0.0.1:$mon_port]" "$work/monmap" >/dev/null
ceph-mon -c "$conf" --mkfs -i a --monmap "$work/monmap" --keyring "$work/keyring" \
    >"$work/log/mon.a.mkfs.out" 2>&1 || die "ceph-mon --mkfs failed"
run_bg mon.a ceph-mon -c "$conf" -i a -f
wait_for mon.a "ceph-mon" cephc mon stat
log "mon up on 127.0.0.1:$mon_port"

# ---- 5. osd -------------------------------------------------------------------------
osd_id=$(cephc osd new "$osd_uuid")
[ "$osd_id" = 0 ] || die "unexpected osd id '$osd_id'"
ceph-osd -c "$conf" -i 0 --mkfs --osd-uuid "$osd_uuid" >"$work/log/osd.0.mkfs.out" 2>&1 ||
    die "ceph-osd --mkfs failed"
run_bg osd.0 ceph-osd -c "$conf" -i 0 -f
osd_up() { cephc osd dump -f json | "$py" -c 'import json,sys; d=json.load(sys.stdin); sys.exit(0 if d["osds"] and d["osds"][0]["up"]==1 else 1)'; }
wait_for osd.0 "ceph-osd" osd_up
log "osd.0 up ($store, $store_bytes bytes)"

# ---- 6. rgw pools ---------------------------------------------------------------------
# Create the pools radosgw would otherwise create lazily (each lazy creation
# costs the first S3 request that needs it ~2 s) and wait until every PG is active.
"$py" - "$conf" >>"$work/log/pools.err" 2>&1 <<'PY' || die "pool creation failed"
import json, sys, rados
c = rados.Rados(conffile=sys.argv[1])
c.conf_set("rados_osd_op_timeout", "60")
c.conf_set("rados_mon_op_timeout", "60")
c.connect(timeout=30)
pools = [".rgw.root", "default.rgw.control", "default.rgw.meta", "default.rgw.log",
         "default.rgw.buckets.index", "default.rgw.buckets.non-ec",
         "default.rgw.buckets.data"]
for p in pools:
    for cmd in ({"prefix": "osd pool create", "pool": p, "pg_num": 8, "pgp_num": 8},
                {"prefix": "osd pool application enable", "pool": p, "app": "rgw"}):
        r, out, err = c.mon_command(json.dumps(cmd), b"")
        if r != 0:
            sys.exit("%s: %s" % (cmd, err))
for p in pools:  # a stat blocks until the PG holding that name is active
    io = c.open_ioctx(p)
    for i in range(32):
        try:
            io.stat("probe-%d" % i)
        except rados.ObjectNotFound:
            pass
    io.close()
c.shutdown()
PY
log "rgw pools created, PGs active"

# ---- 7. S3 user (radosgw-admin also creates the default zone and zonegroup) ------
rgwadm() { timeout 60 radosgw-admin -c "$conf" -n client.rgw "$@"; }
rgwadm user create --uid=test --display-name=test --access-key="$access_key" \
    --secret-key="$secret_key" >"$work/user.json" 2>>"$work/log/radosgw-admin.err" ||
    die "radosgw-admin user create failed"

# ---- 8. extra storage classes (before radosgw reads the zone) -------------------------
for sc in $classes; do
    rgwadm zonegroup placement add --rgw-zonegroup default --placement-id default-placement \
        --storage-class "$sc" >/dev/null 2>>"$work/log/radosgw-admin.err" || die "storage class $sc"
    rgwadm zone placement add --rgw-zone default --placement-id default-placement \
        --storage-class "$sc" --data-pool default.rgw.buckets.data \
        >/dev/null 2>>"$work/log/radosgw-admin.err" || die "storage class $sc"
done

# ---- 9. radosgw ---------------------------------------------------------------------
run_bg rgw radosgw -c "$conf" -n client.rgw -f
rgw_up() { "$py" -c 'import sys,urllib.request; sys.exit(0 if urllib.request.urlopen(sys.argv[1], timeout=2).status == 200 else 1)' "http://127.0.0.1:$port/"; }
wait_for rgw "radosgw on 127.0.0.1:$port" rgw_up

echo "$port" >"$work/port"
log "radosgw ready on 127.0.0.1:$port in $("$py" -c "import time; print(round(time.time()-$t0,1))") s (logs: $work/log)"
echo "export AWS_ACCESS_KEY_ID=$access_key AWS_SECRET_ACCESS_KEY=$secret_key S3URL=http://127.0.0.1:$port"
