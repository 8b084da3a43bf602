#!/usr/bin/env bash
# Real PostgreSQL, Redis and Apache Kafka (KRaft, single node) for Trado's tests and local runs,
# and the trace receiver (Jaeger v2 over OTLP: scripts/otel.sh, which `up`, `down` and `status`
# run too).
#
#   scripts/services.sh up       install what is missing, start what is not running, wait until
#                                each service answers, write .services/services.env
#   scripts/services.sh down     stop what `up` started (pidfiles / pg_ctl), never by name
#   scripts/services.sh status   one line per service; exit 0 if all are up, 3 otherwise
#   scripts/services.sh kafka-stop / kafka-start, postgres-stop / postgres-start,
#   scripts/services.sh redis-stop / redis-start
#                                stop or start one service (outage tests, `bench run chaos`);
#                                each start waits until the service answers
#   scripts/services.sh up|down|status --replicated
#                                the replicated topology instead (scripts/replicated/services.sh:
#                                three Kafka brokers, a Redis Cluster, a PostgreSQL standby)
#
# Everything (data, logs, pidfiles, the generated password, Kafka's jars) lives under
# <repo>/.services/. Services listen on 127.0.0.1 only, on non-default ports:
#   TRADO_PG_PORT (25432), TRADO_REDIS_PORT (26379), TRADO_KAFKA_PORT (29092; its KRaft
#   controller uses TRADO_KAFKA_CONTROLLER_PORT, default TRADO_KAFKA_PORT+1); with
#   TRADO_KAFKA_DIR, kafka-start and kafka-stop start and stop a second broker kept there.
# The defaults sit below Linux's ephemeral range (32768-60999): a port inside it may be taken
# by any client socket, and a client that connects to its own port while the service is down
# self-connects and then holds the port (it once blocked Kafka for minutes).
# TRADO_SERVICES_TIMEOUT (seconds) overrides how long `up` waits for each service.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/.." && pwd)"
STATE_DIR="$REPO_ROOT/.services"
ENV_FILE="$STATE_DIR/services.env"

PG_PORT="${TRADO_PG_PORT:-25432}"
REDIS_PORT="${TRADO_REDIS_PORT:-26379}"
KAFKA_PORT="${TRADO_KAFKA_PORT:-29092}"
KAFKA_CONTROLLER_PORT="${TRADO_KAFKA_CONTROLLER_PORT:-$((KAFKA_PORT + 1))}"
HOST=127.0.0.1

PG_ROOT="$STATE_DIR/postgres"
PG_DATA="$PG_ROOT/data"
PG_RUN="$PG_ROOT/run"
PG_LOGDIR="$PG_ROOT/log"
PG_LOG="$PG_LOGDIR/postgres.log"
PG_PWFILE="$PG_ROOT/trado.password"
PG_DB=trado
PG_USER=trado

REDIS_DIR="$STATE_DIR/redis"
REDIS_PID="$REDIS_DIR/redis.pid"
REDIS_LOG="$REDIS_DIR/redis.log"

# TRADO_KAFKA_DIR: a broker's data, log and pidfile. Another folder (with other ports) is another
# broker: the tests that stop Kafka stop a private one of theirs (tests/utils/kafka_server.py).
KAFKA_DIR="${TRADO_KAFKA_DIR:-$STATE_DIR/kafka}"
KAFKA_LIBS="$STATE_DIR/kafka/libs"
KAFKA_DATA="$KAFKA_DIR/data"
KAFKA_CONF="$KAFKA_DIR/server.properties"
KAFKA_LOG="$KAFKA_DIR/kafka.log"
KAFKA_PID="$KAFKA_DIR/kafka.pid"
KAFKA_POM="$SCRIPT_DIR/kafka/pom.xml"
KAFKA_LOG4J="$SCRIPT_DIR/kafka/log4j2.properties"

export DEBIAN_FRONTEND=noninteractive

say() { printf 'services: %s\n' "$*"; }
die() {
  printf 'services: ERROR: %s\n' "$*" >&2
  exit 1
}

