#!/usr/bin/env bash
# Local single-node Kafka (KRaft) and Redis for development, demos and CI.
#
#   deploy/local/stack.sh up | down | status
#   deploy/local/stack.sh secure-up | secure-down | secure-status
#
# The secure-* actions run a second, separate broker that only accepts
# SASL_SSL (SCRAM-SHA-512 over TLS with a CA it generates); see secure.sh.
#
# Everything lives under one folder git ignores ($PULSE_LOCAL_DIR, default
# .pulse/ at the repository root): the broker jars fetched from Maven Central,
# broker data, Redis data, logs and pid files. `down` stops only what `up`
# started (by recorded pid); a Redis that was already listening is reused and
# left alone.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE="$ROOT/deploy/local"
STATE=${PULSE_LOCAL_DIR:-$ROOT/.pulse}
KAFKA_VERSION=${PULSE_KAFKA_VERSION:-4.1.1}
LOG4J_VERSION=2.24.3
DEP_PLUGIN=org.apache.maven.plugins:maven-dependency-plugin:3.8.1
KAFKA_PORT=${PULSE_KAFKA_PORT:-9092}
KAFKA_CONTROLLER_PORT=${PULSE_KAFKA_CONTROLLER_PORT:-9093}
REDIS_PORT=${PULSE_REDIS_PORT:-6379}
KAFKA_START_TIMEOUT=${PULSE_KAFKA_START_TIMEOUT:-120}
PYTHON=${PULSE_PYTHON:-python3}

CACHE="$STATE/cache/kafka-$KAFKA_VERSION"
KDIR="$STATE/kafka"
RDIR="$STATE/redis"

