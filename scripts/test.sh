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

cargo test --locked "$@"
