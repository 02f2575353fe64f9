# Sourced by stack.sh: a second, separate local Kafka that only accepts SASL_SSL.
#
#   deploy/local/stack.sh secure-up | secure-down | secure-status
#
# Everything it makes lives in $PULSE_LOCAL_DIR/kafka-secure (git ignores
# .pulse/): a CA and a broker certificate for 127.0.0.1/localhost generated
# with openssl, random SCRAM-SHA-512 passwords for the client user `pulse` and
# the broker's own user, the KRaft data and logs. Ports: 9192 for clients
# (PULSE_SECURE_KAFKA_PORT) and 9193 for the controller
# (PULSE_SECURE_KAFKA_CONTROLLER_PORT). `secure-up` writes client.env, the
# PULSE_* settings a worker or `pulse` command needs to use it:
#
#   set -a; . .pulse/kafka-secure/client.env; set +a
#
# The files holding secrets are mode 0600. Nothing is shared with the
# plaintext broker of `up` but the downloaded jars.

SECURE_PORT=${PULSE_SECURE_KAFKA_PORT:-9192}
SECURE_CONTROLLER_PORT=${PULSE_SECURE_KAFKA_CONTROLLER_PORT:-9193}
SKDIR="$STATE/kafka-secure"
STLS="$SKDIR/tls"
SECURE_USER=pulse
SECURE_ADMIN_USER=pulse-broker

secure_tls() {
  [ -f "$STLS/.complete" ] && return 0
  need openssl "install openssl (apt-get install -y openssl)"
  say "generating a CA and a broker certificate for 127.0.0.1 in $STLS"
  rm -rf "$STLS"
  mkdir -p "$STLS"
  chmod 700 "$STLS"
  local key_password
  key_password=$(openssl rand -hex 24)
  (
    cd "$STLS"
    umask 077
    openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 825 \
      -keyout ca.key -out ca.pem -subj "/CN=Pulse local CA" \
      -addext "basicConstraints=critical,CA:TRUE" \
      -addext "keyUsage=critical,keyCertSign,cRLSign" >/dev/null 2>&1
    openssl req -new -newkey rsa:2048 -nodes -sha256 \
      -keyout broker.key -out broker.csr -subj "/CN=localhost" >/dev/null 2>&1
    printf '%s\n' \
      "basicConstraints=CA:FALSE" \
      "keyUsage=critical,digitalSignature,keyEncipherment" \
      "extendedKeyUsage=serverAuth,clientAuth" \
      "subjectAltName=IP:127.0.0.1,DNS:localhost" >broker.ext
    openssl x509 -req -sha256 -days 825 -in broker.csr -CA ca.pem -CAkey ca.key \
      -CAcreateserial -extfile broker.ext -out broker.pem >/dev/null 2>&1
    # Kafka's PEM keystore: an encrypted PKCS#8 key followed by the certificate chain.
    printf '%s' "$key_password" >key.password
    # (Java 17 cannot read PBES2-encrypted keys: PKCS#12 PBE with 3DES it can.)
    openssl pkcs8 -topk8 -v1 PBE-SHA1-3DES -in broker.key -passout file:key.password \
      -out broker-key.enc.pem
    cat broker-key.enc.pem broker.pem ca.pem >broker-keystore.pem
    rm -f broker.csr broker.ext broker-key.enc.pem ca.srl
  ) || die "openssl could not generate the certificates in $STLS"
  openssl verify -CAfile "$STLS/ca.pem" "$STLS/broker.pem" >/dev/null \
    || die "the generated broker certificate does not verify against the generated CA"
  touch "$STLS/.complete"
}

secure_credentials() {
  # Random passwords, made once and kept with the data they were formatted into.
  if [ ! -f "$SKDIR/credentials" ]; then
    (
      umask 077
      printf 'CLIENT_PASSWORD=%s\nADMIN_PASSWORD=%s\n' \
        "$(openssl rand -hex 16)" "$(openssl rand -hex 16)" >"$SKDIR/credentials"
    )
  fi
  # shellcheck disable=SC1091
  . "$SKDIR/credentials"
}

