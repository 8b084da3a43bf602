#!/usr/bin/env bash
# A Redis Cluster of three primaries and three replicas (one replica each), so losing any one
# node loses no slot: a primary's replica takes over within a few seconds (cluster-node-timeout).
#
#   scripts/replicated/redis.sh up       start the nodes not running, form the cluster the first
#                                        time (redis-cli --cluster create), wait for
#                                        cluster_state:ok, write .services/replicated/redis.env
#   scripts/replicated/redis.sh down     stop the nodes (pidfiles, never by name) and remove
#                                        their folders: nothing is persisted (like the single
#                                        Redis), so the next `up` forms a fresh cluster
#   scripts/replicated/redis.sh status   one line per node (up/down, role, pid, slots);
#                                        exit 0 if all six are up, 3 otherwise
#   scripts/replicated/redis.sh kill N   kill -9 node N (1-6), for fault tests; not restarted
#   scripts/replicated/redis.sh start N  start node N again once the cluster failed it over
#                                        (it rejoins from its nodes.conf, as a replica)
#
# Nodes on 127.0.0.1:27001-27006 (TRADO_REPLICATED_REDIS_PORT, default 27001, moves them),
# their cluster bus 100 above (27101-27106; Redis' own default, 10000 above, lies in the
# ephemeral range, where any client's connection may hold the port);
# data, logs, nodes.conf and pidfiles in .services/replicated/redis-N/. The functions of
# scripts/services.sh (sourced) check, wait for and stop each node.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=scripts/services.sh
source "$HERE/../services.sh"

NODES=(1 2 3 4 5 6)
BASE_PORT="${TRADO_REPLICATED_REDIS_PORT:-27001}"
BUS_OFFSET=100  # each node's cluster bus port, above its own
REPLICATED_DIR="$STATE_DIR/replicated"
PIECE_ENV="$REPLICATED_DIR/redis.env"
# How long a primary may be unreachable before its replica takes over (Redis' default is 15 s).
NODE_TIMEOUT_MS=2000

node_port() { printf '%s\n' $((BASE_PORT + $1 - 1)); }
node_dir() { printf '%s\n' "$REPLICATED_DIR/redis-$1"; }
node_pidfile() { printf '%s/redis.pid\n' "$(node_dir "$1")"; }
node_log() { printf '%s/redis.log\n' "$(node_dir "$1")"; }
node_cli() {
  local n="$1"
  shift
  timeout 3 redis-cli -h "$HOST" -p "$(node_port "$n")" "$@" 2>/dev/null
}
node_answers() { [[ "$(node_cli "$1" ping)" == PONG ]]; }
node_pid() { pid_alive "$(node_pidfile "$1")" redis-server; }

check_node() {
  [[ "$1" =~ ^[1-6]$ ]] || die "redis-cluster: node must be 1-6, got '${1:-}'"
}

start_node() {
  local n="$1" dir port log timeout i
  dir="$(node_dir "$n")"
  port="$(node_port "$n")"
  log="$(node_log "$n")"
  timeout="$(timeout_for 30)"
  mkdir -p "$dir"
  if node_pid "$n" >/dev/null; then
    node_answers "$n" || die_with_log "redis-$n" "$log" "running but no PONG on $HOST:$port"
    return 0
  fi
  rm -f "$(node_pidfile "$n")"
  port_open "$port" && die "redis-$n: port $HOST:$port is taken by another process (set TRADO_REPLICATED_REDIS_PORT)"
  port_open "$((port + BUS_OFFSET))" && die "redis-$n: cluster bus port $HOST:$((port + BUS_OFFSET)) is taken by another process (set TRADO_REPLICATED_REDIS_PORT)"
  # shellcheck disable=SC2094  # redis logs to the file itself once daemonized
  redis-server --port "$port" --bind "$HOST" --protected-mode yes \
    --daemonize yes --pidfile "$(node_pidfile "$n")" --logfile "$log" --dir "$dir" \
    --save '' --appendonly no \
    --cluster-enabled yes --cluster-config-file nodes.conf --cluster-port "$((port + BUS_OFFSET))" \
    --cluster-node-timeout "$NODE_TIMEOUT_MS" \
    --cluster-require-full-coverage no \
    </dev/null >>"$log" 2>&1 9>&- ||
    die_with_log "redis-$n" "$log" "redis-server failed to start"
  for ((i = 0; i < timeout * 5; i++)); do
    if node_answers "$n"; then
      say "redis-$n: started on $HOST:$port"
      return 0
    fi
    sleep 0.2
  done
  die_with_log "redis-$n" "$log" "no PONG on $HOST:$port within ${timeout}s"
}

cluster_info() { node_cli "$1" cluster info | tr -d '\r'; }

# the first running node's view: cluster_state:ok and every node known
cluster_ok() {
  local n info
  for n in "${NODES[@]}"; do
    node_answers "$n" || continue
    info="$(cluster_info "$n")"
    grep -qx 'cluster_state:ok' <<<"$info" || return 1
    grep -qx "cluster_known_nodes:${#NODES[@]}" <<<"$info" || return 1
    return 0
  done
  return 1
}

# true while node 1 knows no other node: the cluster was never formed
cluster_unformed() { grep -qx 'cluster_known_nodes:1' <<<"$(cluster_info 1)"; }

create_cluster() {
  local n log="$REPLICATED_DIR/redis-create.log" addrs=()
  for n in "${NODES[@]}"; do addrs+=("$HOST:$(node_port "$n")"); done
  say "redis-cluster: creating (3 primaries, 1 replica each)"
  redis-cli --cluster create "${addrs[@]}" --cluster-replicas 1 --cluster-yes \
    </dev/null >"$log" 2>&1 || die_with_log redis-cluster "$log" "redis-cli --cluster create failed"
}