say() { printf 'pulse local: %s\n' "$*"; }
die() { printf 'pulse local: error: %s\n' "$*" >&2; exit 1; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# A pid file's process is ours only if it is still that program: after a reboot the
# pid may belong to anything (even a thread of the broker, which kill -0 accepts), and
# "already running" would then be a lie. $2: what its command line must match.
pid_alive() {
  [ -f "$1" ] || return 1
  local pid
  pid=$(cat "$1")
  kill -0 "$pid" 2>/dev/null || return 1
  [ -r "/proc/$pid/status" ] || return 0  # no /proc (macOS): kill -0 is all we can ask
  grep -q "^Tgid:[[:space:]]*$pid\$" "/proc/$pid/status" || return 1  # a thread, not a process
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qE "${2:-kafka\.Kafka}"
}

need() { command -v "$1" >/dev/null 2>&1 || die "$1 is required: $2"; }

# ---------------------------------------------------------------- Kafka

kafka_fetch() {
  if [ -f "$CACHE/.complete" ]; then return 0; fi
  need java "install OpenJDK 17 or newer (apt-get install -y openjdk-17-jre-headless)"
  need mvn "install Maven (apt-get install -y maven)"
  say "downloading Apache Kafka $KAFKA_VERSION broker jars from Maven Central into $CACHE (first run only)"
  mkdir -p "$CACHE"
  cat >"$CACHE/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>pulse.local</groupId>
  <artifactId>kafka-broker</artifactId>
  <version>$KAFKA_VERSION</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$KAFKA_VERSION</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-api</artifactId><version>$LOG4J_VERSION</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId><version>$LOG4J_VERSION</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId><version>$LOG4J_VERSION</version></dependency>
  </dependencies>
</project>
POM
  rm -rf "$CACHE/lib"
  if ! mvn -B -q -f "$CACHE/pom.xml" "$DEP_PLUGIN:copy-dependencies" \
      -DincludeScope=runtime -DoutputDirectory="$CACHE/lib" >"$CACHE/mvn.log" 2>&1; then
    tail -n 30 "$CACHE/mvn.log" >&2
    die "Maven could not fetch the Kafka broker (log: $CACHE/mvn.log)"
  fi
  [ -f "$CACHE/lib/kafka_2.13-$KAFKA_VERSION.jar" ] || die "Maven finished but kafka_2.13-$KAFKA_VERSION.jar is missing from $CACHE/lib"
  touch "$CACHE/.complete"
  say "fetched $(ls "$CACHE/lib" | wc -l) jars"
}

kafka_configure() {
  mkdir -p "$KDIR/data" "$KDIR/logs"
  sed -e "s#@PORT@#$KAFKA_PORT#g" -e "s#@CONTROLLER_PORT@#$KAFKA_CONTROLLER_PORT#g" \
      -e "s#@DATA_DIR@#$KDIR/data#g" "$HERE/kafka.properties.in" >"$KDIR/server.properties"
  if [ ! -f "$KDIR/data/meta.properties" ]; then
    local cid
    cid=$(java -cp "$CACHE/lib/*" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n 1)
    [ -n "$cid" ] || die "could not generate a Kafka cluster id (is the jar set complete? see $CACHE)"
    java -Dlog4j2.configurationFile="$HERE/log4j2.properties" -Dkafka.logs.dir="$KDIR/logs" \
      -cp "$CACHE/lib/*" kafka.tools.StorageTool format -t "$cid" \
      -c "$KDIR/server.properties" --ignore-formatted >"$KDIR/logs/format.log" 2>&1 \
      || { cat "$KDIR/logs/format.log" >&2; die "formatting KRaft storage in $KDIR/data failed"; }
  fi
}

kafka_tail_log() {
  printf -- '--- last lines of %s ---\n' "$KDIR/logs/server.log" >&2
  tail -n 40 "$KDIR/logs/server.log" >&2 2>/dev/null || true
  tail -n 20 "$KDIR/logs/stdout.log" >&2 2>/dev/null || true
}

kafka_ready() {
  "$PYTHON" "$HERE/kafka_ready.py" "127.0.0.1:$KAFKA_PORT" >/dev/null 2>&1
}

need_probe() {
  "$PYTHON" -c "import aiokafka" 2>/dev/null \
    || die "$PYTHON cannot import aiokafka, which the readiness check needs: run 'pulse local' from the project's .venv, or set PULSE_PYTHON"
}

kafka_up() {
  if pid_alive "$KDIR/kafka.pid"; then
    say "Kafka already running (pid $(cat "$KDIR/kafka.pid"), 127.0.0.1:$KAFKA_PORT)"
    return 0
  fi
  if port_open "$KAFKA_PORT"; then
    die "port $KAFKA_PORT is taken by a process this stack did not start; stop it or set PULSE_KAFKA_PORT"
  fi
  kafka_fetch
  kafka_configure
  local t0=$SECONDS
  say "starting Kafka $KAFKA_VERSION on 127.0.0.1:$KAFKA_PORT (data $KDIR/data, logs $KDIR/logs)"
  setsid nohup java -Xms256m -Xmx512m -XX:+UseG1GC -Djava.awt.headless=true \
    -Dkafka.logs.dir="$KDIR/logs" -Dlog4j2.configurationFile="$HERE/log4j2.properties" \
    -cp "$CACHE/lib/*" kafka.Kafka "$KDIR/server.properties" \
    >"$KDIR/logs/stdout.log" 2>&1 </dev/null &
  echo $! >"$KDIR/kafka.pid"
  while ! kafka_ready; do
    if ! pid_alive "$KDIR/kafka.pid"; then
      rm -f "$KDIR/kafka.pid"
      kafka_tail_log
      die "Kafka exited during start-up"
    fi
    if [ $((SECONDS - t0)) -ge "$KAFKA_START_TIMEOUT" ]; then
      kafka_tail_log
      die "Kafka did not answer a metadata request within ${KAFKA_START_TIMEOUT}s"
    fi
    sleep 0.5
  done
  say "Kafka ready after $((SECONDS - t0))s (pid $(cat "$KDIR/kafka.pid"))"
}

kafka_down() {
  if ! pid_alive "$KDIR/kafka.pid"; then
    rm -f "$KDIR/kafka.pid"
    say "Kafka not running (nothing to stop)"
    return 0
  fi
  local pid
  pid=$(cat "$KDIR/kafka.pid")
  kill -TERM "$pid"
  for _ in $(seq 1 60); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.5
  done
  if kill -0 "$pid" 2>/dev/null; then
    say "Kafka did not stop within 30s of SIGTERM; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$KDIR/kafka.pid"
  say "Kafka stopped"
}

kafka_status() {
  if pid_alive "$KDIR/kafka.pid"; then
    local rss
    rss=$(awk '/VmRSS/ {print $2 " " $3}' "/proc/$(cat "$KDIR/kafka.pid")/status" 2>/dev/null || echo "?")
    if kafka_ready; then
      say "Kafka   running  pid $(cat "$KDIR/kafka.pid")  127.0.0.1:$KAFKA_PORT  rss $rss  logs $KDIR/logs"
    else
      say "Kafka   starting or unhealthy  pid $(cat "$KDIR/kafka.pid")  127.0.0.1:$KAFKA_PORT  logs $KDIR/logs"
      return 1
    fi
  else
    say "Kafka   not running"
    return 1
  fi
}

# ---------------------------------------------------------------- Redis

redis_ping() {
  local reply
  port_open "$REDIS_PORT" || return 1
  # The braces keep 2>/dev/null from applying to the rest of the script.
  { exec 3<>"/dev/tcp/127.0.0.1/$REDIS_PORT"; } 2>/dev/null || return 1
  printf 'PING\r\n' >&3
  read -r -t 2 reply <&3 || { exec 3>&-; return 1; }
  exec 3>&-
  # +PONG, or -NOAUTH from a Redis that wants a password: either is a Redis.
  case "$reply" in +PONG*|-NOAUTH*) return 0 ;; *) return 1 ;; esac
}