secure_configure() {
  mkdir -p "$SKDIR/data" "$SKDIR/logs"
  chmod 700 "$SKDIR"
  secure_tls
  secure_credentials
  (
    umask 077
    sed -e "s#@PORT@#$SECURE_PORT#g" -e "s#@CONTROLLER_PORT@#$SECURE_CONTROLLER_PORT#g" \
        -e "s#@DATA_DIR@#$SKDIR/data#g" -e "s#@TLS_DIR@#$STLS#g" \
        -e "s#@ADMIN_USER@#$SECURE_ADMIN_USER#g" -e "s#@ADMIN_PASSWORD@#$ADMIN_PASSWORD#g" \
        -e "s#@KEY_PASSWORD@#$(cat "$STLS/key.password")#g" \
        "$HERE/kafka-secure.properties.in" >"$SKDIR/server.properties"
    cat >"$SKDIR/client.env" <<ENV
PULSE_KAFKA_BOOTSTRAP=127.0.0.1:$SECURE_PORT
PULSE_KAFKA_SECURITY_PROTOCOL=SASL_SSL
PULSE_KAFKA_SASL_MECHANISM=SCRAM-SHA-512
PULSE_KAFKA_SASL_USERNAME=$SECURE_USER
PULSE_KAFKA_SASL_PASSWORD=$CLIENT_PASSWORD
PULSE_KAFKA_SSL_CAFILE=$STLS/ca.pem
ENV
  )
  if [ ! -f "$SKDIR/data/meta.properties" ]; then
    local cid
    cid=$(java -cp "$CACHE/lib/*" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n 1)
    [ -n "$cid" ] || die "could not generate a Kafka cluster id (is the jar set complete? see $CACHE)"
    java -Dlog4j2.configurationFile="$HERE/log4j2.properties" -Dkafka.logs.dir="$SKDIR/logs" \
      -cp "$CACHE/lib/*" kafka.tools.StorageTool format -t "$cid" \
      -c "$SKDIR/server.properties" --ignore-formatted \
      --add-scram "SCRAM-SHA-512=[name=$SECURE_ADMIN_USER,password=$ADMIN_PASSWORD]" \
      --add-scram "SCRAM-SHA-512=[name=$SECURE_USER,password=$CLIENT_PASSWORD]" \
      >"$SKDIR/logs/format.log" 2>&1 \
      || { cat "$SKDIR/logs/format.log" >&2; die "formatting KRaft storage in $SKDIR/data failed"; }
  fi
}

secure_ready() {
  "$PYTHON" "$HERE/kafka_ready.py" "127.0.0.1:$SECURE_PORT" "$SKDIR/client.env" >/dev/null 2>&1
}

secure_tail_log() {
  printf -- '--- last lines of %s ---\n' "$SKDIR/logs/server.log" >&2
  tail -n 40 "$SKDIR/logs/server.log" >&2 2>/dev/null || true
  tail -n 20 "$SKDIR/logs/stdout.log" >&2 2>/dev/null || true
}

secure_up() {
  if pid_alive "$SKDIR/kafka.pid"; then
    say "secure Kafka already running (pid $(cat "$SKDIR/kafka.pid"), SASL_SSL 127.0.0.1:$SECURE_PORT)"
    return 0
  fi
  local port
  for port in "$SECURE_PORT" "$SECURE_CONTROLLER_PORT"; do
    if port_open "$port"; then
      die "port $port is taken by a process this stack did not start; stop it or set PULSE_SECURE_KAFKA_PORT / PULSE_SECURE_KAFKA_CONTROLLER_PORT"
    fi
  done
  kafka_fetch
  secure_configure
  local t0=$SECONDS
  say "starting secure Kafka $KAFKA_VERSION (SASL_SSL, SCRAM-SHA-512) on 127.0.0.1:$SECURE_PORT (data $SKDIR/data, logs $SKDIR/logs)"
  setsid nohup java -Xms128m -Xmx384m -XX:+UseG1GC -Djava.awt.headless=true \
    -Dkafka.logs.dir="$SKDIR/logs" -Dlog4j2.configurationFile="$HERE/log4j2.properties" \
    -cp "$CACHE/lib/*" kafka.Kafka "$SKDIR/server.properties" \
    >"$SKDIR/logs/stdout.log" 2>&1 </dev/null &
  echo $! >"$SKDIR/kafka.pid"
  while ! secure_ready; do
    if ! pid_alive "$SKDIR/kafka.pid"; then
      rm -f "$SKDIR/kafka.pid"
      secure_tail_log
      die "secure Kafka exited during start-up"
    fi
    if [ $((SECONDS - t0)) -ge "$KAFKA_START_TIMEOUT" ]; then
      secure_tail_log
      die "secure Kafka did not answer an authenticated metadata request within ${KAFKA_START_TIMEOUT}s"
    fi
    sleep 0.5
  done
  say "secure Kafka ready after $((SECONDS - t0))s (pid $(cat "$SKDIR/kafka.pid"))"
  say "client settings: set -a; . $SKDIR/client.env; set +a"
}

secure_down() {
  if ! pid_alive "$SKDIR/kafka.pid"; then
    rm -f "$SKDIR/kafka.pid"
    say "secure Kafka not running (nothing to stop)"
    return 0
  fi
  local pid
  pid=$(cat "$SKDIR/kafka.pid")
  kill -TERM "$pid"
  for _ in $(seq 1 60); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.5
  done
  if kill -0 "$pid" 2>/dev/null; then
    say "secure Kafka did not stop within 30s of SIGTERM; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$SKDIR/kafka.pid"
  say "secure Kafka stopped"
}

secure_status() {
  if ! pid_alive "$SKDIR/kafka.pid"; then
    say "secure Kafka not running"
    return 1
  fi
  if secure_ready; then
    say "secure Kafka running  pid $(cat "$SKDIR/kafka.pid")  SASL_SSL 127.0.0.1:$SECURE_PORT  settings $SKDIR/client.env  logs $SKDIR/logs"
  else
    say "secure Kafka starting or unhealthy  pid $(cat "$SKDIR/kafka.pid")  127.0.0.1:$SECURE_PORT  logs $SKDIR/logs"
    return 1
  fi
}
