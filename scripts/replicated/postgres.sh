#!/usr/bin/env bash
# PostgreSQL for the replicated topology (issue 25): two nodes on loopback, one primary and one
# synchronous standby by streaming replication, plus a guard that keeps writes going when the
# standby is lost.
#
#   postgres.sh up        start what is missing: a fresh primary on 25532 and a standby on 25533
#                         (pg_basebackup -R); after a failover, the lost node is rebuilt as a
#                         standby of the promoted one (the roles stay swapped). Writes
#                         .services/replicated/postgres.env (a multi-host DATABASE_URL with
#                         target_session_attrs=read-write, and DATABASE_SYNC_STANDBYS=1).
#   postgres.sh down      stop the guard and both nodes
#   postgres.sh status    one line per node (role, and the primary's synchronous standby) and
#                         one for the guard; exit 0 if a primary is up with a sync standby, else 3
#   postgres.sh promote   pg_ctl promote the standby (after `kill primary`)
#   postgres.sh kill primary|standby
#                         kill -9 that node's postmaster (fault tests); nothing restarts it
#
# Nodes are named by port (their roles move on failover): data, socket and log under
# .services/replicated/postgres-<port>/. Each node's standby connects with application_name
# trado_<port>, and the primary's synchronous_standby_names lists both names (FIRST 1): whichever
# node is the standby is the synchronous one, and a primary never waits for itself.
#
# The guard (`postgres.sh guard`, started by `up`, pidfile postgres-guard.pid, log
# postgres-guard.log) asks each node every TRADO_PG_GUARD_INTERVAL seconds (0.5) whether it is a
# primary and whether a standby streams from it. With none, it empties synchronous_standby_names
# (ALTER SYSTEM + pg_reload_conf, which also releases the commits waiting for the lost
# standby): writes go on, unprotected, what the app's /readyz and trado_database_sync_standbys
# report. When a standby streams again, it names the standbys again: protected. This is what
# Patroni's synchronous_mode (not strict) does; here one guard for the two nodes of one machine.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../services.sh
source "$HERE/../services.sh"

say() { printf 'postgres: %s\n' "$*"; }

REP_DIR="$STATE_DIR/replicated"
PORTS=("${TRADO_PG_PRIMARY_PORT:-25532}" "${TRADO_PG_STANDBY_PORT:-25533}")
PG_PWFILE="$REP_DIR/postgres.password"
REP_ENV="$REP_DIR/postgres.env"
PRIMARY_FILE="$REP_DIR/postgres-primary-port" # which node is the primary (moves on promote)
GUARD_PID="$REP_DIR/postgres-guard.pid"
GUARD_LOG="$REP_DIR/postgres-guard.log"
GUARD_INTERVAL="${TRADO_PG_GUARD_INTERVAL:-0.5}"
REPLICATION_USER=trado_replication
SYNC_NAMES="FIRST 1 ($(printf 'trado_%s, ' "${PORTS[@]}" | sed 's/, $//'))"

# point services.sh's PostgreSQL variables at one node
use_node() {
  NODE_PORT="$1"
  PG_ROOT="$REP_DIR/postgres-$NODE_PORT"
  PG_DATA="$PG_ROOT/data"
  PG_RUN="$PG_ROOT/run"
  PG_LOGDIR="$PG_ROOT/log"
  PG_LOG="$PG_LOGDIR/postgres.log"
  PG_PORT="$NODE_PORT"
}

other_port() { if [[ "$1" == "${PORTS[0]}" ]]; then echo "${PORTS[1]}"; else echo "${PORTS[0]}"; fi; }

# psql as the admin (peer auth on the node's unix socket); extra arguments follow
admin_psql() {
  local port="$1"
  shift
  use_node "$port"
  as_pg "$PG_BIN/psql" -X -h "$(pg_socket_dir)" -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 -Atq "$@"
}

# its postmaster alive (a killed one may linger a moment as a zombie: not running)
node_running() {
  use_node "$1"
  [[ -s "$PG_DATA/postmaster.pid" ]] && proc_running "$(head -n 1 "$PG_DATA/postmaster.pid")"
}

# t (a standby), f (a primary), or nothing when the node does not answer
in_recovery() { admin_psql "$1" -c 'SELECT pg_is_in_recovery()' 2>/dev/null; }

