#!/usr/bin/env bash
# The trace receiver of local runs and the test suite: Jaeger v2 (an OpenTelemetry Collector with
# in-memory trace storage and Jaeger's query API) on 127.0.0.1, configured by deploy/otel/jaeger.yaml.
#
#   scripts/otel.sh install  build the pinned Jaeger once into the user's cache (a few minutes
#                            the first time: the Go module proxy must be reachable); a clean
#                            clone on the same machine finds it there
#   scripts/otel.sh up       install, start it unless running, wait until it answers, write
#                            .services/otel.env (the lines scripts/services.sh adds to
#                            services.env)
#   scripts/otel.sh down     stop what `up` started (pidfile, never by name)
#   scripts/otel.sh status   one line; exit 0 if it is up, 3 otherwise
#
# The version is pinned by scripts/otel/go.mod and go.sum (a module whose only tool is
# github.com/jaegertracing/jaeger/cmd/jaeger): the binary goes to
# ~/.cache/trado/jaeger-<hash of go.mod and go.sum>/jaeger, so a change of version builds anew.
# Ports (all below the ephemeral range, none shared with scripts/services.sh's):
#   TRADO_OTEL_HTTP_PORT (24318, OTLP/HTTP), TRADO_OTEL_GRPC_PORT (24317, OTLP/gRPC),
#   TRADO_OTEL_QUERY_PORT (26686, query HTTP API), TRADO_OTEL_QUERY_GRPC_PORT (26685),
#   TRADO_OTEL_HEALTH_PORT (23133, health check).
# Traces live in memory: `down` forgets them. Its log: .services/otel/jaeger.log.
set -euo pipefail

OTEL_SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=scripts/services.sh
source "$OTEL_SCRIPT_DIR/services.sh"

OTEL_HTTP_PORT="${TRADO_OTEL_HTTP_PORT:-24318}"
OTEL_GRPC_PORT="${TRADO_OTEL_GRPC_PORT:-24317}"
OTEL_QUERY_PORT="${TRADO_OTEL_QUERY_PORT:-26686}"
OTEL_QUERY_GRPC_PORT="${TRADO_OTEL_QUERY_GRPC_PORT:-26685}"
OTEL_HEALTH_PORT="${TRADO_OTEL_HEALTH_PORT:-23133}"
export TRADO_OTEL_HTTP_PORT="$OTEL_HTTP_PORT" TRADO_OTEL_GRPC_PORT="$OTEL_GRPC_PORT" \
  TRADO_OTEL_QUERY_PORT="$OTEL_QUERY_PORT" TRADO_OTEL_QUERY_GRPC_PORT="$OTEL_QUERY_GRPC_PORT" \
  TRADO_OTEL_HEALTH_PORT="$OTEL_HEALTH_PORT"

OTEL_MODULE="$OTEL_SCRIPT_DIR/otel"
OTEL_CONFIG="$REPO_ROOT/deploy/otel/jaeger.yaml"
OTEL_DIR="$STATE_DIR/otel"
OTEL_LOG="$OTEL_DIR/jaeger.log"
OTEL_PID="$OTEL_DIR/jaeger.pid"
OTEL_ENV="$STATE_DIR/otel.env"
OTEL_CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/trado"

jaeger_version() {
  sed -n 's:^\tgithub.com/jaegertracing/jaeger \(v[^ ]*\).*:\1:p' "$OTEL_MODULE/go.mod" | head -n 1
}

# the binary's path: one per pinned module (go.mod + go.sum)
jaeger_bin() {
  local hash
  hash="$(cat "$OTEL_MODULE/go.mod" "$OTEL_MODULE/go.sum" | sha256sum | cut -c1-12)"
  printf '%s/jaeger-%s-%s/jaeger\n' "$OTEL_CACHE" "$(jaeger_version)" "$hash"
}

# go on PATH, else the official tarball's place, else Debian's (whose older Go fetches the
# toolchain go.mod asks for from the module proxy)
find_go() {
  if command -v go >/dev/null; then
    command -v go
  elif [[ -x /usr/local/go/bin/go ]]; then
    printf '/usr/local/go/bin/go\n'
  else
    return 1
  fi
}

otel_install() {
  local bin go log start
  bin="$(jaeger_bin)"
  [[ -x "$bin" ]] && return 0
  command -v curl >/dev/null || apt_install curl
  go="$(find_go)" || {
    apt_install golang-go
    go="$(find_go)" || die "otel: no go after installing golang-go"
  }
  mkdir -p "$OTEL_DIR" "$(dirname "$bin")"
  log="$OTEL_DIR/build.log"
  start=$SECONDS
  say "otel: building Jaeger $(jaeger_version) into ${bin%/*} (once per machine; minutes)"
  # as Jaeger's releases are built: no cgo, stripped, the version stamped in
  if ! (cd "$OTEL_MODULE" && CGO_ENABLED=0 GOFLAGS="-mod=readonly -buildvcs=false" "$go" build -trimpath \
    -ldflags "-s -w -X github.com/jaegertracing/jaeger/internal/version.latestVersion=$(jaeger_version)" \
    -o "$bin.new" github.com/jaegertracing/jaeger/cmd/jaeger) </dev/null >"$log" 2>&1; then
    die_with_log otel "$log" "go build of Jaeger failed"
  fi
  mv -f "$bin.new" "$bin"
  say "otel: built in $((SECONDS - start))s ($(du -h "$bin" | cut -f1))"
}