wait_cluster_ok() {
  local timeout i
  timeout="$(timeout_for 60)"
  for ((i = 0; i < timeout * 5; i++)); do
    cluster_ok && return 0
    sleep 0.2
  done
  die "redis-cluster: no cluster_state:ok within ${timeout}s (see $(node_log 1))"
}

write_env() {
  (
    umask 077
    printf 'REDIS_URL=redis://%s:%s/0\nREDIS_CLUSTER=true\nREDIS_REPLICA_WAIT_MS=1000\n' \
      "$HOST" "$(node_port 1)" >"$PIECE_ENV.tmp"
  )
  mv -f "$PIECE_ENV.tmp" "$PIECE_ENV"
}

cmd_up() {
  local n
  command -v redis-server >/dev/null && command -v redis-cli >/dev/null ||
    die "redis-cluster: redis-server/redis-cli not installed; run scripts/services.sh up first"
  mkdir -p "$REPLICATED_DIR"
  for n in "${NODES[@]}"; do
    check_port "redis-$n port" "$(node_port "$n")"
    start_node "$n"
  done
  if cluster_unformed; then
    create_cluster
  fi
  wait_cluster_ok
  # a replica's first full sync may still be under way when the state turns ok: wait for it
  # too, so a fault test starting right away has a replica to fail over to
  wait_replicas_synced
  write_env
  say "redis-cluster: ok on $HOST:$(node_port 1)-$(node_port "${NODES[-1]}")"
}

wait_replicas_synced() {
  local timeout i n synced
  timeout="$(timeout_for 60)"
  for ((i = 0; i < timeout * 5; i++)); do
    synced=0
    for n in "${NODES[@]}"; do
      if [[ "$(node_cli "$n" role | head -n 1)" == master ]] ||
        node_cli "$n" info replication | tr -d '\r' | grep -qx 'master_link_status:up'; then
        synced=$((synced + 1))
      fi
    done
    ((synced == ${#NODES[@]})) && return 0
    sleep 0.2
  done
  die "redis-cluster: replicas not in sync within ${timeout}s"
}

cmd_down() {
  local n
  for n in "${NODES[@]}"; do
    stop_pidfile "redis-$n" "$(node_pidfile "$n")" 15 redis-server
    rm -rf "$(node_dir "$n")"
  done
  rm -f "$PIECE_ENV" "$REPLICATED_DIR/redis-create.log"
}

# "primary slots 0-5460" or "replica of 127.0.0.1:27002"
node_role() {
  local n="$1" role
  role="$(node_cli "$n" role | head -n 1)"
  case "$role" in
  master)
    printf 'primary slots %s\n' "$(node_cli "$n" cluster nodes | tr -d '\r' |
      awk '$3 ~ /myself/ { s = ""; for (i = 9; i <= NF; i++) s = s (s ? "," : "") $i; print s }')"
    ;;
  slave)
    printf 'replica of %s:%s\n' "$(node_cli "$n" role | sed -n 2p)" "$(node_cli "$n" role | sed -n 3p)"
    ;;
  *) printf 'role %s\n' "${role:-unknown}" ;;
  esac
}

cmd_status() {
  local down=0 n pid state=""
  for n in "${NODES[@]}"; do
    if pid="$(node_pid "$n")" && node_answers "$n"; then
      say "redis-$n:  up   $HOST:$(node_port "$n") (pid $pid) $(node_role "$n")"
      [[ -n "$state" ]] || state="$(cluster_info "$n" | sed -n 's/^cluster_state://p')"
    else
      say "redis-$n:  down $HOST:$(node_port "$n")"
      down=1
    fi
  done
  say "redis-cluster: cluster_state ${state:-unknown}"
  ((down == 0)) || return 3
}

cmd_kill() {
  local n="$1" pid
  check_node "$n"
  pid="$(node_pid "$n")" || die "redis-$n: not running"
  kill -KILL "$pid"
  say "redis-$n: killed (pid $pid, kill -9)"
}

# Nothing is persisted: a primary restarted before the cluster failed it over would come back
# empty and still a primary, and its replica would then copy the emptiness. So `start` first
# waits (up to 30 s) until another node sees node $1 as failed or as a replica.
wait_failed_over() {
  local n="$1" id other i line
  id="$(awk '/myself/ { print $1 }' "$(node_dir "$n")/nodes.conf" 2>/dev/null)" || return 0
  [[ -n "$id" ]] || return 0
  for ((i = 0; i < 150; i++)); do
    for other in "${NODES[@]}"; do
      ((other != n)) && node_answers "$other" || continue
      line="$(node_cli "$other" cluster nodes | grep "^$id " || true)"
      if [[ "$line" == *fail* && "$line" != *fail\?* ]] || [[ "$(cut -d' ' -f3 <<<"$line")" == *slave* ]]; then
        return 0
      fi
      break
    done
    sleep 0.2
  done
  say "redis-$n: warning: the cluster has not failed it over; starting it anyway"
}

cmd_start() {
  check_node "$1"
  if ! node_pid "$1" >/dev/null; then
    wait_failed_over "$1"
  fi
  start_node "$1"
}

case "${1:-}" in
up) cmd_up ;;
down) cmd_down ;;
status) cmd_status ;;
kill) cmd_kill "${2:-}" ;;
start) cmd_start "${2:-}" ;;
*)
  printf 'usage: %s up|down|status|kill N|start N\n' "$0" >&2
  exit 2
  ;;
esac