node_dirs() {
  use_node "$1"
  mkdir -p "$PG_ROOT" "$PG_RUN" "$PG_LOGDIR" "$(pg_socket_dir)"
  if is_root; then
    chown postgres: "$PG_ROOT" "$PG_RUN" "$PG_LOGDIR" "$(pg_socket_dir)"
  fi
  pg_make_reachable "$PG_ROOT"
}

node_start() {
  local port="$1" timeout
  timeout="$(timeout_for 60)"
  use_node "$port"
  node_running "$port" && return 0
  port_open "$port" && die "port $HOST:$port is taken by another process"
  # rewritten at every start: a standby's copy came from the primary, with the primary's port
  cat >"$PG_DATA/trado-node.conf" <<CONF
port = $port
listen_addresses = '$HOST'
unix_socket_directories = '$(pg_socket_dir)'
CONF
  touch "$PG_LOG"
  if is_root; then chown postgres: "$PG_DATA/trado-node.conf" "$PG_LOG"; fi
  # after a kill -9 the old postmaster's children take a moment to exit and free its memory
  local try
  for try in 1 2 3 4 5; do
    as_pg "$PG_BIN/pg_ctl" start -D "$PG_DATA" -l "$PG_LOG" -w -t "$timeout" -s 8>&- 9>&- && return 0
    sleep 1
  done
  die_with_log "postgres $port" "$PG_LOG" "did not start within ${timeout}s"
}

node_stop() {
  use_node "$1"
  if node_running "$1"; then
    as_pg "$PG_BIN/pg_ctl" stop -D "$PG_DATA" -m fast -w -s >/dev/null 2>&1 ||
      die_with_log "postgres $1" "$PG_LOG" "pg_ctl stop failed"
    say "$HOST:$1 stopped"
  else
    say "$HOST:$1 not running"
  fi
}

init_primary() {
  local port="$1" pw="$2"
  node_dirs "$port"
  use_node "$port"
  rm -rf "$PG_DATA"
  mkdir -p "$PG_DATA"
  chmod 700 "$PG_DATA"
  if is_root; then chown postgres: "$PG_DATA"; fi
  say "initdb of the primary in ${PG_DATA#"$REPO_ROOT"/}"
  as_pg "$PG_BIN/initdb" -D "$PG_DATA" -U postgres --encoding=UTF8 --no-locale \
    --auth-local=peer --auth-host=scram-sha-256 >"$PG_LOGDIR/initdb.log" 2>&1 ||
    die_with_log postgres "$PG_LOGDIR/initdb.log" "initdb failed"
  # copied to the standby by pg_basebackup, so both nodes run alike
  cat >>"$PG_DATA/postgresql.conf" <<CONF

# --- scripts/replicated/postgres.sh: a primary and a synchronous standby ---
wal_level = replica
max_wal_senders = 10
wal_keep_size = '512MB'
hot_standby = on
synchronous_commit = on
wal_sender_timeout = '5s'
wal_receiver_timeout = '5s'
wal_receiver_status_interval = '1s'
max_connections = 200
include_if_exists = 'trado-node.conf'
CONF
  # synchronous_standby_names stays empty: the guard names the standbys once one streams
  # (with them named and no standby, every commit here would wait)
  node_start "$port"
  admin_psql "$port" >"$PG_LOGDIR/setup.log" 2>&1 <<SQL ||
\\set pw '$pw'
SELECT 'CREATE ROLE $PG_USER' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$PG_USER') \\gexec
ALTER ROLE $PG_USER WITH LOGIN CREATEDB PASSWORD :'pw';
GRANT pg_monitor TO $PG_USER;
SELECT 'CREATE ROLE $REPLICATION_USER' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$REPLICATION_USER') \\gexec
ALTER ROLE $REPLICATION_USER WITH LOGIN REPLICATION PASSWORD :'pw';
SELECT 'CREATE DATABASE $PG_DB OWNER $PG_USER' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$PG_DB') \\gexec
SQL
    die_with_log postgres "$PG_LOGDIR/setup.log" "could not create the roles and database"
  echo "$port" >"$PRIMARY_FILE"
  say "$HOST:$port started as the primary"
}