otel_answers() {
  curl -fsS -m 3 -o /dev/null "http://$HOST:$OTEL_HEALTH_PORT/status" 2>/dev/null &&
    curl -fsS -m 3 -o /dev/null "http://$HOST:$OTEL_QUERY_PORT/api/services" 2>/dev/null
}

otel_write_env() {
  (
    umask 077
    cat >"$OTEL_ENV.tmp" <<ENV
OTEL_EXPORTER_OTLP_ENDPOINT=http://$HOST:$OTEL_HTTP_PORT
TRADO_TRACE_QUERY_URL=http://$HOST:$OTEL_QUERY_PORT
ENV
  )
  mv -f "$OTEL_ENV.tmp" "$OTEL_ENV"
}

otel_up() {
  local bin timeout i port how=started
  otel_install
  bin="$(jaeger_bin)"
  timeout="$(timeout_for 60)"
  mkdir -p "$OTEL_DIR"
  if pid_alive "$OTEL_PID" "$bin" >/dev/null; then
    how="already running"
  else
    rm -f "$OTEL_PID"
    for port in "$OTEL_HTTP_PORT" "$OTEL_GRPC_PORT" "$OTEL_QUERY_PORT" "$OTEL_QUERY_GRPC_PORT" "$OTEL_HEALTH_PORT"; do
      port_open "$port" && die "otel: port $HOST:$port is taken by another process (set the TRADO_OTEL_*_PORT variables)"
    done
    [[ -f "$OTEL_LOG" ]] && mv -f "$OTEL_LOG" "$OTEL_LOG.prev"
    # setsid: it outlives this script; the inner shell writes its own pid, then becomes jaeger
    # shellcheck disable=SC2016  # $$ and $@ are the inner shell's
    setsid bash -c 'echo $$ >"$1"; shift; exec "$@"' _ "$OTEL_PID" \
      "$bin" --config "file:$OTEL_CONFIG" </dev/null >>"$OTEL_LOG" 2>&1 8>&- 9>&- &
  fi
  for ((i = 0; i < timeout * 5; i++)); do
    if otel_answers; then
      otel_write_env
      say "otel: $how, OTLP on http://$HOST:$OTEL_HTTP_PORT (gRPC $OTEL_GRPC_PORT), query on http://$HOST:$OTEL_QUERY_PORT (pid $(<"$OTEL_PID"))"
      return 0
    fi
    if [[ -s "$OTEL_PID" ]] && ! pid_alive "$OTEL_PID" "$bin" >/dev/null; then
      die_with_log otel "$OTEL_LOG" "Jaeger exited during startup"
    fi
    sleep 0.2
  done
  die_with_log otel "$OTEL_LOG" "does not answer on $HOST:$OTEL_HEALTH_PORT and $HOST:$OTEL_QUERY_PORT within ${timeout}s"
}

otel_down() {
  stop_pidfile otel "$OTEL_PID" 15 "$OTEL_CACHE/jaeger-"
  rm -f "$OTEL_ENV"
}

otel_status() {
  local pid
  if pid="$(pid_alive "$OTEL_PID" "$OTEL_CACHE/jaeger-")" && otel_answers; then
    say "otel:     up   OTLP http://$HOST:$OTEL_HTTP_PORT, query http://$HOST:$OTEL_QUERY_PORT (pid $pid)"
  else
    say "otel:     down OTLP http://$HOST:$OTEL_HTTP_PORT, query http://$HOST:$OTEL_QUERY_PORT"
    return 3
  fi
}

otel_lock() {
  mkdir -p "$OTEL_DIR"
  # its own lock: scripts/services.sh runs this while holding .services/.lock
  exec 8>"$OTEL_DIR/.lock"
  flock -w 600 8 || die "otel: another otel.sh holds $OTEL_DIR/.lock"
}

otel_main() {
  local name
  for name in TRADO_OTEL_HTTP_PORT TRADO_OTEL_GRPC_PORT TRADO_OTEL_QUERY_PORT \
    TRADO_OTEL_QUERY_GRPC_PORT TRADO_OTEL_HEALTH_PORT; do
    check_port "$name" "${!name}"
  done
  case "${1:-}" in
  install) otel_lock && otel_install ;;
  up) otel_lock && otel_up ;;
  down) otel_lock && otel_down ;;
  status) otel_status ;;
  *)
    printf 'usage: %s install|up|down|status\n' "$0" >&2
    exit 2
    ;;
  esac
}

otel_main "$@"
