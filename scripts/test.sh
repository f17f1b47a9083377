#!/usr/bin/env bash
# The test command: installs what is missing, starts a private PostgreSQL 15
# and 18 cluster and two S3 servers (moto, and Ceph's radosgw) on loopback,
# runs every test against PostgreSQL and moto, then the S3 tests again
# against radosgw, and stops them. Usage: scripts/test.sh [extra cargo test args]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/services.sh

if [ "$(id -u)" != 0 ]; then
    echo "scripts/test.sh runs as root (it creates PostgreSQL clusters as the postgres user)" >&2
    exit 1
fi
if ! command -v cargo >/dev/null; then
    echo "cargo is required" >&2
    exit 1
fi

base=$(mktemp -d /tmp/keepsake-test.XXXXXX)
chmod 755 "$base"
cleanup() { services_stop; rm -rf "$base"; }
trap cleanup EXIT

services_start "$base"
services_start_pg18 "$base"
services_start_servers "$base"
services_start_rgw "$base"
# The keys the tests sign with: moto takes any, the rgw user has these (by
# default the S3_KEY and S3_SECRET of tests/common/mod.rs).
export KS_S3_ACCESS_KEY=$KS_RGW_ACCESS_KEY KS_S3_SECRET_KEY=$KS_RGW_SECRET_KEY

# Tests passed and failed in a cargo test log, summed over its binaries (0
# for a log without any, e.g. after a build failure).
passed_in() {
    awk '/^test result: / { for (i = 1; i < NF; i++) if ($(i + 1) ~ /^passed/) s += $i }
         END { print s + 0 }' "$1"
}
failed_in() {
    awk '{ while (match($0, /[0-9]+ failed;/)) { s += substr($0, RSTART, RLENGTH - 8); $0 = substr($0, RSTART + RLENGTH) } }
         END { print s + 0 }' "$1"
}

# Whether the cargo arguments choose test targets themselves.
selects_targets() {
    local arg
    for arg in "$@"; do
        case $arg in
            --) return 1 ;;
            --lib | --bins | --bin | --bin=* | --tests | --test | --test=* | --examples | --example | \
                --example=* | --benches | --bench | --bench=* | --all-targets | --doc) return 0 ;;
        esac
    done
    return 1
}

# 1. Every target but doc tests (there are none), against moto.
log="$base/cargo-test.log"
status=0
cargo test --locked --no-fail-fast --all-targets "$@" 2>&1 | tee "$log" || status=$?

# 2. The S3 tests again, against radosgw: the test files that use the S3
# server through tests/common (or, when the arguments choose targets, those
# targets). Skipped when the first run ran nothing (a build failure).
rgw_log="$base/cargo-test-rgw.log"
: >"$rgw_log"
if grep -q '^test result: ' "$log"; then
    targets=()
    if ! selects_targets "$@"; then
        while read -r file; do
            targets+=(--test "$(basename "$file" .rs)")
        done < <(grep -lE '\b(s3_url|s3_client|bucket|seed_env|toml_job)\(' tests/*.rs)
    fi
    if [ ${#targets[@]} -gt 0 ] || selects_targets "$@"; then
        echo "== the S3 tests again, against Ceph radosgw on $KS_RGW_URL: ${targets[*]:-the same targets}"
        KS_S3_URL=$KS_RGW_URL cargo test --locked --no-fail-fast "${targets[@]}" "$@" 2>&1 | tee "$rgw_log" || status=$?
    else
        echo "no test file uses the S3 server: nothing to run against radosgw" >&2
        status=1
    fi
fi

# The closing line sums up all test binaries of both runs, so a run that
# executed nothing cannot pass unnoticed.
passed=$(($(passed_in "$log") + $(passed_in "$rgw_log")))
failed=$(($(failed_in "$log") + $(failed_in "$rgw_log")))
if [ "$status" -eq 0 ] && [ "$(passed_in "$log")" -eq 0 ]; then
    echo "no test ran" >&2
    status=1
fi
echo "moto: $(passed_in "$log") passed, $(failed_in "$log") failed; radosgw: $(passed_in "$rgw_log") passed, $(failed_in "$rgw_log") failed"
echo "keepsake tests: $passed passed, $failed failed"
exit "$status"
