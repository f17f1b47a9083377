#!/usr/bin/env bash
# Stops the cluster that start.sh WORKDIR PORT started, by the pids it
# recorded in WORKDIR/pids (radosgw, then ceph-osd, then ceph-mon), and
# removes WORKDIR. Safe to run twice, or after a failed start.
#
#   scripts/rgw/stop.sh WORKDIR
set -uo pipefail

work=${1:?usage: stop.sh WORKDIR}
[ -d "$work" ] || exit 0
work=$(cd "$work" && pwd)

# Running, not a zombie, and started with this cluster's ceph.conf (a pid
# that was reused by another process is left alone).
ours() {
    [ -r "/proc/$1/cmdline" ] || return 1
    [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ] || return 1
    tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -qF -- "$work/ceph.conf"
}

if [ -f "$work/pids" ]; then
    for p in $(tac "$work/pids" | awk '{print $1}'); do  # reverse start order
        ours "$p" || continue
        kill -TERM "$p" 2>/dev/null
        for _ in $(seq 1 50); do ours "$p" || break; sleep 0.1; done
        if ours "$p"; then kill -KILL "$p" 2>/dev/null; fi
    done
fi
# Only a directory start.sh made (or an empty one) is removed.
if [ -f "$work/pids" ] || [ -f "$work/ceph.conf" ] || [ -z "$(ls -A "$work")" ]; then
    rm -rf "$work"
else
    echo "[rgw] $work holds no cluster: not removing it" >&2
fi
