#!/bin/sh
# One database and one login role per service, each role owning its own database only: a
# service's credentials reach no other service's data, and none of them is the superuser (whose
# password stays in the postgres container). PostgreSQL's image runs this once, on an empty data
# directory (docker-entrypoint-initdb.d), as POSTGRES_USER.
#
# SERVICE_DATABASES   the services, default "auth orders catalog"; each one's role and database
#                     are named after it
# <SERVICE>_DATABASE_PASSWORD   each role's password (AUTH_DATABASE_PASSWORD, ...), required
#
# Connection: POSTGRES_USER and POSTGRES_DB as the image sets them (the local socket), or the
# usual PG* variables.
set -eu

services="${SERVICE_DATABASES:-auth orders catalog}"

for service in $services; do
  variable="$(printf '%s' "$service" | tr 'abcdefghijklmnopqrstuvwxyz-' 'ABCDEFGHIJKLMNOPQRSTUVWXYZ_')_DATABASE_PASSWORD"
  password="$(printenv "$variable" || true)"
  if [ -z "$password" ]; then
    echo "service-databases.sh: set $variable" >&2
    exit 1
  fi
  # psql variables quote the name and the password: neither is pasted into the SQL.
  psql -v ON_ERROR_STOP=1 --no-psqlrc --quiet \
    --username "${POSTGRES_USER:-postgres}" --dbname "${POSTGRES_DB:-postgres}" \
    -v service="$service" -v password="$password" <<'SQL'
CREATE ROLE :"service" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'password';
CREATE DATABASE :"service" OWNER :"service";
REVOKE ALL ON DATABASE :"service" FROM PUBLIC;
SQL
done

