#!/usr/bin/env bash
# Starts a throwaway PostgreSQL cluster for the tests and prints its
# administrator URL: initdb as the `postgres` user into a temporary
# directory, listening only on a Unix socket there, fsync off (tests only).
#   url=$(tests/pg-cluster.sh start)   ...   tests/pg-cluster.sh stop "$url"
# The directory is NECSUS_TEST_PG_DIR, or else a new one of the run's own
# (so two runs on one machine never share a cluster); `stop` and `restart`
# find it in the URL `start` printed (its host= parameter) when
# NECSUS_TEST_PG_DIR is not set.
# Needs PostgreSQL's server binaries (Debian: apt-get install postgresql).
set -euo pipefail

dir="${NECSUS_TEST_PG_DIR:-}"
if [ -z "$dir" ] && [ "${1:-start}" != start ]; then
  url="${2:-}"
  dir="${url##*host=}"
  if [ -z "$url" ] || [ "$dir" = "$url" ]; then
    echo "pg-cluster.sh ${1}: give the URL 'start' printed, or set NECSUS_TEST_PG_DIR" >&2
    exit 2
  fi
fi

bin=""
for candidate in /usr/lib/postgresql/*/bin; do
  [ -x "$candidate/initdb" ] && bin="$candidate"
done
if [ -z "$bin" ] && command -v initdb >/dev/null; then
  bin="$(dirname "$(command -v initdb)")"
fi

as_postgres() {
  if [ "$(id -u)" = 0 ]; then
    su postgres -s /bin/sh -c "$*"
  else
    sh -c "$*"
  fi
}

case "${1:-start}" in
  start)
    if [ -z "$bin" ]; then
      echo "no PostgreSQL server binaries found (apt-get install postgresql)" >&2
      exit 1
    fi
    if [ -f "$dir/data/postmaster.pid" ]; then
      as_postgres "'$bin/pg_ctl' -D '$dir/data' -m immediate stop" >/dev/null 2>&1 || true
    fi
    if [ -z "$dir" ]; then
      dir="$(mktemp -d /tmp/necsus-test-pg.XXXXXX)"
    else
      rm -rf "$dir"
      mkdir -p "$dir"
    fi
    chmod 755 "$dir"
    [ "$(id -u)" = 0 ] && chown postgres "$dir"
    as_postgres "'$bin/initdb' -D '$dir/data' -A trust -U postgres --no-sync" >"$dir/initdb.log" 2>&1
    as_postgres "'$bin/pg_ctl' -D '$dir/data' -l '$dir/server.log' -w \
      -o \"-c listen_addresses='' -c unix_socket_directories='$dir' -c fsync=off \
          -c synchronous_commit=on -c full_page_writes=off -c max_connections=500\" start" >/dev/null
    echo "postgres://postgres@localhost/postgres?host=$dir"
    ;;
  stop)
    [ -n "$bin" ] && [ -f "$dir/data/postmaster.pid" ] \
      && as_postgres "'$bin/pg_ctl' -D '$dir/data' -m fast stop" >/dev/null 2>&1 || true
    # Only a directory this script made is removed.
    case "$dir" in /tmp/necsus-test-pg.*) rm -rf "$dir" ;; esac
    ;;
  restart)
    as_postgres "'$bin/pg_ctl' -D '$dir/data' -m fast -w restart" >/dev/null
    ;;
esac
