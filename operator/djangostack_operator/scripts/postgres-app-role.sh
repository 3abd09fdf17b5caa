#!/bin/bash
# Run once, by the postgres image's entrypoint, when it initialises an empty data directory
# (every file of /docker-entrypoint-initdb.d), as the superuser over the local socket.
#
# The app gets a role of its own that owns the app's database and nothing more: no
# superuser, no CREATEDB or CREATEROLE, no connection to any other database. The
# superuser's password is in a Secret of its own that no app, migration or backup pod reads.
# Values come from the environment through psql's \getenv, never from a command line.
set -euo pipefail
psql --no-psqlrc --quiet -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres <<'SQL'
\getenv app_user DJANGOSTACK_APP_USER
\getenv app_database DJANGOSTACK_APP_DATABASE
\getenv app_password DJANGOSTACK_APP_PASSWORD
CREATE ROLE :"app_user" LOGIN PASSWORD :'app_password'
  NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;
CREATE DATABASE :"app_database" OWNER :"app_user";
REVOKE ALL ON DATABASE :"app_database" FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE :"app_database" TO :"app_user";
REVOKE ALL ON DATABASE postgres FROM PUBLIC;
REVOKE ALL ON DATABASE template1 FROM PUBLIC;
SQL
echo "postgres-app-role.sh: role $DJANGOSTACK_APP_USER owns database $DJANGOSTACK_APP_DATABASE"
