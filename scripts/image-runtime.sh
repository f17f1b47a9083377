#!/usr/bin/env bash
# Runs keepsake the way the container image does, without Docker: in a
# Debian bookworm root file system made from the Dockerfile's own runtime
# stage, with tini as PID 1 of a new PID namespace, as uid 10001, on a
# read-only root with a tmpfs on /tmp, configured by environment variables
# only, with secrets in files under a read-only /run/secrets. Against a
# private PostgreSQL and S3 server (moto) started here on the shared loopback,
# it checks that a one-shot backup works, that the agent becomes healthy,
# backs up and stops on SIGTERM, that SIGTERM stops a command hanging on an
# S3 server that never answers, that a restore works, and that nothing was
# written to the root.
#
#   scripts/image-runtime.sh        # KEEPSAKE_BIN=path: the binary (default target/debug/keepsake)
#
# Runs as root. The root file system is made once (~1 min: debootstrap, then
# the runtime stage's RUN instructions in a chroot) and cached in
# /var/cache/keepsake-test/rootfs-image; it is made again when those
# instructions change. A later run takes ~15 s. Exits non-zero on the first
# failed check, with the container's log.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/services.sh
. scripts/services.sh

if [ "$(id -u)" != 0 ]; then
    echo "scripts/image-runtime.sh runs as root (debootstrap, namespaces, chroot)" >&2
    exit 1
fi
fail() { echo "FAIL: $*" >&2; exit 1; }

# The binary is copied into the root file system below, once, before any
# check: a rebuild under a running check does not change what it runs.
KEEPSAKE_BIN=${KEEPSAKE_BIN:-target/debug/keepsake}
[ -x "$KEEPSAKE_BIN" ] || fail "no keepsake binary at $KEEPSAKE_BIN: build it (cargo build) or set KEEPSAKE_BIN"

# ------------------------------------------------------------ the Dockerfile
# The runtime stage (after the last FROM), one instruction a line: comment
# lines dropped, continued lines joined, as Docker reads them.
runtime_stage() {
    awk '/^[[:space:]]*#/ { next }
         { line = line $0 }
         /\\$/ { sub(/\\$/, "", line); next }
         line ~ /^FROM / { n = 0; line = ""; next }
         line ~ /[^[:space:]]/ { stage[++n] = line }
         { line = "" }
         END { for (i = 1; i <= n; i++) print stage[i] }' Dockerfile
}
# The words of an exec-form (JSON array) instruction, one a line.
json_words() {
    python3 -c 'import json, sys
words = json.loads(sys.argv[1])
assert isinstance(words, list) and words and all(isinstance(w, str) for w in words)
print("\n".join(words))' "$1" || fail "Dockerfile: not a JSON array of strings: $1"
}

