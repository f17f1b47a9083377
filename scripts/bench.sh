#!/usr/bin/env bash
# keepsake against the shell one-liners it replaces, side by side in one
# run: same database, same loopback S3 server, commands alternated over
# several rounds, medians reported; then an idle agent with 50 jobs.
#
#   scripts/bench.sh [--scale N] [--text-mb M] [--rounds R] [--growth] [--s3 SERVER]
#                    [--out FILE] [--smoke]
#
#   --scale N     pgbench -i -s N (compresses ~100x)           default 10
#   --text-mb M   plus M MB of hard-to-compress text            default 300
#   --rounds R    rounds of every command                       default 3
#   --growth      also back up a database 4x larger, to compare keepsake's peak RSS
#   --s3 SERVER   moto (Python, default) or s3s-fs (Rust, much lighter on the
#                 shared cores; installed with cargo when missing, ~6 min)
#   --out FILE    write the markdown report there (e.g. BENCHMARKS.md)
#   --smoke       tiny sizes, one round, debug build: checks the benchmark runs (CI)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/services.sh

args="$*"
scale=10 text_mb=300 rounds=3 growth=0 out="" smoke=0 server=moto idle_jobs=50 idle_secs=30
while [ $# -gt 0 ]; do
    case "$1" in
        --scale) scale=$2; shift 2 ;;
        --text-mb) text_mb=$2; shift 2 ;;
        --rounds) rounds=$2; shift 2 ;;
        --growth) growth=1; shift ;;
        --s3) server=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        --smoke) smoke=1 scale=1 text_mb=5 rounds=1 idle_secs=2; shift ;;
        *) echo "unknown option $1" >&2; exit 64 ;;
    esac
done
case "$server" in
    moto) ;;
    s3s-fs) command -v s3s-fs >/dev/null || cargo install s3s-fs@0.14.1 --locked --features binary ;;
    *) echo "--s3 takes moto or s3s-fs, not $server" >&2; exit 64 ;;
esac

if [ "$smoke" = 1 ]; then
    cargo build --locked --quiet
    keepsake=$PWD/target/debug/keepsake
else
    cargo build --release --locked --quiet
    keepsake=$PWD/target/release/keepsake
fi
for tool in zstd gzip age; do
    command -v "$tool" >/dev/null || { apt-get update -qq && apt-get install -y -qq "$tool" >/dev/null; }
done

base=$(mktemp -d /tmp/keepsake-bench.XXXXXX)
chmod 755 "$base"
S3S_PID=""
cleanup() {
    [ -n "$S3S_PID" ] && kill "$S3S_PID" 2>/dev/null
    services_stop; rm -rf "$base"
}
trap cleanup EXIT
services_start "$base"
s3_url=$KS_S3_URL
if [ "$server" = s3s-fs ]; then
    port=$(free_port)
    mkdir "$base/s3s"
    s3s-fs --host 127.0.0.1 --port "$port" --access-key bench --secret-key bench-secret \
        "$base/s3s" >"$base/s3s.log" 2>&1 &
    S3S_PID=$!
    s3_url=http://127.0.0.1:$port
    deadline=$((SECONDS + 30))
    until curl -sS -o /dev/null "$s3_url/" 2>/dev/null; do
        ((SECONDS < deadline)) && kill -0 "$S3S_PID" || { cat "$base/s3s.log" >&2; exit 1; }
        sleep 0.2
    done
fi
export PGHOST=$KS_PGHOST PGPORT=$KS_PGPORT PGUSER=postgres
export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench-secret AWS_DEFAULT_REGION=us-east-1
pgbin=$(pg_bindir)

s3() { python3 - "$@" <<PY
import sys, boto3
s3 = boto3.client("s3", endpoint_url="$s3_url")
cmd = sys.argv[1]
if cmd == "mb": s3.create_bucket(Bucket=sys.argv[2])
elif cmd == "put": s3.upload_file(sys.argv[3], sys.argv[2], sys.argv[4])
PY
}

make_db() {  # name scale text_mb
    psql -X -q -c "CREATE DATABASE $1"
    "$pgbin/pgbench" -q -i -s "$2" "$1" >/dev/null 2>&1
    local rows=$(( $3 * 1024 * 1024 / 100 ))
    psql -X -q -d "$1" -c "CREATE TABLE text_blobs AS SELECT g AS id,
        md5(g::text) || md5((g * 7)::text) || md5((g * 13)::text) AS t
        FROM generate_series(1, $rows) g"
    psql -X -A -t -d "$1" -c "SELECT pg_size_pretty(pg_database_size('$1'))"
}

echo "== building the database: pgbench scale $scale + $text_mb MB of text" >&2
size=$(make_db bench "$scale" "$text_mb")
dump_bytes=$(pg_dump -Fp bench | wc -c)
s3 mb bench

