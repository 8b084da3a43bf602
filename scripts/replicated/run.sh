#!/usr/bin/env bash
# Trado's processes over running services, the API behind nginx (issue 25): migrations, then
#   two bridge workers   python -m commands.bridge, metrics on 127.0.0.1:28101 and :28102
#   the feed             python -m commands.feed simulator
#   two API processes    python server.py on 127.0.0.1:28001 and :28002 (EVENT_STREAM_ROUTE
#                        a1 and a2, FORWARDED_FOR_TRUSTED_HOPS=1, /metrics on each)
#   nginx                http://127.0.0.1:28080/graphql, from deploy/nginx.conf rendered by
#                        `python -m deploy.nginx` into .services/balancer/ (its access log there
#                        names the API process of each request)
#
#   scripts/replicated/run.sh [ENV_FILE]
#
# ENV_FILE: the settings that reach the services (default .services/services.env, the
# single-node ones `scripts/services.sh up` writes; .services/replicated.env for the replicated
# topology). The services must be up. JWT_SECRET, when the file has none, is made once and
# kept in .services/balancer/jwt_secret: every API process must sign alike. Ctrl-C (or any one
# process exiting, which it names, with its status and where nginx logs errors) stops them all;
# each is stopped by its pid.
# TRADO_LB_PORT, TRADO_API_PORTS, TRADO_BRIDGE_METRICS_PORTS override the ports,
# TRADO_BALANCER_DIR the folder of nginx's files (tests/test_balancer.py runs it so).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../services.sh
source "$HERE/../services.sh"
say() { printf 'run: %s\n' "$*"; }

LB_PORT="${TRADO_LB_PORT:-28080}"
read -r -a API_PORTS <<<"${TRADO_API_PORTS:-28001 28002}"
read -r -a BRIDGE_METRICS_PORTS <<<"${TRADO_BRIDGE_METRICS_PORTS:-28101 28102}"
BALANCER_DIR="${TRADO_BALANCER_DIR:-$STATE_DIR/balancer}"
SETTINGS_FILE="$(realpath "${1:-$ENV_FILE}")"
START_SECONDS=180

[[ -f "$SETTINGS_FILE" ]] || die "no $SETTINGS_FILE: start the services first (scripts/services.sh up [--replicated])"
command -v nginx >/dev/null || apt_install nginx-light
cd "$REPO_ROOT"
# shellcheck source=../environment.sh
source scripts/environment.sh # the locked environment (.venvs/$TRADO_PYTHON); sets UV
PYTHON=("$UV" run --frozen python)

set -a
# shellcheck disable=SC1090
. "$SETTINGS_FILE"
set +a
mkdir -p "$BALANCER_DIR"
if [[ -z "${JWT_SECRET:-}" ]]; then
  [[ -s "$BALANCER_DIR/jwt_secret" ]] || (umask 077 && head -c 32 /dev/urandom | base64 >"$BALANCER_DIR/jwt_secret")
  JWT_SECRET="$(<"$BALANCER_DIR/jwt_secret")"
  export JWT_SECRET
fi
export RUN_FEED_IN_PROCESS=false
unset METRICS_PORT PORT EVENT_STREAM_ROUTE API_PROCESSES

"${PYTHON[@]}" -m commands.migrate

pids=()
declare -A names=() # pid -> what it is, for the line that says which one exited
stop() {
  trap - INT TERM EXIT
  if ((${#pids[@]} > 0)); then
    kill "${pids[@]}" 2>/dev/null || true
  fi
  wait
}
trap stop INT TERM EXIT

started() {
  pids+=("$1")
  names[$1]="$2"
}

for port in "${BRIDGE_METRICS_PORTS[@]}"; do
  METRICS_PORT="$port" "${PYTHON[@]}" -m commands.bridge &
  started $! "the bridge worker with metrics on :$port"
done
"${PYTHON[@]}" -m commands.feed simulator &
started $! "the feed"
upstreams=()
route=0
for port in "${API_PORTS[@]}"; do
  route=$((route + 1))
  HOST=127.0.0.1 PORT="$port" EVENT_STREAM_ROUTE="a$route" FORWARDED_FOR_TRUSTED_HOPS=1 \
    METRICS_ENDPOINT=true "${PYTHON[@]}" server.py &
  started $! "the API process on :$port"
  upstreams+=("a$route=127.0.0.1:$port")
done

for port in "${API_PORTS[@]}"; do
  waited=0
  until curl -fs -o /dev/null "http://127.0.0.1:$port/readyz"; do
    ((waited++ < START_SECONDS)) || die "the API on port $port was not ready after ${START_SECONDS}s"
    for pid in "${pids[@]}"; do
      kill -0 "$pid" 2>/dev/null || die "${names[$pid]} (pid $pid) exited during start-up"
    done
    sleep 1
  done
done
config="$("${PYTHON[@]}" -m deploy.nginx "$BALANCER_DIR" "127.0.0.1:$LB_PORT" "${upstreams[@]}")"
nginx -p "$BALANCER_DIR" -c "$config" -e "$BALANCER_DIR/error.log" &
started $! "nginx (its errors: ${BALANCER_DIR#"$REPO_ROOT"/}/error.log)"

say "GraphQL at http://127.0.0.1:$LB_PORT/graphql through nginx to ${upstreams[*]}"
say "settings: ${SETTINGS_FILE#"$REPO_ROOT"/}; nginx: ${BALANCER_DIR#"$REPO_ROOT"/}/ (pids ${pids[*]}); Ctrl-C stops them"
# `wait -n` returns the exited child's status: under `set -e` a failure would end the script
# here without a word, so it is caught and said. (A signal also ends the wait, with `exited`
# unset: its trap has stopped everything.)
status=0
wait -n -p exited "${pids[@]}" || status=$?
[[ -n "${exited:-}" ]] || exit "$status" # a signal: `stop` (its trap) has stopped them all
say "${names[$exited]:-a process} (pid $exited) exited with status $status; stopping the others" >&2
say "nginx's error log: ${BALANCER_DIR#"$REPO_ROOT"/}/error.log" >&2
exit "$((status == 0 ? 1 : status))"