# die naming the service and its log, with the log's last lines
die_with_log() {
  local service="$1" log="$2" msg="$3"
  {
    printf 'services: ERROR: %s: %s\n' "$service" "$msg"
    printf 'services: %s log: %s\n' "$service" "$log"
    if [[ -f "$log" ]]; then
      printf -- '----- last lines of %s -----\n' "$log"
      tail -n 40 "$log" || true
      printf -- '-----\n'
    fi
  } >&2
  exit 1
}

check_port() {
  local name="$1" value="$2"
  if ! [[ "$value" =~ ^[0-9]+$ ]] || ((value < 1 || value > 65535)); then
    die "$name must be a TCP port, got '$value'"
  fi
  local low high
  if read -r low high </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null &&
    ((value >= low && value <= high)); then
    say "warning: $name=$value is in the ephemeral port range $low-$high (a client socket may take it)"
  fi
}

timeout_for() { printf '%s\n' "${TRADO_SERVICES_TIMEOUT:-$1}"; }

is_root() { ((EUID == 0)); }

# pid from a pidfile if that process is alive and its command line contains $2
pid_alive() {
  local pidfile="$1" expect="$2" pid
  [[ -s "$pidfile" ]] || return 1
  pid="$(<"$pidfile")"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  proc_running "$pid" || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$expect" || return 1
  printf '%s\n' "$pid"
}

# alive and not a zombie waiting to be reaped (kill -0 succeeds on zombies)
proc_running() {
  local state
  kill -0 "$1" 2>/dev/null || return 1
  state="$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)" || return 1
  [[ -n "$state" && "$state" != Z ]]
}

port_open() {
  (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null
}

# stop the process of a pidfile (TERM, then KILL after $3 seconds); only if it is the expected one
stop_pidfile() {
  local name="$1" pidfile="$2" grace="$3" expect="$4" pid i
  if ! pid="$(pid_alive "$pidfile" "$expect")"; then
    rm -f "$pidfile"
    say "$name: not running"
    return 0
  fi
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < grace * 5; i++)); do
    proc_running "$pid" || break
    sleep 0.2
  done
  if proc_running "$pid"; then
    say "$name: still running after ${grace}s, killing pid $pid"
    kill -KILL "$pid" 2>/dev/null || true
    sleep 0.5
  fi
  rm -f "$pidfile"
  say "$name: stopped (pid $pid)"
}