# a fresh copy of the primary on $1, streaming from it (whatever was in $1's folder goes)
build_standby() {
  local port="$1" primary="$2" pw="$3" timeout
  timeout="$(timeout_for 120)"
  node_dirs "$port"
  use_node "$port"
  node_running "$port" && node_stop "$port"
  rm -rf "$PG_DATA"
  say "pg_basebackup of $HOST:$primary into ${PG_DATA#"$REPO_ROOT"/}"
  if ! as_pg env PGPASSWORD="$pw" timeout "$timeout" "$PG_BIN/pg_basebackup" -D "$PG_DATA" -R -X stream -c fast \
    -d "host=$HOST port=$primary user=$REPLICATION_USER application_name=trado_$port" \
    >"$PG_LOGDIR/basebackup.log" 2>&1; then
    die_with_log "postgres $port" "$PG_LOGDIR/basebackup.log" "pg_basebackup from $HOST:$primary failed"
  fi
  node_start "$port"
  say "$HOST:$port started as a standby of $HOST:$primary"
}

# the port of the node that is (or must become) the primary
current_primary() {
  local port
  for port in "${PORTS[@]}"; do
    if [[ "$(in_recovery "$port")" == f ]]; then
      echo "$port"
      return 0
    fi
  done
  [[ -s "$PRIMARY_FILE" ]] && cat "$PRIMARY_FILE"
}

guard_check() {
  local port state recovery names streaming
  for port in "${PORTS[@]}"; do
    state="$(admin_psql "$port" -F '|' -c "SELECT pg_is_in_recovery(), current_setting('synchronous_standby_names'),
      (SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming')" 2>/dev/null)" || continue
    IFS='|' read -r recovery names streaming <<<"$state"
    [[ "$recovery" == f ]] || continue
    if [[ -n "$names" && "$streaming" == 0 ]]; then
      admin_psql "$port" -c "ALTER SYSTEM SET synchronous_standby_names = ''" -c 'SELECT pg_reload_conf()' >/dev/null &&
        printf '%s %s: no standby streams: synchronous replication off, writes unprotected\n' "$(date -u +%FT%T.%3NZ)" "$port"
    elif [[ -z "$names" && "$streaming" != 0 ]]; then
      admin_psql "$port" -c "ALTER SYSTEM SET synchronous_standby_names = '$SYNC_NAMES'" -c 'SELECT pg_reload_conf()' >/dev/null &&
        printf '%s %s: a standby streams: synchronous replication on, writes protected\n' "$(date -u +%FT%T.%3NZ)" "$port"
    fi
  done
}

cmd_guard() {
  find_pg_bin_any
  trap 'exit 0' TERM INT
  while :; do
    guard_check || true
    sleep "$GUARD_INTERVAL"
  done
}

guard_start() {
  if pid_alive "$GUARD_PID" "postgres.sh guard" >/dev/null; then return 0; fi
  # shellcheck disable=SC2016  # $$ and $@ are the inner shell's
  setsid bash -c 'echo $$ >"$1"; shift; exec "$@"' _ "$GUARD_PID" \
    bash "$HERE/postgres.sh" guard </dev/null >>"$GUARD_LOG" 2>&1 8>&- 9>&- &
  local i
  for ((i = 0; i < 50; i++)); do
    pid_alive "$GUARD_PID" "postgres.sh guard" >/dev/null && break
    sleep 0.1
  done
  say "guard started (pid $(<"$GUARD_PID"), every ${GUARD_INTERVAL}s; log ${GUARD_LOG#"$REPO_ROOT"/})"
}

# services.sh's find_pg_bin reads PG_DATA's version; either node's will do
find_pg_bin_any() {
  local port
  for port in "${PORTS[@]}"; do
    use_node "$port"
    [[ -f "$PG_DATA/PG_VERSION" ]] && find_pg_bin && return 0
  done
  find_pg_bin || die "no PostgreSQL server binaries under /usr/lib/postgresql (run scripts/services.sh up once)"
}

write_rep_env() {
  local pw="$1"
  (
    umask 077
    cat >"$REP_ENV.tmp" <<ENV
DATABASE_URL=postgresql+asyncpg://$PG_USER:$pw@$HOST:${PORTS[0]},$HOST:${PORTS[1]}/$PG_DB?target_session_attrs=read-write
DATABASE_SYNC_STANDBYS=1
ENV
  )
  mv -f "$REP_ENV.tmp" "$REP_ENV"
}

wait_streaming() {
  local primary="$1" i
  for ((i = 0; i < 120; i++)); do
    [[ "$(admin_psql "$primary" -c "SELECT count(*) FROM pg_stat_replication WHERE sync_state = 'sync'" 2>/dev/null)" == 1 ]] && return 0
    sleep 0.5
  done
  die "the standby of $HOST:$primary is not synchronous after 60s (see postgres-guard.log)"
}

cmd_up() {
  local pw primary standby
  mkdir -p "$REP_DIR"
  exec 8>"$REP_DIR/.postgres.lock"
  flock -w 30 8 || die "another postgres.sh holds $REP_DIR/.postgres.lock"
  find_pg_bin_any
  pw="$(pg_password)"
  primary="$(current_primary || true)"
  use_node "${primary:-${PORTS[0]}}"
  if [[ -z "$primary" || ! -f "$PG_DATA/PG_VERSION" ]]; then
    primary="${PORTS[0]}"
    init_primary "$primary" "$pw"
  else
    node_start "$primary"
    [[ "$(in_recovery "$primary")" == f ]] || die "$HOST:$primary should be the primary but is in recovery"
    say "$HOST:$primary up as the primary"
  fi
  echo "$primary" >"$PRIMARY_FILE"
  standby="$(other_port "$primary")"
  use_node "$standby"
  if [[ -f "$PG_DATA/standby.signal" ]] && grep -q "port=$primary" "$PG_DATA/postgresql.auto.conf" 2>/dev/null; then
    node_start "$standby"
    say "$HOST:$standby up as a standby of $HOST:$primary"
  else
    # none yet, or the primary a failover left behind (it would diverge): a fresh copy
    build_standby "$standby" "$primary" "$pw"
  fi
  guard_start
  wait_streaming "$primary"
  write_rep_env "$pw"
  cmd_status
}

cmd_down() {
  local port
  stop_pidfile guard "$GUARD_PID" 5 "postgres.sh guard"
  find_pg_bin_any
  for port in "${PORTS[@]}"; do node_stop "$port"; done
}

cmd_status() {
  local port healthy=0 role detail pid
  find_pg_bin_any
  for port in "${PORTS[@]}"; do
    case "$(in_recovery "$port")" in
    f)
      detail="$(admin_psql "$port" -F '; ' -c "SELECT coalesce(string_agg(application_name || ' ' || state || ' ' || sync_state, ', '), 'no standby'),
          CASE WHEN count(*) FILTER (WHERE sync_state IN ('sync', 'quorum')) > 0 THEN 'writes protected' ELSE 'writes UNPROTECTED' END
        FROM pg_stat_replication" 2>/dev/null)"
      [[ "$detail" == *"writes protected" ]] && healthy=1
      say "$HOST:$port up   primary  ($detail)"
      ;;
    t)
      detail="$(admin_psql "$port" -c "SELECT coalesce((SELECT status || ' from port ' || sender_port FROM pg_stat_wal_receiver), 'not streaming')" 2>/dev/null)"
      say "$HOST:$port up   standby  ($detail)"
      ;;
    *)
      use_node "$port"
      role=down
      node_running "$port" && role="running, not answering"
      say "$HOST:$port $role"
      ;;
    esac
  done
  if pid="$(pid_alive "$GUARD_PID" "postgres.sh guard")"; then
    say "guard up (pid $pid)"
  else
    say "guard down"
    healthy=0
  fi
  ((healthy)) || return 3
}