RUNS=() IMAGE_ENV=() SHELL_WORDS=(/bin/sh -c) ENTRYPOINT=() CMD=() HEALTHCHECK=() USERSPEC=""
while IFS= read -r instruction; do
    args=${instruction#* }
    case ${instruction%% *} in
        RUN) RUNS+=("$args") ;;
        SHELL) mapfile -t SHELL_WORDS < <(json_words "$args") ;;
        ENTRYPOINT) mapfile -t ENTRYPOINT < <(json_words "$args") ;;
        CMD) mapfile -t CMD < <(json_words "$args") ;;
        HEALTHCHECK) mapfile -t HEALTHCHECK < <(json_words "${args##* CMD }") ;;
        USER) USERSPEC=$args ;;
        ENV)
            read -ra pairs <<<"$args"
            for pair in "${pairs[@]}"; do
                [[ $pair =~ ^[A-Za-z_][A-Za-z0-9_]*=[^\"\']*$ ]] \
                    || fail "Dockerfile: cannot read \"ENV $args\" (only ENV NAME=value without quotes)"
                IMAGE_ENV+=("$pair")
            done ;;
    esac
done < <(runtime_stage)

# What the checks rely on must have been found, or the Dockerfile changed
# under this script: say so rather than test something else.
packages=$(printf '%s\n' "${RUNS[@]}" | grep -o 'apt-get install[^;&|]*' | tr ' ' '\n' \
    | grep -v -e '^-' -e '^apt-get$' -e '^install$' -e '^$' | tr '\n' ' ' || true)
[ -n "$packages" ] || fail "Dockerfile: no 'apt-get install' with packages in the runtime stage's RUN instructions"
printf '%s\n' "${RUNS[@]}" | grep -q 'groupadd ' || fail "Dockerfile: no groupadd in the runtime stage"
printf '%s\n' "${RUNS[@]}" | grep -q 'useradd ' || fail "Dockerfile: no useradd in the runtime stage"
[[ $USERSPEC =~ ^[0-9]+:[0-9]+$ ]] || fail "Dockerfile: USER is '$USERSPEC', not numeric uid:gid"
[ ${#ENTRYPOINT[@]} -gt 0 ] && [ ${#CMD[@]} -gt 0 ] || fail "Dockerfile: no exec-form ENTRYPOINT and CMD"
[ ${#HEALTHCHECK[@]} -gt 0 ] || fail "Dockerfile: no HEALTHCHECK CMD"
[ ${#SHELL_WORDS[@]} -gt 0 ] || fail "Dockerfile: an empty SHELL"
printf '%s\n' "${IMAGE_ENV[@]}" | grep -q '^HTTP_LISTEN=' || fail "Dockerfile: no ENV HTTP_LISTEN"
uid=${USERSPEC%:*} gid=${USERSPEC#*:}

# ------------------------------------------------------------ root file system
ROOTFS=/var/cache/keepsake-test/rootfs-image
# The image copies pg_dump, pg_restore and psql of PostgreSQL 14 to 18 from
# the official postgres:NN images (the PostgreSQL project's builds). Those
# are not at hand here: Debian bookworm's own PostgreSQL 15 clients take
# their place, the three programs taken out of the postgresql-client-15
# package (not installed: its wrapper needs Perl, which the image leaves
# out) and laid out as the image lays them out, with libpq beside them.
CLIENT_MAJOR=15
RECIPE=$(printf '%s\n' "debootstrap minbase bookworm; clients postgresql-client-$CLIENT_MAJOR libpq5" \
    "SHELL ${SHELL_WORDS[*]}" "${RUNS[@]}")
install -d -m 755 "$(dirname "$ROOTFS")"
# One run at a time uses (and makes) the cached root file system.
exec 9>"$ROOTFS.lock"
flock 9

base=""
declare -A CONTAINERS=()
blackhole_pid=""
cleanup() {
    local name upid pid1
    for name in "${!CONTAINERS[@]}"; do
        upid=${CONTAINERS[$name]}
        # Killing a PID namespace's PID 1 kills everything in it.
        pid1=$(pgrep -P "$upid" 2>/dev/null | head -n 1 || true)
        [ -n "$pid1" ] && kill -KILL "$pid1" 2>/dev/null || true
        kill -KILL "$upid" 2>/dev/null || true
        wait "$upid" 2>/dev/null || true
    done
    if [ -n "$blackhole_pid" ]; then
        kill "$blackhole_pid" 2>/dev/null || true
        wait "$blackhole_pid" 2>/dev/null || true
    fi
    services_stop
    # The mounts lived in the containers' own mount namespaces: none is left.
    [ -n "$base" ] && rm -rf "$base"
    rm -rf "$ROOTFS.tmp"
}
trap cleanup EXIT

# Runs CMD... in the root file system being made, with /proc mounted, in a
# mount namespace of its own (the mount goes with it).
in_new_root() {
    # shellcheck disable=SC2016 # expanded by sh, in the namespace
    unshare --mount --propagation private -- sh -c 'mount -t proc proc "$0/proc" && exec chroot "$0" "$@"' \
        "$ROOTFS.tmp" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        HOME=/root DEBIAN_FRONTEND=noninteractive "$@" </dev/null
}

make_rootfs() {
    local log=$ROOTFS.log tmp=$ROOTFS.tmp
    rm -rf "$tmp"
    : >"$log"
    debootstrap --variant=minbase bookworm "$tmp" http://deb.debian.org/debian >>"$log" 2>&1 \
        || { tail -n 30 "$log" >&2; fail "debootstrap (log: $log)"; }
    # debian:bookworm-slim's sources: the release, its updates and security.
    rm -f "$tmp/etc/apt/sources.list"
    cat >"$tmp/etc/apt/sources.list.d/debian.sources" <<'SOURCES'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES

    # COPY --from=clients /out/ /: the clients, before the RUN that checks
    # that the runtime's packages carry every library they link.
    local debs=$tmp/tmp/clients x=$tmp/tmp/clients/x
    install -d -m 0777 "$debs"
    in_new_root sh -c "apt-get update -qq && cd /tmp/clients && apt-get download -qq postgresql-client-$CLIENT_MAJOR libpq5" \
        >>"$log" 2>&1 || { tail -n 30 "$log" >&2; fail "downloading postgresql-client-$CLIENT_MAJOR (log: $log)"; }
    local deb
    for deb in "$debs"/*.deb; do dpkg-deb -x "$deb" "$x"; done
    local bindir=usr/lib/postgresql/$CLIENT_MAJOR/bin libpq
    install -d -m 755 "$tmp/$bindir"
    cp "$x/$bindir/pg_dump" "$x/$bindir/pg_restore" "$x/$bindir/psql" "$tmp/$bindir/"
    libpq=$(cd "$x" && ls -d usr/lib/*-linux-gnu/libpq.so.5) || fail "no libpq.so.5 in libpq5"
    install -d -m 755 "$tmp/$(dirname "$libpq")"
    cp -P "$x/$libpq"* "$tmp/$(dirname "$libpq")/"
    for deb in libpq5 "postgresql-client-$CLIENT_MAJOR"; do
        install -d -m 755 "$tmp/usr/share/doc/$deb"
        cp "$x/usr/share/doc/$deb/copyright" "$tmp/usr/share/doc/$deb/"
    done
    rm -rf "$debs"

    # The runtime stage's RUN instructions, verbatim, with its SHELL: the
    # packages, the library check of the clients, the user and group.
    local run
    for run in "${RUNS[@]}"; do
        in_new_root "${SHELL_WORDS[@]}" "$run" >>"$log" 2>&1 \
            || { tail -n 30 "$log" >&2; fail "the Dockerfile's RUN failed in the chroot (log: $log): $run"; }
    done
    # Where the secrets are mounted (Docker makes the mount point in the
    # container's own layer; here the root is read-only).
    install -d -m 755 "$tmp/run/secrets"
    rm -rf "$ROOTFS" && mv "$tmp" "$ROOTFS"
    echo "$RECIPE" >"$ROOTFS.recipe"
}

if [ ! -f "$ROOTFS/etc/os-release" ] || [ "$(cat "$ROOTFS.recipe" 2>/dev/null)" != "$RECIPE" ]; then
    command -v debootstrap >/dev/null || {
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
    }
    echo "== making the image's root file system in $ROOTFS (once, ~1 min): debootstrap, then the runtime stage"
    echo "   packages: $packages"
    make_rootfs
fi
# COPY --from=build ... /usr/local/bin/keepsake
install -m 0755 "$KEEPSAKE_BIN" "$ROOTFS/usr/local/bin/keepsake"
chroot "$ROOTFS" getent passwd "$uid" | grep -q "^[^:]*:[^:]*:$uid:$gid:" \
    || fail "the root file system has no user $uid with group $gid (useradd in the Dockerfile?)"
base=$(mktemp -d /tmp/keepsake-image.XXXXXX)
chmod 755 "$base"
# Anything in the root changed after this is a write the checks made.
touch "$base/root-stamp"

# ------------------------------------------------------------ containers
# Runs as PID 1 of a new PID namespace, in a private mount namespace, as root:
# makes the container's file system as `docker run --read-only` would, then
# becomes CMD... as the image's user (tini first, when CMD is the entrypoint).
container_setup() {
    local root=$1 rootfs=$2 secrets=$3 envfile=$4 userspec=$5 node env
    shift 5
    mount --bind "$rootfs" "$root"
    mount -o remount,bind,ro "$root"
    mount -t proc -o nosuid,nodev,noexec proc "$root/proc"
    mount -t sysfs -o ro,nosuid,nodev,noexec sysfs "$root/sys"
    mount -t tmpfs -o nosuid,noexec,mode=0755,size=64k tmpfs "$root/dev"
    for node in null zero full random urandom tty; do
        touch "$root/dev/$node"
        mount --bind "/dev/$node" "$root/dev/$node"
    done
    ln -s /proc/self/fd "$root/dev/fd"
    ln -s /proc/self/fd/0 "$root/dev/stdin"
    ln -s /proc/self/fd/1 "$root/dev/stdout"
    ln -s /proc/self/fd/2 "$root/dev/stderr"
    mount -t tmpfs -o nosuid,nodev,mode=1777 tmpfs "$root/tmp"
    mount --bind "$secrets" "$root/run/secrets"
    mount -o remount,bind,ro "$root/run/secrets"
    mapfile -t env <"$envfile"
    exec env -i "${env[@]}" chroot --userspec="$userspec" "$root" "$@"
}
export -f container_setup

# The image's ENV, the settings of every check, then VAR=VALUE...; a later
# variable replaces an earlier one of the same name.
write_env() {
    local file=$1 kv name
    shift
    local -A value=()
    local -a order=()
    for kv in PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/nonexistent \
        "${IMAGE_ENV[@]}" "${SETTINGS[@]}" "$@"; do
        name=${kv%%=*}
        [[ -v value[$name] ]] || order+=("$name")
        value[$name]=${kv#*=}
    done
    for name in "${order[@]}"; do printf '%s=%s\n' "$name" "${value[$name]}"; done >"$file"
}

# container_start NAME [VAR=VALUE]... -- CMD...: `docker run -d`; CMD is the
# whole command line (the entrypoint's words first). Output in $base/NAME.log.
container_start() {
    local name=$1 vars=()
    shift
    while [ "$1" != -- ]; do vars+=("$1"); shift; done
    shift
    write_env "$base/$name.env" "${vars[@]}"
    install -d -m 755 "$base/root"
    unshare --pid --fork --mount --propagation private -- bash -c 'container_setup "$@"' container \
        "$base/root" "$ROOTFS" "$base/secrets" "$base/$name.env" "$USERSPEC" "$@" \
        >"$base/$name.log" 2>&1 </dev/null &
    CONTAINERS[$name]=$!
}
container_log() { echo "--- $1's output" >&2; tail -n 40 "$base/$1.log" >&2; }
# Whether the container still runs (an exited, unwaited unshare is a zombie).
container_running() {
    local state
    state=$(ps -o stat= -p "${CONTAINERS[$1]}" 2>/dev/null) && [[ $state != Z* ]]
}
# The host's PID of the container's PID 1 (the child of unshare).
container_pid1() { pgrep -P "${CONTAINERS[$1]}" | head -n 1; }
# container_wait NAME SECONDS: waits for the end; its exit status in $status.
container_wait() {
    local deadline=$((SECONDS + $2))
    while container_running "$1"; do
        if ((SECONDS >= deadline)); then container_log "$1"; fail "$1 still runs after $2 s"; fi
        sleep 0.1
    done
    status=0
    wait "${CONTAINERS[$1]}" || status=$?
    unset "CONTAINERS[$1]"
}
# container_run NAME SECONDS [VAR=VALUE]... -- ARGS...: `docker run` with
# the image's entrypoint; fails unless it exits 0 within SECONDS.
container_run() {
    local name=$1 seconds=$2
    shift 2
    local vars=()
    while [ "$1" != -- ]; do vars+=("$1"); shift; done
    shift
    container_start "$name" "${vars[@]}" -- "${ENTRYPOINT[@]}" "$@"
    container_wait "$name" "$seconds"
    [ "$status" = 0 ] || { container_log "$name"; fail "$name exited $status"; }
}
# container_exec NAME CMD...: `docker exec`: CMD in the container's
# namespaces and root, as its user, with its environment.
container_exec() {
    local name=$1 pid1 env
    shift
    pid1=$(container_pid1 "$name") || return 1
    mapfile -t env <"$base/$name.env"
    nsenter --target "$pid1" --mount --pid --root --wd --setuid "$uid" --setgid "$gid" \
        /usr/bin/env -i "${env[@]}" "$@"
}
# How long since $1 (an $EPOCHREALTIME), in seconds.
since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }

# ------------------------------------------------------------ services
services_start "$base"
psql_admin() { psql -h "$KS_PGHOST" -p "$KS_PGPORT" -U postgres -X -q -v ON_ERROR_STOP=1 "$@"; }
db_password=image-test-pw-$$
psql_admin -d postgres -c "CREATE ROLE keepsake_pw LOGIN PASSWORD '$db_password'" \
    -c "GRANT pg_read_all_data TO keepsake_pw" -c "CREATE DATABASE image_shop"
psql_admin -d image_shop -c "CREATE TABLE orders (id int PRIMARY KEY, note text)" \
    -c "INSERT INTO orders SELECT g, md5(g::text) FROM generate_series(1, 5000) g"
BUCKET=image-test PREFIX=image
# Keys of the bucket under PREFIX that end in $1, one a line.
s3_keys() {
    python3 - "$KS_S3_URL" "$BUCKET" "$PREFIX/" "$1" <<'PY'
import sys, boto3
url, bucket, prefix, suffix = sys.argv[1:]
s3 = boto3.client("s3", endpoint_url=url, aws_access_key_id="test",
                  aws_secret_access_key="test", region_name="us-east-1")
if suffix == "--create-bucket":
    s3.create_bucket(Bucket=bucket)
else:
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for o in page.get("Contents", []):
            if o["Key"].endswith(suffix):
                print(o["Key"])
PY
}
s3_keys --create-bucket

# Docker secrets: files only the image's user reads, on a read-only mount.
install -d -m 755 "$base/secrets"
printf '%s\n' "$db_password" >"$base/secrets/postgres_password"
printf '%s\n' "test-secret-key" >"$base/secrets/s3_secret_key"
chown "$uid:$gid" "$base/secrets"/*
chmod 0400 "$base/secrets"/*

# The host's network is shared: the image's HTTP_LISTEN, on a free port (as
# `-p` would map it).
http_port=$(free_port)
listen=$(printf '%s\n' "${IMAGE_ENV[@]}" | sed -n 's/^HTTP_LISTEN=//p')
SETTINGS=(
    "POSTGRES_CONNECTION_STRING=postgres://keepsake_pw@$KS_PGHOST:$KS_PGPORT/image_shop"
    POSTGRES_PASSWORD_FILE=/run/secrets/postgres_password
    "S3_BUCKET=$BUCKET" "S3_URL=$KS_S3_URL" "S3_PATH=$PREFIX"
    S3_ACCESS_KEY=test S3_SECRET_KEY_FILE=/run/secrets/s3_secret_key
    "HTTP_LISTEN=${listen%:*}:$http_port"
    LOG_LEVEL=info
)
echo "== the image's runtime: $ROOTFS, user $USERSPEC, entrypoint ${ENTRYPOINT[*]}"

# ------------------------------------------------------------ the checks
echo "== (1) keepsake backup, configured by the environment alone: exits 0, the backup is in the bucket"
t=$EPOCHREALTIME
container_run backup 120 -- backup
mapfile -t dumps < <(s3_keys .sql.gz)
[ ${#dumps[@]} = 1 ] || fail "expected 1 backup under s3://$BUCKET/$PREFIX/, found: ${dumps[*]:-none}"
[ -n "$(s3_keys "${dumps[0]#"$PREFIX/"}.manifest.json")" ] || fail "no manifest beside ${dumps[0]}"
echo "   ok: s3://$BUCKET/${dumps[0]} and its manifest, in $(since "$t") s"

echo "== (2) the agent (CMD ${CMD[*]}): tini is PID 1, keepsake runs as $USERSPEC, healthy, backs up on start, stops on SIGTERM with 0"
t=$EPOCHREALTIME
container_start agent BACKUP_ON_START=true "BACKUP_INTERVAL=0 3 * * *" -- "${ENTRYPOINT[@]}" "${CMD[@]}"
deadline=$((SECONDS + 60))
until container_exec agent "${HEALTHCHECK[@]}" >/dev/null 2>&1; do
    container_running agent || { container_log agent; fail "the agent exited before it was healthy"; }
    ((SECONDS < deadline)) || { container_log agent; fail "'${HEALTHCHECK[*]}' failed for 60 s"; }
    sleep 0.2
done
curl -fsS "http://127.0.0.1:$http_port/healthz" >/dev/null \
    || fail "/healthz does not answer on the published port $http_port"
echo "   ok: healthy ('${HEALTHCHECK[*]}' in the container, and /healthz from the host) after $(since "$t") s"
pid1=$(container_pid1 agent)
nspid=$(awk '/^NSpid:/ { print $NF }' "/proc/$pid1/status")
[ "$(cat "/proc/$pid1/comm")" = "$(basename "${ENTRYPOINT[0]}")" ] && [ "$nspid" = 1 ] \
    || fail "the container's PID 1 is $(cat "/proc/$pid1/comm") (PID $nspid there), not ${ENTRYPOINT[0]}"
agent=$(pgrep -P "$pid1" | head -n 1) || fail "PID 1 has no child"
[ "$(cat "/proc/$agent/comm")" = keepsake ] || fail "PID 1's child is $(cat "/proc/$agent/comm"), not keepsake"
for pid in "$pid1" "$agent"; do
    ids=$(awk '/^Uid:/ { u = $2 "," $3 "," $4 "," $5 } /^Gid:/ { g = $2 "," $3 "," $4 "," $5 }
               END { print u ":" g }' "/proc/$pid/status")
    [ "$ids" = "$uid,$uid,$uid,$uid:$gid,$gid,$gid,$gid" ] \
        || fail "$(cat "/proc/$pid/comm") runs as uid,euid,suid,fsuid:gids $ids, not $USERSPEC"
done
echo "   ok: PID 1 is $(cat "/proc/$pid1/comm"), its child keepsake; both run as $USERSPEC"
success='^keepsake_backup_runs_total\{[^}]*result="success"[^}]*\} 1$'
until curl -fsS "http://127.0.0.1:$http_port/metrics" 2>/dev/null | grep -Eq "$success"; do
    container_running agent || { container_log agent; fail "the agent exited before its backup"; }
    ((SECONDS < deadline)) || { container_log agent; fail "no successful backup in the agent's metrics within 60 s"; }
    sleep 0.2
done
mapfile -t dumps < <(s3_keys .sql.gz)
[ ${#dumps[@]} = 2 ] || fail "expected 2 backups after the agent's, found: ${dumps[*]:-none}"
echo "   ok: the agent backed up on start (metrics: 1 successful run; 2 backups in the bucket)"
t=$EPOCHREALTIME
kill -TERM "$pid1"
container_wait agent 15
[ "$status" = 0 ] || { container_log agent; fail "the agent exited $status on SIGTERM, not 0"; }
echo "   ok: SIGTERM to PID 1: exited 0 in $(since "$t") s"

echo "== (3) SIGTERM stops other commands too: 'list' against an S3 server that never answers"
python3 - "$base/blackhole" <<'PY' &
import socket, sys
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(16)
open(sys.argv[1] + ".port", "w").write(str(s.getsockname()[1]))
held = []
while True:  # accept, count, never answer
    c, _ = s.accept()
    held.append(c)
    open(sys.argv[1] + ".accepted", "a").write("1\n")
PY
blackhole_pid=$!
deadline=$((SECONDS + 10))
until [ -s "$base/blackhole.port" ]; do
    ((SECONDS < deadline)) || fail "the silent S3 server did not start"
    sleep 0.1
done
container_start list "S3_URL=http://127.0.0.1:$(cat "$base/blackhole.port")" -- "${ENTRYPOINT[@]}" list
deadline=$((SECONDS + 30))
until [ -s "$base/blackhole.accepted" ]; do
    container_running list || { container_log list; fail "list ended before it reached the silent server"; }
    ((SECONDS < deadline)) || { container_log list; fail "list did not connect to the silent server in 30 s"; }
    sleep 0.1
done
container_running list || { container_log list; fail "list ended although the server never answered"; }
t=$EPOCHREALTIME
kill -TERM "$(container_pid1 list)"
container_wait list 5
[ "$status" != 0 ] || fail "list exited 0 although it listed nothing"
echo "   ok: hung on the silent server; SIGTERM to PID 1 ended it in $(since "$t") s (exit $status)"

echo "== (4) keepsake restore --latest --create into a new database, with the image's psql"
t=$EPOCHREALTIME
container_run restore 120 -- restore --job default --latest --create \
    --to "postgres://postgres@$KS_PGHOST:$KS_PGPORT/image_restored"
fingerprint() { psql_admin -d "$1" -At -c "SELECT count(*) || ' ' || md5(string_agg(id || note, ',' ORDER BY id)) FROM orders"; }
[ "$(fingerprint image_restored)" = "$(fingerprint image_shop)" ] \
    || fail "image_restored differs from image_shop: $(fingerprint image_restored)"
grep -q "restored ${dumps[1]}" "$base/restore.log" \
    || { container_log restore; fail "restore did not say it restored the newest backup ${dumps[1]}"; }
echo "   ok: image_restored holds the same $(fingerprint image_shop | cut -d' ' -f1) rows, in $(since "$t") s"

echo "== (5) the root is read-only and nothing was written to it; /tmp is writable"
# A root that took a write is made anew by the next run.
dirty() { rm -f "$ROOTFS.recipe"; fail "$* (the root file system will be made anew)"; }
container_start probe -- /usr/bin/touch /tmp/probe /var/tmp/probe
container_wait probe 10
grep -q "/var/tmp/probe.*Read-only file system" "$base/probe.log" && [ "$status" != 0 ] \
    || { container_log probe; dirty "writing /var/tmp (mode 1777) as $USERSPEC did not fail with 'Read-only file system'"; }
grep -q "'/tmp/probe'" "$base/probe.log" \
    && { container_log probe; fail "writing /tmp (the tmpfs) failed"; }
written=$(find "$ROOTFS" -xdev \( -newer "$base/root-stamp" -o -cnewer "$base/root-stamp" \) -print | head -n 20)
[ -z "$written" ] || dirty "the checks wrote to the root file system: $written"
echo "   ok: /var/tmp refused a write (Read-only file system), /tmp took one, no file in the root changed"
echo "== the image's runtime works: backup, agent, signals, restore, read-only root"
