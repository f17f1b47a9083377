#!/bin/sh
# The role keepsake logs in as: it may read every table of every database
# (pg_read_all_data, PostgreSQL 14+) and nothing more. Its password comes
# from the same Docker secret that keepsake reads (POSTGRES_PASSWORD_FILE).
# Run (or sourced) once by the postgres image when its data volume is empty.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --no-password --no-psqlrc \
    --dbname "$POSTGRES_DB" --set pw="$(cat /run/secrets/keepsake_db_password)" <<'SQL'
CREATE ROLE keepsake LOGIN PASSWORD :'pw';
GRANT pg_read_all_data TO keepsake;
SQL
