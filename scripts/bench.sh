#!/usr/bin/env bash
# keepsake against the shell one-liners it replaces, side by side in one
# run: same database, same loopback S3 server (moto), commands alternated
# over several rounds, medians reported.
#
#   scripts/bench.sh [--scale N] [--text-mb M] [--rounds R] [--growth] [--out FILE] [--smoke]
#
#   --scale N     pgbench -i -s N (compresses ~100x)           default 10
#   --text-mb M   plus M MB of hard-to-compress text            default 300
#   --rounds R    rounds of every command                       default 3
#   --growth      also back up a database 4x larger, to compare keepsake's peak RSS
#   --out FILE    write the markdown report there (e.g. BENCHMARKS.md)
#   --smoke       tiny sizes, one round, debug build: checks the benchmark runs (CI)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/services.sh

args="$*"
scale=10 text_mb=300 rounds=3 growth=0 out="" smoke=0
while [ $# -gt 0 ]; do
    case "$1" in
        --scale) scale=$2; shift 2 ;;
        --text-mb) text_mb=$2; shift 2 ;;
        --rounds) rounds=$2; shift 2 ;;
        --growth) growth=1; shift ;;
        --out) out=$2; shift 2 ;;
        --smoke) smoke=1 scale=1 text_mb=5 rounds=1; shift ;;
        *) echo "unknown option $1" >&2; exit 64 ;;
    esac
done

if [ "$smoke" = 1 ]; then
    cargo build --locked --quiet
    keepsake=$PWD/target/debug/keepsake
else
    cargo build --release --locked --quiet
    keepsake=$PWD/target/release/keepsake
fi
for tool in zstd gzip; do
    command -v "$tool" >/dev/null || { apt-get update -qq && apt-get install -y -qq "$tool" >/dev/null; }
done

base=$(mktemp -d /tmp/keepsake-bench.XXXXXX)
chmod 755 "$base"
cleanup() { services_stop; rm -rf "$base"; }
trap cleanup EXIT
services_start "$base"
export PGHOST=$KS_PGHOST PGPORT=$KS_PGPORT PGUSER=postgres
export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench-secret AWS_DEFAULT_REGION=us-east-1
pgbin=$(pg_bindir)

s3() { python3 - "$@" <<PY
import sys, boto3
s3 = boto3.client("s3", endpoint_url="$KS_S3_URL")
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

keepsake_backup() {  # compression database prefix
    POSTGRES_CONNECTION_STRING="postgres://postgres@$PGHOST:$PGPORT/$2" S3_BUCKET=bench \
        S3_URL=$KS_S3_URL S3_PATH=$3 S3_ACCESS_KEY=bench S3_SECRET_KEY=bench-secret \
        KEEPSAKE_JOBS__DEFAULT__COMPRESSION=$1 "$keepsake" backup
}

classic() {  # what most containers do: dump to a file, gzip it, upload it
    pg_dump -Fp bench > "$base/dump.sql"
    gzip -6 "$base/dump.sql"
    s3 put bench "$base/dump.sql.gz" "classic/dump-$RANDOM.sql.gz"
    stat -c %s "$base/dump.sql.gz" > "$base/classic_temp_bytes"
    rm -f "$base/dump.sql.gz"
}

declare -A times rss
names=(a b c d e)
for round in $(seq 1 "$rounds"); do
    echo "== round $round of $rounds" >&2
    for n in "${names[@]}"; do
        case $n in
            a) r=$(timed sh -c "pg_dump -Fp bench | gzip -6 > /dev/null") ;;
            b) r=$(timed sh -c "pg_dump -Fp bench | zstd -3 -q > /dev/null") ;;
            c) r=$(timed classic) ;;
            d) r=$(timed keepsake_backup gzip bench gzip) ;;
            e) r=$(timed keepsake_backup zstd bench zstd) ;;
        esac
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
temp_c=$(cat "$base/classic_temp_bytes")

growth_line="not measured (run with --growth)"
if [ "$growth" = 1 ]; then
    echo "== building a database 4x larger" >&2
    make_db bench4 "$((scale * 4))" "$((text_mb * 4))" >/dev/null
    g=$(timed keepsake_backup zstd bench4 zstd4)
    growth_line="zstd, 4x the data: peak RSS ${g#* } KiB (vs $rss_e KiB), ${g% *} s"
fi

report=$(cat <<EOF
| command | median wall time (s) | ratio |
|---|---|---|
| (a) \`pg_dump -Fp \| gzip -6 > /dev/null\` | ${med[a]} | floor for gzip |
| (b) \`pg_dump -Fp \| zstd -3 > /dev/null\` | ${med[b]} | floor for zstd |
| (c) pg_dump to a file, gzip it, upload it (boto3, as the aws CLI) | ${med[c]} | |
| (d) \`keepsake backup\`, gzip, to S3 | ${med[d]} | d/a = $(ratio "${med[d]}" "${med[a]}"), d/c = $(ratio "${med[d]}" "${med[c]}") |
| (e) \`keepsake backup\`, zstd, to S3 | ${med[e]} | e/b = $(ratio "${med[e]}" "${med[b]}"), gzip/zstd throughput = $(ratio "${med[d]}" "${med[e]}") |

- Database: pgbench scale $scale plus $text_mb MB of md5 text: $size on disk, plain dump $dump_bytes bytes.
- Rounds: $rounds, commands alternated within each round; medians shown.
- keepsake's peak RSS (its own, from /proc/self/status; pg_dump excluded): gzip $rss_d KiB, zstd $rss_e KiB.
- Growth: $growth_line.
- Temp disk: keepsake 0 bytes (it streams; its log reports disk_write_bytes); the classic approach (c) wrote the $dump_bytes-byte dump and its $temp_c-byte gzip.
- Machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB; S3 server: moto on loopback.
EOF
)
echo "$report"
if [ -n "$out" ]; then
    {
        echo "# Benchmarks"
        echo
        echo "Measured $(date -u +%Y-%m-%d) with \`scripts/bench.sh $args\` on this project's 2-core machine."
        echo "Reproduce: \`scripts/bench.sh --growth --out BENCHMARKS.md\` (as root; it installs what it needs)."
        echo
        echo "$report"
    } > "$out"
fi
echo "bench: done" >&2