# Runs a command, printing "seconds peak_rss_kib" (peak RSS from keepsake's
# own log for keepsake runs, else 0).
timed() {
    local start end
    start=$(date +%s.%N)
    "$@" >"$base/out.log" 2>&1 || { cat "$base/out.log" >&2; return 1; }
    end=$(date +%s.%N)
    local rss
    rss=$(grep -o 'peak_rss_kib=[0-9]*' "$base/out.log" | tail -1 | cut -d= -f2)
    echo "$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.2f", b - a }') ${rss:-0}"
}

# The public key of (h) and (i): encrypted with age, as a job with encrypt_to.
age-keygen -o "$base/age-key.txt" 2>/dev/null
recipient=$(age-keygen -y "$base/age-key.txt")

keepsake_backup() {  # compression database prefix [age recipients]
    POSTGRES_CONNECTION_STRING="postgres://postgres@$PGHOST:$PGPORT/$2" S3_BUCKET=bench \
        S3_URL=$s3_url S3_PATH=$3 S3_ACCESS_KEY=bench S3_SECRET_KEY=bench-secret \
        AGE_RECIPIENTS=${4:-} KEEPSAKE_JOBS__DEFAULT__COMPRESSION=$1 "$keepsake" backup
}

# (f): the same zstd backup to a directory, so no S3 server shares the cores;
# (h) with a job line more: encrypted.
keepsake_local() {  # [extra job line]
    mkdir -p "$base/local"
    printf '[storage.dir]\ntype = "local"\npath = "%s"\n[jobs.bench]\ndatabase = "postgres://postgres@%s:%s/bench"\nschedule = "0 3 * * *"\ncompression = "zstd"\n%s\n' \
        "$base/local" "$PGHOST" "$PGPORT" "${1:-}" >"$base/local.toml"
    "$keepsake" backup --config "$base/local.toml"
}

# (g): its one-liner, writing the same kind of file to the same disk.
zstd_to_file() { pg_dump -Fp bench | zstd -3 -q > "$base/local-dump.sql.zst"; }

classic() {  # what most containers do: dump to a file, gzip it, upload it
    pg_dump -Fp bench > "$base/dump.sql"
    gzip -6 "$base/dump.sql"
    s3 put bench "$base/dump.sql.gz" "classic/dump-$RANDOM.sql.gz"
    stat -c %s "$base/dump.sql.gz" > "$base/classic_temp_bytes"
    rm -f "$base/dump.sql.gz"
}

declare -A times rss
names=(a b c d e f g h i)
for round in $(seq 1 "$rounds"); do
    echo "== round $round of $rounds" >&2
    for n in "${names[@]}"; do
        case $n in
            a) r=$(timed sh -c "pg_dump -Fp bench | gzip -6 > /dev/null") ;;
            b) r=$(timed sh -c "pg_dump -Fp bench | zstd -3 -q > /dev/null") ;;
            c) r=$(timed classic) ;;
            d) r=$(timed keepsake_backup gzip bench gzip) ;;
            e) r=$(timed keepsake_backup zstd bench zstd) ;;
            f) r=$(timed keepsake_local) ;;
            g) r=$(timed zstd_to_file) ;;
            h) r=$(timed keepsake_local "encrypt_to = [\"$recipient\"]") ;;
            i) r=$(timed keepsake_backup zstd bench zstd-age "$recipient") ;;
        esac
        rm -rf "$base/local" "$base/local-dump.sql.zst"
        times[$n]="${times[$n]:-} ${r% *}"
        rss[$n]="${rss[$n]:-} ${r#* }"
        echo "   $n: ${r% *} s" >&2
    done
