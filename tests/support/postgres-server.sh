#!/usr/bin/env bash
# A throwaway PostgreSQL cluster on loopback for the tests (never a system service).
#
#   postgres-server.sh start <dir>   initdb + start; writes the connection URL to <dir>/url
#   postgres-server.sh stop <dir>    stops it and deletes its data
#
# The URL names database x402 owned by role x402 (trust auth on loopback, CREATEDB so each test can
# create its own database). The data directory lives under /tmp because initdb and postgres refuse
# to run as root and the postgres OS user must own it; <dir>/datadir records where it is.
# fsync is off: the cluster is thrown away after the run, and no test crashes the machine.
# synchronous_commit stays on: the multi-node tests kill the server's processes and expect every
# acknowledged commit to survive, which holds with fsync off as long as the OS keeps running.
set -euo pipefail

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
PG_USER=${PG_OS_USER:-postgres}

usage() {
  echo "usage: $0 start|stop <dir>" >&2
  exit 2
}

[[ $# -eq 2 ]] || usage
command=$1
dir=$2

as_pg() {
  if [[ $(id -u) -eq 0 ]]; then
    runuser -u "$PG_USER" -- "$@"
  else
    "$@"
  fi
}

stop_cluster() {
  local datadir
  datadir=$(cat "$dir/datadir" 2>/dev/null || true)
  if [[ -n $datadir && -d $datadir ]]; then
    as_pg "$PG_BIN/pg_ctl" -D "$datadir/data" -m fast -w -t 30 stop >/dev/null 2>&1 || true
    rm -rf "$datadir"
  fi
  rm -f "$dir/url" "$dir/datadir"
}

port_is_free() {
  ! ss -Hltn "sport = :$1" | grep -q .
}

start_cluster() {
  mkdir -p "$dir"
  stop_cluster  # a cluster left over from an interrupted run

  local datadir
  datadir=$(mktemp -d /tmp/x402-pg-XXXXXX)
  echo "$datadir" >"$dir/datadir"
  chown "$PG_USER" "$datadir" 2>/dev/null || true
  chmod 700 "$datadir"

  if ! as_pg "$PG_BIN/initdb" -D "$datadir/data" -U postgres --auth=trust --no-sync -E UTF8 \
    --locale=C >"$datadir/initdb.log" 2>&1; then
    echo "initdb failed:" >&2
    cat "$datadir/initdb.log" >&2
    exit 1
  fi

  # Another process may take the port between the check and the bind, so try a few.
  local port="" attempt candidate
  for attempt in 1 2 3 4 5 6 7 8; do
    candidate=$((20000 + RANDOM % 40000))
    port_is_free "$candidate" || continue
    if as_pg "$PG_BIN/pg_ctl" -D "$datadir/data" -l "$datadir/server.log" -w -t 60 \
      -o "-p $candidate -k $datadir -c listen_addresses=127.0.0.1 -c fsync=off \
          -c full_page_writes=off -c max_connections=300" \
      start >/dev/null; then
      port=$candidate
      break
    fi
    echo "attempt $attempt: postgres did not start on port $candidate" >&2
  done
  if [[ -z $port ]]; then
    echo "postgres failed to start; server log:" >&2
    cat "$datadir/server.log" >&2 || true
    exit 1
  fi

  as_pg "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U postgres -d postgres \
    -c "CREATE ROLE x402 LOGIN CREATEDB" -c "CREATE DATABASE x402 OWNER x402" >/dev/null

  local url="postgresql://x402@127.0.0.1:$port/x402"
  echo "$url" >"$dir/url"
  echo "$url"
}

case $command in
  start) start_cluster ;;
  stop) stop_cluster ;;
  *) usage ;;
esac
