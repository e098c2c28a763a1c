#!/usr/bin/env bash
# Make sure the test Postgres answers on 127.0.0.1:5432; start a stopped local cluster if there is one.
set -euo pipefail
host=${PGHOST_CHECK:-127.0.0.1}
port=${PGPORT_CHECK:-5432}

ready() { pg_isready -q -h "$host" -p "$port" 2>/dev/null; }

if ! command -v pg_isready >/dev/null; then
  echo "make test needs PostgreSQL at $host:$port (trust auth, user postgres), but the PostgreSQL" >&2
  echo "client tools are not installed. Install PostgreSQL (e.g. apt-get install postgresql) and retry." >&2
  exit 1
fi
ready && exit 0

if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  echo "PostgreSQL is not answering on $host:$port; starting cluster $version/main..."
  pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  for _ in $(seq 1 30); do ready && exit 0; sleep 1; done
fi

echo "make test needs PostgreSQL at $host:$port (trust auth, user postgres, database test)," >&2
echo "and none is answering. Start it (e.g. 'pg_ctlcluster 15 main start') or set" >&2
echo "TEST_DATABASE_URL=postgres://USER@HOST:PORT/DB and retry." >&2
exit 1