redis_install() {
  command -v redis-server >/dev/null 2>&1 && return 0
  say "redis-server not found; installing Debian's redis-server package"
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || die "redis-server is missing and this user cannot install it (install the redis-server package)"
    sudo=sudo
  fi
  command -v apt-get >/dev/null 2>&1 || die "redis-server is missing and apt-get is not available; install Redis 6 or newer"
  $sudo apt-get update -qq >/dev/null || die "apt-get update failed"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq redis-server >/dev/null \
    || die "apt-get install redis-server failed"
}

redis_up() {
  mkdir -p "$RDIR"
  if pid_alive "$RDIR/redis.pid" redis-server; then
    say "Redis already running (pid $(cat "$RDIR/redis.pid"), 127.0.0.1:$REDIS_PORT)"
    return 0
  fi
  rm -f "$RDIR/redis.pid"
  if port_open "$REDIS_PORT"; then
    redis_ping || die "port $REDIS_PORT is taken by something that does not answer as Redis; set PULSE_REDIS_PORT"
    echo "$REDIS_PORT" >"$RDIR/external"
    say "reusing the Redis already listening on 127.0.0.1:$REDIS_PORT (this stack will not stop it)"
    return 0
  fi
  rm -f "$RDIR/external"
  redis_install
  redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --daemonize yes \
    --pidfile "$RDIR/redis.pid" --dir "$RDIR" --logfile "$RDIR/redis.log" \
    --save "" --appendonly no >/dev/null \
    || die "redis-server failed to start (log: $RDIR/redis.log)"
  for _ in $(seq 1 50); do
    redis_ping && { say "Redis ready on 127.0.0.1:$REDIS_PORT (pid $(cat "$RDIR/redis.pid" 2>/dev/null), log $RDIR/redis.log)"; return 0; }
    sleep 0.2
  done
  tail -n 20 "$RDIR/redis.log" >&2 2>/dev/null || true
  die "Redis did not answer PING within 10s"
}

redis_down() {
  if pid_alive "$RDIR/redis.pid" redis-server; then
    local pid
    pid=$(cat "$RDIR/redis.pid")
    kill -TERM "$pid"
    for _ in $(seq 1 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.2
    done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
    rm -f "$RDIR/redis.pid"
    say "Redis stopped"
  elif [ -f "$RDIR/external" ]; then
    rm -f "$RDIR/external"
    say "Redis on 127.0.0.1:$REDIS_PORT was not started by this stack; left running"
  else
    say "Redis not running (nothing to stop)"
  fi
}

redis_status() {
  if pid_alive "$RDIR/redis.pid" redis-server; then
    say "Redis   running  pid $(cat "$RDIR/redis.pid")  127.0.0.1:$REDIS_PORT  log $RDIR/redis.log"
  elif [ -f "$RDIR/external" ] && redis_ping; then
    say "Redis   reused   (not started by this stack)  127.0.0.1:$REDIS_PORT"
  else
    say "Redis   not running"
    return 1
  fi
}

# ---------------------------------------------------------------- secure Kafka

# shellcheck source=deploy/local/secure.sh
. "$HERE/secure.sh"

# ---------------------------------------------------------------- main

case "${1:-}" in
  up)
    need_probe
    kafka_up
    redis_up
    say "data and logs under $STATE; stop with 'pulse local down'"
    ;;
  down)
    kafka_down
    redis_down
    if pid_alive "$SKDIR/kafka.pid"; then secure_down; fi
    ;;
  secure-up)
    need_probe
    secure_up
    ;;
  secure-down)
    secure_down
    ;;
  secure-status)
    need_probe
    secure_status
    ;;
  status)
    need_probe
    rc=0
    kafka_status || rc=1
    redis_status || rc=1
    exit $rc
    ;;
  *)
    echo "usage: $0 up|down|status|secure-up|secure-down|secure-status" >&2
    exit 2
    ;;
esac
