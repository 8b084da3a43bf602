#!/usr/bin/env bash
# The replicated topology on this machine (issue 25), on loopback ports below 32768, beside the
# single-node services (which keep theirs):
#
#   scripts/services.sh up --replicated      start every piece, wait until each answers, write
#                                            .services/replicated.env (the settings that reach it)
#   scripts/services.sh down --replicated    stop every piece this started
#   scripts/services.sh status --replicated  one line per node; exit 0 if all are up, 3 otherwise
#
# Each piece is a script of its own in this folder with the same three commands, which writes
# the lines of its settings to .services/replicated/<piece>.env:
#   kafka.sh     three KRaft brokers, the tick topic with replication factor 3, min.insync 2
#   redis.sh     a Redis Cluster of three primaries and three replicas (REDIS_CLUSTER=true)
#   postgres.sh  a primary and a synchronous standby by streaming replication
# Trado's processes over it (two bridge workers, the feed, two API processes behind nginx):
#   scripts/replicated/run.sh .services/replicated.env
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$HERE/../.." && pwd)"
STATE_DIR="$REPO_ROOT/.services"
ENV_FILE="$STATE_DIR/replicated.env"
PIECES=()
for piece in kafka redis postgres; do
  [[ -x "$HERE/$piece.sh" ]] && PIECES+=("$piece")
done

say() { printf 'replicated: %s\n' "$*"; }

cmd_up() {
  local start=$SECONDS piece
  mkdir -p "$STATE_DIR/replicated"
  for piece in "${PIECES[@]}"; do
    "$HERE/$piece.sh" up
  done
  (
    umask 077
    for piece in "${PIECES[@]}"; do
      cat "$STATE_DIR/replicated/$piece.env"
    done >"$ENV_FILE.tmp"
  )
  mv -f "$ENV_FILE.tmp" "$ENV_FILE"
  say "wrote ${ENV_FILE#"$REPO_ROOT"/} (passwords masked here):"
  sed -E 's#(://[^:/@]+:)[^@]*@#\1***@#' "$ENV_FILE"
  say "all up in $((SECONDS - start))s"
}

cmd_down() {
  local piece
  for piece in "${PIECES[@]}"; do
    "$HERE/$piece.sh" down
  done
}

cmd_status() {
  local down=0 piece
  for piece in "${PIECES[@]}"; do
    "$HERE/$piece.sh" status || down=1
  done
  ((down == 0)) || return 3
}

case "${1:-}" in
up) cmd_up ;;
down) cmd_down ;;
status) cmd_status ;;
*)
  printf 'usage: %s up|down|status\n' "$0" >&2
  exit 2
  ;;
esac
