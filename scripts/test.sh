#!/usr/bin/env bash
# The test command: installs what is missing, starts a private PostgreSQL 15
# and 18 cluster and an S3 server (moto) on loopback, runs every test against
# them, and stops them. Usage: scripts/test.sh [extra cargo test args]
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

# Every target but doc tests (there are none); the closing line sums up all
# test binaries, so a run that executed nothing cannot pass unnoticed.
log="$base/cargo-test.log"
status=0
cargo test --locked --all-targets "$@" 2>&1 | tee "$log" || status=$?
passed=$(grep -Eo '^test result: .* ([0-9]+) passed' "$log" | grep -Eo '[0-9]+ passed' | awk '{s+=$1} END {print s+0}')
failed=$(grep -Eo '[0-9]+ failed;' "$log" | awk '{s+=$1} END {print s+0}')
if [ "$status" -eq 0 ] && [ "$passed" -eq 0 ]; then
    echo "no test ran" >&2
    status=1
fi
echo "keepsake tests: $passed passed, $failed failed"
exit "$status"