random_alnum() {
  local out=""
  while ((${#out} < $1)); do
    out+="$(head -c 64 /dev/urandom | tr -dc 'A-Za-z0-9')"
  done
  printf '%s\n' "${out:0:$1}"
}

# ---------------------------------------------------------------- installation

APT_UPDATED=0
apt_install() {
  local log="$STATE_DIR/apt.log"
  is_root || die "missing $*; install it (needs root: apt-get install $*)"
  command -v apt-get >/dev/null || die "missing $* and no apt-get to install it"
  local -a opts=(-y -q -o DPkg::Lock::Timeout=300 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
  if ((APT_UPDATED == 0)); then
    say "apt: updating package lists"
    apt-get update -q -o DPkg::Lock::Timeout=300 >>"$log" 2>&1 || die_with_log apt "$log" "apt-get update failed"
    APT_UPDATED=1
  fi
  say "apt: installing $*"
  apt-get install "${opts[@]}" --no-install-recommends "$@" >>"$log" 2>&1 ||
    die_with_log apt "$log" "apt-get install $* failed"
}

PG_BIN=""
find_pg_bin() {
  local version initdb
  PG_BIN=""
  if [[ -f "$PG_DATA/PG_VERSION" ]]; then
    # an existing cluster must be run by its own major version
    version="$(<"$PG_DATA/PG_VERSION")"
    if [[ -x "/usr/lib/postgresql/$version/bin/pg_ctl" ]]; then
      PG_BIN="/usr/lib/postgresql/$version/bin"
      return 0
    fi
    return 1
  fi
  initdb="$(printf '%s\n' /usr/lib/postgresql/*/bin/initdb | sort -V | tail -n 1)"
  [[ -x "$initdb" ]] || return 1
  PG_BIN="$(dirname "$initdb")"
}

kafka_libs_ready() {
  [[ -f "$KAFKA_LIBS/.pom.sha256" ]] &&
    [[ "$(<"$KAFKA_LIBS/.pom.sha256")" == "$(sha256sum <"$KAFKA_POM" | cut -d' ' -f1)" ]] &&
    compgen -G "$KAFKA_LIBS/kafka_2.13-*.jar" >/dev/null
}

install_missing() {
  local -a pkgs=()
  if ! find_pg_bin; then
    if [[ -f "$PG_DATA/PG_VERSION" ]]; then
      pkgs+=("postgresql-$(<"$PG_DATA/PG_VERSION")")
    else
      pkgs+=(postgresql)
    fi
  fi
  if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
    pkgs+=(redis-server redis-tools)
  fi
  if ! command -v java >/dev/null; then
    pkgs+=(openjdk-17-jre-headless)
  fi
  if ! kafka_libs_ready && ! command -v mvn >/dev/null; then
    pkgs+=(maven)
  fi
  if ((${#pkgs[@]})); then
    apt_install "${pkgs[@]}"
  fi
  find_pg_bin || die "postgres: no PostgreSQL server binaries under /usr/lib/postgresql after install"

  if ! kafka_libs_ready; then
    local log="$KAFKA_DIR/maven.log"
    mkdir -p "$KAFKA_DIR"
    say "kafka: resolving jars with Maven ($(kafka_version_from_pom))"
    rm -rf "$KAFKA_LIBS.new"
    if ! mvn -q -B -ntp -Dstyle.color=never -f "$KAFKA_POM" dependency:copy-dependencies \
      -DoutputDirectory="$KAFKA_LIBS.new" -Dtrado.build.dir="$KAFKA_DIR/mvn-target" \
      </dev/null >"$log" 2>&1; then
      die_with_log kafka "$log" "mvn dependency:copy-dependencies failed"
    fi
    sha256sum <"$KAFKA_POM" | cut -d' ' -f1 >"$KAFKA_LIBS.new/.pom.sha256"
    rm -rf "$KAFKA_LIBS"
    mv "$KAFKA_LIBS.new" "$KAFKA_LIBS"
  fi
}

kafka_version_from_pom() {
  sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$KAFKA_POM" | head -n 1
}

# ---------------------------------------------------------------- PostgreSQL

PG_ADMIN=postgres
as_pg() {
  if is_root; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

# the server's unix socket (admin access by peer auth) must have a short path
pg_socket_dir() {
  if ((${#PG_RUN} + 20 < 100)); then
    printf '%s\n' "$PG_RUN"
  else
    printf '/tmp/trado-pg-%s\n' "$(printf '%s' "$PG_RUN" | cksum | cut -d' ' -f1)"
  fi
}

# make every parent of $1 searchable by the postgres user (chmod o+x where missing)
pg_make_reachable() {
  local dir="$1" mode
  is_root || return 0
  runuser -u postgres -- test -x "$dir" 2>/dev/null && return 0
  while [[ "$dir" != "/" ]]; do
    mode="$(stat -c %a "$dir")"
    if (((8#$mode & 1) == 0)); then
      chmod o+x "$dir"
      say "postgres: chmod o+x $dir (so the postgres user can reach its data)"
    fi
    dir="$(dirname "$dir")"
  done
}

pg_running() { [[ -f "$PG_DATA/PG_VERSION" ]] && as_pg "$PG_BIN/pg_ctl" status -D "$PG_DATA" >/dev/null 2>&1; }

pg_password() {
  if [[ ! -s "$PG_PWFILE" ]]; then
    (
      umask 077
      random_alnum 32 >"$PG_PWFILE"
    )
  fi
  tr -d '\n' <"$PG_PWFILE"
}

pg_trado_answers() {
  PGPASSWORD="$1" PGCONNECT_TIMEOUT=3 "$PG_BIN/psql" -h "$HOST" -p "$PG_PORT" -U "$PG_USER" -d "$PG_DB" \
    -X -Atqc 'select 1' 2>/dev/null | grep -qx 1
}

pg_up() {
  local sockdir pw timeout i
  sockdir="$(pg_socket_dir)"
  timeout="$(timeout_for 60)"
  mkdir -p "$PG_ROOT" "$PG_DATA" "$PG_RUN" "$PG_LOGDIR" "$sockdir"
  if is_root; then
    chown postgres: "$PG_DATA" "$PG_RUN" "$PG_LOGDIR" "$sockdir"
    PG_ADMIN=postgres
  else
    PG_ADMIN="$(id -un)"
  fi
  chmod 700 "$PG_DATA"
  pg_make_reachable "$PG_ROOT"
  pw="$(pg_password)"

  if [[ ! -f "$PG_DATA/PG_VERSION" ]]; then
    say "postgres: initdb $(basename "$(dirname "$PG_BIN")") cluster in ${PG_DATA#"$REPO_ROOT"/}"
    as_pg "$PG_BIN/initdb" -D "$PG_DATA" -U "$PG_ADMIN" --encoding=UTF8 --no-locale \
      --auth-local=peer --auth-host=scram-sha-256 >"$PG_LOGDIR/initdb.log" 2>&1 ||
      die_with_log postgres "$PG_LOGDIR/initdb.log" "initdb failed"
    cat >>"$PG_DATA/postgresql.conf" <<'CONF'

# --- scripts/services.sh: a throwaway cluster for tests ---
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 200
include_if_exists = 'trado-services.conf'
CONF
  fi
  if pg_running; then
    if ! "$PG_BIN/pg_isready" -q -h "$HOST" -p "$PG_PORT"; then
      die_with_log postgres "$PG_LOG" "a server runs on ${PG_DATA#"$REPO_ROOT"/} but does not answer on $HOST:$PG_PORT (port changed? run '$0 down' first)"
    fi
    say "postgres: already running on $HOST:$PG_PORT"
  else
    if port_open "$PG_PORT"; then
      die "postgres: port $HOST:$PG_PORT is taken by another process (set TRADO_PG_PORT)"
    fi
    # rewritten at every start: ports and paths may change between runs
    cat >"$PG_DATA/trado-services.conf" <<CONF
port = $PG_PORT
listen_addresses = '$HOST'
unix_socket_directories = '$sockdir'
CONF
    if is_root; then
      chown postgres: "$PG_DATA/trado-services.conf"
      touch "$PG_LOG"
      chown postgres: "$PG_LOG"
    fi
    if ! as_pg "$PG_BIN/pg_ctl" start -D "$PG_DATA" -l "$PG_LOG" -w -t "$timeout" -s 9>&-; then
      die_with_log postgres "$PG_LOG" "did not start within ${timeout}s"
    fi
    say "postgres: started on $HOST:$PG_PORT"
  fi

  # role and database (idempotent); the password is read from stdin, not the command line
  if ! as_pg "$PG_BIN/psql" -X -h "$sockdir" -p "$PG_PORT" -U "$PG_ADMIN" -d postgres \
    -v ON_ERROR_STOP=1 -Atq >"$PG_LOGDIR/setup.log" 2>&1 <<SQL; then
\\set pw '$pw'
SELECT 'CREATE ROLE $PG_USER' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$PG_USER') \\gexec
ALTER ROLE $PG_USER WITH LOGIN CREATEDB PASSWORD :'pw';
SELECT 'CREATE DATABASE $PG_DB OWNER $PG_USER' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$PG_DB') \\gexec
SQL
    die_with_log postgres "$PG_LOGDIR/setup.log" "could not create role/database '$PG_USER'"
  fi

  for ((i = 0; i < timeout * 2; i++)); do
    pg_trado_answers "$pw" && return 0
    sleep 0.5
  done
  die_with_log postgres "$PG_LOG" "does not answer 'select 1' as $PG_USER on $HOST:$PG_PORT within ${timeout}s"
}

pg_down() {
  if [[ -f "$PG_DATA/PG_VERSION" ]] && find_pg_bin && pg_running; then
    as_pg "$PG_BIN/pg_ctl" stop -D "$PG_DATA" -m fast -w -s >/dev/null 2>&1 ||
      die_with_log postgres "$PG_LOG" "pg_ctl stop failed"
    say "postgres: stopped"
  else
    say "postgres: not running"
  fi
}

# ---------------------------------------------------------------- Redis

redis_answers() {
  [[ "$(timeout 3 redis-cli -h "$HOST" -p "$REDIS_PORT" ping 2>/dev/null)" == PONG ]]
}

redis_up() {
  local timeout i
  timeout="$(timeout_for 30)"
  mkdir -p "$REDIS_DIR"
  if pid_alive "$REDIS_PID" redis-server >/dev/null; then
    redis_answers || die_with_log redis "$REDIS_LOG" "running (pidfile $REDIS_PID) but no PONG on $HOST:$REDIS_PORT (port changed? run '$0 down' first)"
    say "redis: already running on $HOST:$REDIS_PORT"
    return 0
  fi
  rm -f "$REDIS_PID"
  port_open "$REDIS_PORT" && die "redis: port $HOST:$REDIS_PORT is taken by another process (set TRADO_REDIS_PORT)"
  # shellcheck disable=SC2094  # redis logs to the file itself once daemonized; errors before that go to stderr
  redis-server --port "$REDIS_PORT" --bind "$HOST" --protected-mode yes \
    --daemonize yes --pidfile "$REDIS_PID" --logfile "$REDIS_LOG" --dir "$REDIS_DIR" \
    --save '' --appendonly no </dev/null >>"$REDIS_LOG" 2>&1 9>&- ||
    die_with_log redis "$REDIS_LOG" "redis-server failed to start"
  for ((i = 0; i < timeout * 5; i++)); do
    if redis_answers; then
      say "redis: started on $HOST:$REDIS_PORT"
      return 0
    fi
    sleep 0.2
  done
  die_with_log redis "$REDIS_LOG" "no PONG on $HOST:$REDIS_PORT within ${timeout}s"
}

redis_down() { stop_pidfile redis "$REDIS_PID" 15 redis-server; }

# ---------------------------------------------------------------- Kafka

KAFKA_JAVA_OPTS=(-Xms256m -Xmx512m -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:+ExitOnOutOfMemoryError
  -Djava.awt.headless=true "-Dlog4j2.configurationFile=$KAFKA_LOG4J")

# a real protocol round trip: ApiVersions against the broker's listener
kafka_answers() {
  port_open "$KAFKA_PORT" || return 1
  timeout 30 java -Xms32m -Xmx128m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC \
    "-Dlog4j2.configurationFile=$KAFKA_LOG4J" -Dlog4j2.level=ERROR -cp "$KAFKA_LIBS/*" \
    org.apache.kafka.tools.BrokerApiVersionsCommand --bootstrap-server "$HOST:$KAFKA_PORT" \
    </dev/null 2>/dev/null | grep -q "^$HOST:$KAFKA_PORT"
}

kafka_write_conf() {
  cat >"$KAFKA_CONF" <<CONF
# generated by scripts/services.sh at every start
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@$HOST:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://$HOST:$KAFKA_PORT,CONTROLLER://$HOST:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://$HOST:$KAFKA_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$KAFKA_DATA
num.partitions=3
auto.create.topics.enable=true
offsets.topic.replication.factor=1
offsets.topic.num.partitions=3
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
num.network.threads=2
num.io.threads=2
num.recovery.threads.per.data.dir=1
log.retention.hours=24
CONF
}

# the uuid format of Kafka's cluster ids: 16 random bytes, base64url without padding
kafka_cluster_id() {
  local id
  while :; do
    id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
    [[ "$id" == -* || "$id" == AAAAAAAAAAAAAAAAAAAAA? ]] || break
  done
  printf '%s\n' "$id"
}

KAFKA_STARTED=0
kafka_start() {
  local pid
  mkdir -p "$KAFKA_DIR" "$KAFKA_DATA"
  if pid="$(pid_alive "$KAFKA_PID" kafka.Kafka)"; then
    return 0
  fi
  rm -f "$KAFKA_PID"
  port_open "$KAFKA_PORT" && die "kafka: port $HOST:$KAFKA_PORT is taken by another process (set TRADO_KAFKA_PORT)"
  port_open "$KAFKA_CONTROLLER_PORT" && die "kafka: port $HOST:$KAFKA_CONTROLLER_PORT is taken by another process (set TRADO_KAFKA_CONTROLLER_PORT)"
  kafka_write_conf
  [[ -f "$KAFKA_LOG" ]] && mv -f "$KAFKA_LOG" "$KAFKA_LOG.prev"
  if [[ ! -f "$KAFKA_DATA/meta.properties" ]]; then
    say "kafka: formatting KRaft storage in ${KAFKA_DATA#"$REPO_ROOT"/}"
    java -Xmx256m "-Dlog4j2.configurationFile=$KAFKA_LOG4J" -cp "$KAFKA_LIBS/*" \
      kafka.tools.StorageTool format -t "$(kafka_cluster_id)" -c "$KAFKA_CONF" \
      </dev/null >>"$KAFKA_LOG" 2>&1 || die_with_log kafka "$KAFKA_LOG" "storage format failed"
  fi
  # setsid: the broker outlives this script and its process group; the inner shell writes
  # its own pid, then becomes java
  # shellcheck disable=SC2016  # $$ and $@ are the inner shell's
  setsid bash -c 'echo $$ >"$1"; shift; exec "$@"' _ "$KAFKA_PID" \
    java "${KAFKA_JAVA_OPTS[@]}" -cp "$KAFKA_LIBS/*" kafka.Kafka "$KAFKA_CONF" \
    </dev/null >>"$KAFKA_LOG" 2>&1 9>&- &
  KAFKA_STARTED=1
  say "kafka: starting $(kafka_version_from_pom) on $HOST:$KAFKA_PORT (controller $HOST:$KAFKA_CONTROLLER_PORT)"
}

kafka_wait() {
  local timeout deadline how=started
  timeout="$(timeout_for 120)"
  deadline=$((SECONDS + timeout))
  ((KAFKA_STARTED)) || how="already running"
  # a broker found running may still be booting (e.g. left by an `up` that failed elsewhere)
  while ((SECONDS < deadline)); do
    if [[ -s "$KAFKA_PID" ]] && ! pid_alive "$KAFKA_PID" kafka.Kafka >/dev/null; then
      die_with_log kafka "$KAFKA_LOG" "the broker exited during startup"
    fi
    # the log line first: each ApiVersions probe costs a JVM start
    if grep -q 'Kafka Server started' "$KAFKA_LOG" 2>/dev/null && kafka_answers; then
      say "kafka: $how on $HOST:$KAFKA_PORT (pid $(<"$KAFKA_PID"))"
      return 0
    fi
    sleep 1
  done
  die_with_log kafka "$KAFKA_LOG" "does not answer on $HOST:$KAFKA_PORT within ${timeout}s (port changed? '$0 down' stops it)"
}

kafka_down() { stop_pidfile kafka "$KAFKA_PID" 60 kafka.Kafka; }

# ---------------------------------------------------------------- commands

write_env() {
  local pw
  pw="$(tr -d '\n' <"$PG_PWFILE")"
  (
    umask 077
    cat >"$ENV_FILE.tmp" <<ENV
DATABASE_URL=postgresql+asyncpg://$PG_USER:$pw@$HOST:$PG_PORT/$PG_DB
REDIS_URL=redis://$HOST:$REDIS_PORT/0
KAFKA_BOOTSTRAP_SERVERS=$HOST:$KAFKA_PORT
ENV
    # the trace receiver's lines (OTEL_EXPORTER_OTLP_ENDPOINT, TRADO_TRACE_QUERY_URL)
    cat "$STATE_DIR/otel.env" >>"$ENV_FILE.tmp"
  )
  mv -f "$ENV_FILE.tmp" "$ENV_FILE"
  say "wrote ${ENV_FILE#"$REPO_ROOT"/} (password masked here):"
  sed -E 's#(://[^:/@]+:)[^@]*@#\1***@#' "$ENV_FILE"
}

lock() {
  mkdir -p "$STATE_DIR"
  exec 9>"$STATE_DIR/.lock"
  flock -w 600 9 || die "another services.sh holds $STATE_DIR/.lock"
}

cmd_up() {
  local start=$SECONDS
  lock
  install_missing
  # the broker's JVM boots while PostgreSQL and Redis start
  kafka_start
  pg_up
  redis_up
  "$SCRIPT_DIR/otel.sh" up
  kafka_wait
  write_env
  say "all up in $((SECONDS - start))s"
}

cmd_down() {
  lock
  "$SCRIPT_DIR/otel.sh" down
  kafka_down
  redis_down
  pg_down
}

cmd_kafka_stop() {
  lock
  kafka_down
}

cmd_kafka_start() {
  lock
  [[ -d "$KAFKA_LIBS" ]] || die "kafka: no jars in ${KAFKA_LIBS#"$REPO_ROOT"/}; run '$0 up' first"
  kafka_start
  kafka_wait
}

cmd_postgres_stop() {
  lock
  pg_down
}

cmd_postgres_start() {
  lock
  find_pg_bin || die "postgres: no cluster or server binaries; run '$0 up' first"
  pg_up
}

cmd_redis_stop() {
  lock
  redis_down
}

cmd_redis_start() {
  lock
  command -v redis-server >/dev/null 2>&1 || die "redis: not installed; run '$0 up' first"
  redis_up
}

cmd_status() {
  local down=0 pid
  if [[ -f "$PG_DATA/PG_VERSION" ]] && find_pg_bin && pg_running &&
    "$PG_BIN/pg_isready" -q -h "$HOST" -p "$PG_PORT"; then
    say "postgres: up   $HOST:$PG_PORT"
  else
    say "postgres: down $HOST:$PG_PORT"
    down=1
  fi
  if pid_alive "$REDIS_PID" redis-server >/dev/null && command -v redis-cli >/dev/null && redis_answers; then
    say "redis:    up   $HOST:$REDIS_PORT"
  else
    say "redis:    down $HOST:$REDIS_PORT"
    down=1
  fi
  if pid="$(pid_alive "$KAFKA_PID" kafka.Kafka)" && port_open "$KAFKA_PORT"; then
    say "kafka:    up   $HOST:$KAFKA_PORT (pid $pid)"
  else
    say "kafka:    down $HOST:$KAFKA_PORT"
    down=1
  fi
  "$SCRIPT_DIR/otel.sh" status || down=1
  ((down == 0)) || return 3
}

main() {
  if [[ "${2:-}" == "--replicated" ]]; then
    exec "$SCRIPT_DIR/replicated/services.sh" "$1"
  fi
  check_port TRADO_PG_PORT "$PG_PORT"
  check_port TRADO_REDIS_PORT "$REDIS_PORT"
  check_port TRADO_KAFKA_PORT "$KAFKA_PORT"
  check_port TRADO_KAFKA_CONTROLLER_PORT "$KAFKA_CONTROLLER_PORT"
  case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  kafka-stop) cmd_kafka_stop ;;
  kafka-start) cmd_kafka_start ;;
  postgres-stop) cmd_postgres_stop ;;
  postgres-start) cmd_postgres_start ;;
  redis-stop) cmd_redis_stop ;;
  redis-start) cmd_redis_start ;;
  *)
    printf 'usage: %s up|down|status [--replicated] | {kafka,postgres,redis}-{stop,start}\n' "$0" >&2
    exit 2
    ;;
  esac
}

# Sourced (scripts/replicated/*.sh reuse the functions above), it defines them and runs nothing.
if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  main "$@"
fi