cmd_promote() {
  local port
  find_pg_bin_any
  for port in "${PORTS[@]}"; do
    if [[ "$(in_recovery "$port")" == t ]]; then
      use_node "$port"
      as_pg "$PG_BIN/pg_ctl" promote -D "$PG_DATA" -w -s || die_with_log "postgres $port" "$PG_LOG" "promote failed"
      echo "$port" >"$PRIMARY_FILE"
      say "$HOST:$port promoted: the primary"
      return 0
    fi
  done
  die "no standby answers to promote"
}

cmd_kill() {
  local which="$1" port want pid
  find_pg_bin_any
  case "$which" in
  primary) want=f ;;
  standby) want=t ;;
  *) die "usage: postgres.sh kill primary|standby" ;;
  esac
  for port in "${PORTS[@]}"; do
    if [[ "$(in_recovery "$port")" == "$want" ]]; then
      use_node "$port"
      pid="$(head -n 1 "$PG_DATA/postmaster.pid")"
      kill -KILL "$pid"
      say "$HOST:$port ($which) postmaster pid $pid killed (-9)"
      return 0
    fi
  done
  die "no $which answers"
}

case "${1:-}" in
up) cmd_up ;;
down) cmd_down ;;
status) cmd_status ;;
promote) cmd_promote ;;
kill) cmd_kill "${2:-}" ;;
guard) cmd_guard ;;
*)
  printf 'usage: %s up|down|status|promote|kill primary|standby\n' "$0" >&2
  exit 2
  ;;
esac
