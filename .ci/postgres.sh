#!/usr/bin/env bash
# Starts a local PostgreSQL 15 for the postgres-backend tests (tests/postgres): trust auth on
# 127.0.0.1 for user "postgres", database "orch_test". Idempotent: installs postgresql with
# apt-get only when it is missing, (re)starts the cluster, waits until it answers, creates the
# database once. Debian 12 as root, no systemd (see shared/reference/postgres-facts.md §1).
# The multi-host tests (tests/postgres/netns_*_test.ts) run orch in network namespaces that
# reach the server over veth pairs (10.231.N.1 on the server's side): the server listens on
# every address (new veth addresses appear after it starts) and trusts 10.231.0.0/16 only;
# pg_hba refuses every other remote address.
set -euo pipefail

PG_VERSION=${PG_VERSION:-15}
PG_DB=${PG_DB:-orch_test}

if ! command -v pg_ctlcluster >/dev/null 2>&1 || [ ! -d "/etc/postgresql/${PG_VERSION}/main" ]; then
  echo "== installing postgresql"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq postgresql >/dev/null
fi

printf 'local all all trust\nhost all all 127.0.0.1/32 trust\nhost all all ::1/128 trust\nhost all all 10.231.0.0/16 trust\n' \
  >"/etc/postgresql/${PG_VERSION}/main/pg_hba.conf"
mkdir -p "/etc/postgresql/${PG_VERSION}/main/conf.d"
printf "listen_addresses = '*'\n" >"/etc/postgresql/${PG_VERSION}/main/conf.d/orch-netns.conf"
# restart also starts a stopped cluster, and reloads pg_hba.conf.
pg_ctlcluster --skip-systemctl-redirect "${PG_VERSION}" main restart

for _ in $(seq 100); do
  pg_isready -q -h 127.0.0.1 && break
  sleep 0.2
done
pg_isready -h 127.0.0.1

if [ "$(psql -h 127.0.0.1 -U postgres -tAc "select 1 from pg_database where datname='${PG_DB}'")" != 1 ]; then
  createdb -h 127.0.0.1 -U postgres "${PG_DB}"
fi
echo "== postgres ready: postgres://postgres@127.0.0.1:5432/${PG_DB}"