done

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{v[NR]=$1} END {print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
declare -A med
for n in "${names[@]}"; do med[$n]=$(echo "${times[$n]}" | median); done
rss_d=$(echo "${rss[d]}" | tr ' ' '\n' | sort -n | tail -1)
rss_e=$(echo "${rss[e]}" | tr ' ' '\n' | sort -n | tail -1)
rss_f=$(echo "${rss[f]}" | tr ' ' '\n' | sort -n | tail -1)
rss_h=$(echo "${rss[h]}" | tr ' ' '\n' | sort -n | tail -1)
rss_i=$(echo "${rss[i]}" | tr ' ' '\n' | sort -n | tail -1)
temp_c=$(cat "$base/classic_temp_bytes")

growth_line="not measured (run with --growth)"
if [ "$growth" = 1 ]; then
    echo "== building a database 4x larger" >&2
    make_db bench4 "$((scale * 4))" "$((text_mb * 4))" >/dev/null
    g=$(timed keepsake_backup zstd bench4 zstd4)
    growth_line="zstd, 4x the data: peak RSS ${g#* } KiB (vs $rss_e KiB), ${g% *} s"
fi

# An idle agent: N jobs scheduled for 29 February (none runs while it is
# measured), one S3 storage.
# Prints "rss_kib anon_kib file_kib cpu_ms" over the given seconds, after
# the agent reported itself started.
idle_agent() {  # jobs seconds
    local conf=$base/idle.toml i
    {
        printf '[storage.s3]\ntype = "s3"\nbucket = "bench"\nendpoint = "%s"\n' "$s3_url"
        printf 'access_key_id = "bench"\nsecret_access_key = "bench-secret"\nprefix = "idle"\n'
        for i in $(seq 1 "$1"); do
            printf '[jobs.db%s]\ndatabase = "postgres://postgres@%s:%s/bench"\nschedule = "%s 3 29 2 *"\n' \
                "$i" "$PGHOST" "$PGPORT" "$((i % 60))"
        done
    } >"$conf"
    "$keepsake" run --config "$conf" >"$base/idle.log" 2>&1 &
    local pid=$! deadline=$((SECONDS + 30))
    until grep -q "keepsake agent started" "$base/idle.log"; do
        ((SECONDS < deadline)) && kill -0 "$pid" || { cat "$base/idle.log" >&2; return 1; }
        sleep 0.1
    done
    cpu() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
    local before after
    before=$(cpu)
    sleep "$2"
    after=$(cpu)
    local mem
    mem=$(awk '/^VmRSS/ {r=$2} /^RssAnon/ {a=$2} /^RssFile/ {f=$2} END {print r, a, f}' "/proc/$pid/status")
    kill "$pid"; wait "$pid" 2>/dev/null || true
    echo "$mem $(( (after - before) * 1000 / $(getconf CLK_TCK) ))"
}
echo "== idle agent: $idle_jobs jobs for $idle_secs s" >&2
read -r idle_rss idle_anon idle_file idle_cpu <<<"$(idle_agent "$idle_jobs" "$idle_secs")"

report=$(cat <<EOF
| command | median wall time (s) | ratio |
|---|---|---|
| (a) \`pg_dump -Fp \| gzip -6 > /dev/null\` | ${med[a]} | floor for gzip |
| (b) \`pg_dump -Fp \| zstd -3 > /dev/null\` | ${med[b]} | floor for zstd |
| (c) pg_dump to a file, gzip it, upload it (boto3, as the aws CLI) | ${med[c]} | |
| (d) \`keepsake backup\`, gzip, to S3 | ${med[d]} | d/a = $(ratio "${med[d]}" "${med[a]}"), d/c = $(ratio "${med[d]}" "${med[c]}") |
| (e) \`keepsake backup\`, zstd, to S3 | ${med[e]} | e/b = $(ratio "${med[e]}" "${med[b]}"), gzip/zstd throughput = $(ratio "${med[d]}" "${med[e]}") |
| (f) \`keepsake backup\`, zstd, to a local directory | ${med[f]} | f/g = $(ratio "${med[f]}" "${med[g]}") |
| (g) \`pg_dump -Fp \| zstd -3 > file\` on the same disk | ${med[g]} | |
| (h) as (f), encrypted with age (\`encrypt_to\`) | ${med[h]} | h/f = $(ratio "${med[h]}" "${med[f]}"): the cost of encryption |
| (i) as (e), encrypted with age | ${med[i]} | i/e = $(ratio "${med[i]}" "${med[e]}") |

- Database: pgbench scale $scale plus $text_mb MB of md5 text: $size on disk, plain dump $dump_bytes bytes.
- Rounds: $rounds, commands alternated within each round; medians shown.
- keepsake's peak RSS (its own, from /proc/self/status; pg_dump excluded), highest of the rounds: gzip $rss_d KiB, zstd $rss_e KiB, zstd to a directory $rss_f KiB, encrypted $rss_h KiB (to S3 $rss_i KiB).
- Growth: $growth_line.
- Idle agent, $idle_jobs jobs, measured over $idle_secs s after start: RSS $idle_rss KiB ($idle_anon KiB anonymous, $idle_file KiB file-backed: the binary's code and libc), $idle_cpu ms of CPU.
- Temp disk: keepsake 0 bytes (it streams; its log reports disk_write_bytes); the classic approach (c) wrote the $dump_bytes-byte dump and its $temp_c-byte gzip.
- Machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB; S3 server: $server on loopback.
EOF
)
echo "$report"
if [ -n "$out" ]; then
    {
        echo "# Benchmarks"
        echo
        echo "Measured $(date -u +%Y-%m-%d) with \`scripts/bench.sh $args\` on this project's 2-core machine."
        echo "Reproduce: the same command, as root (it installs what it needs)."
        echo
        echo "$report"
    } > "$out"
fi
echo "bench: done" >&2
