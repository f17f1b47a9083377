#!/usr/bin/env bash
# keepsake for real, on a fresh machine: starts a throwaway PostgreSQL with
# sample data and an S3 server (moto) on loopback, backs the database up with
# keepsake using the seed tool's environment variables, restores the backup
# into a new database with `gunzip | psql`, and compares the two.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/services.sh

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

base=$(mktemp -d /tmp/keepsake-demo.XXXXXX)
chmod 755 "$base"
cleanup() { services_stop; rm -rf "$base"; }
trap cleanup EXIT

step "building keepsake"
cargo build --locked --quiet
keepsake=$PWD/target/debug/keepsake

step "starting PostgreSQL and an S3 server on loopback"
services_start "$base"
pg() { psql -X -q -h "$KS_PGHOST" -p "$KS_PGPORT" -U postgres "$@"; }
s3() { AWS_ACCESS_KEY_ID=demo AWS_SECRET_ACCESS_KEY=demo-secret python3 -c "
import boto3, sys
s3 = boto3.client('s3', endpoint_url='$KS_S3_URL', region_name='us-east-1')
cmd = sys.argv[1]
if cmd == 'mb': s3.create_bucket(Bucket=sys.argv[2])
elif cmd == 'ls':
    for o in s3.list_objects_v2(Bucket=sys.argv[2]).get('Contents', []):
        print(f\"{o['Size']:>10}  {o['Key']}\")
elif cmd == 'get': sys.stdout.buffer.write(s3.get_object(Bucket=sys.argv[2], Key=sys.argv[3])['Body'].read())
" "$@"; }

step "creating database 'shop' with sample data"
pg -c "CREATE DATABASE shop"
pg -d shop <<'SQL'
CREATE TABLE customers (id serial PRIMARY KEY, name text NOT NULL, email text UNIQUE);
INSERT INTO customers (name, email)
  SELECT 'customer ' || g, 'c' || g || '@example.com' FROM generate_series(1, 5000) g;
CREATE TABLE orders (id bigserial PRIMARY KEY, customer_id int REFERENCES customers(id),
                     amount numeric(10,2), note text, placed_at timestamptz);
INSERT INTO orders (customer_id, amount, note, placed_at)
  SELECT (g % 5000) + 1, (g % 977) * 1.5, 'order ''' || g || ''' ünïcødé',
         timestamptz '2026-01-01 00:00+00' + g * interval '7 minutes'
  FROM generate_series(1, 50000) g;
SQL
s3 mb backups

step "backing up with the seed tool's variables"
export POSTGRES_CONNECTION_STRING="postgres://postgres@$KS_PGHOST:$KS_PGPORT/shop"
export S3_BUCKET=backups S3_PATH=nightly S3_URL=$KS_S3_URL
export S3_ACCESS_KEY=demo S3_SECRET_KEY=demo-secret BACKUP_INTERVAL="0 3 * * *"
echo "\$ keepsake check"
"$keepsake" check
echo "\$ keepsake backup"
"$keepsake" backup

step "the bucket now holds"
s3 ls backups
key=$(s3 ls backups | awk '{print $2}' | grep '\.sql\.gz$' | head -1)
echo "manifest:"
s3 get backups "$key.manifest.json"

step "restoring $key into database 'shop_restored' (gunzip | psql)"
pg -c "CREATE DATABASE shop_restored"
s3 get backups "$key" | gunzip | pg -v ON_ERROR_STOP=1 -d shop_restored >/dev/null

step "comparing source and restore"
fingerprint() {
    pg -A -t -d "$1" -c "SELECT 'customers ' || count(*) || ' rows, md5 ' || md5(string_agg(c::text, '|' ORDER BY id)) FROM customers c" \
                     -c "SELECT 'orders    ' || count(*) || ' rows, md5 ' || md5(string_agg(o::text, '|' ORDER BY id)) FROM orders o"
}
echo "shop:"; fingerprint shop | sed 's/^/  /'
echo "shop_restored:"; fingerprint shop_restored | sed 's/^/  /'
if [ "$(fingerprint shop)" = "$(fingerprint shop_restored)" ]; then
    echo; echo "OK: the restored database equals the source."
else
    echo; echo "MISMATCH: the restore differs from the source" >&2; exit 1
fi

step "the same with keepsake: list, verify, restore --latest"
"$keepsake" list
"$keepsake" verify --job default --latest
"$keepsake" restore --job default --latest --create \
    --to "postgres://postgres@$KS_PGHOST:$KS_PGPORT/shop_restored_by_keepsake" 2>/dev/null
if [ "$(fingerprint shop)" = "$(fingerprint shop_restored_by_keepsake)" ]; then
    echo "OK: keepsake's restore equals the source too."
else
    echo "MISMATCH: keepsake's restore differs from the source" >&2; exit 1
fi

step "the agent: config/keepsake.toml (two jobs, two storages, retention) for 12 seconds"
# The example file as shipped; only what points at real hosts is overridden,
# and the schedules run every few seconds instead of nightly.
unset POSTGRES_CONNECTION_STRING S3_BUCKET S3_PATH S3_URL S3_ACCESS_KEY S3_SECRET_KEY BACKUP_INTERVAL
pg -c "CREATE DATABASE crm" -c "" >/dev/null
pg -d crm -c "CREATE TABLE contacts AS SELECT g AS id, 'contact ' || g AS name FROM generate_series(1, 1000) g" >/dev/null
s3 mb company-backups
export AWS_ACCESS_KEY_ID=demo AWS_SECRET_ACCESS_KEY=demo-secret
export KEEPSAKE_STORAGE__OFFSITE__ENDPOINT=$KS_S3_URL
export KEEPSAKE_STORAGE__DISK__PATH=$base/disk
export KEEPSAKE_JOBS__SHOP__DATABASE="postgres://postgres@$KS_PGHOST:$KS_PGPORT/shop"
export KEEPSAKE_JOBS__SHOP__SCHEDULE="*/4 * * * * *"
export KEEPSAKE_JOBS__SHOP__RETENTION__KEEP_LAST=2
export KEEPSAKE_JOBS__CRM__DATABASE="host=$KS_PGHOST port=$KS_PGPORT user=postgres dbname=crm"
export KEEPSAKE_JOBS__CRM__SCHEDULE="*/3 * * * * *"
"$keepsake" --config config/keepsake.toml run 2>&1 | grep -E "started|finished|retention|next run|stopp" &
agent=$!
sleep 12
pkill -TERM -f "keepsake --config config/keepsake.toml run" || true
wait "$agent"
step "what the agent stored"
echo "s3://company-backups:"; s3 ls company-backups
echo "$base/disk:"; (cd "$base/disk" && find . -type f | sort)
