#!/usr/bin/env bash
# The whole surgewatch deployment on one machine, loopback only:
#   Kafka (deploy/kafka/broker.sh) -> surgewatch run -> Alertmanager -> webhook printer
#                                           \-> /metrics <- Prometheus (rules of deploy/prometheus)
# plus a simulated feed (surgewatch simulate + produce). For trying the ops surface
# end to end without Docker; compose.yaml and k8s/ are the real deployments.
#
#   deploy/local/stack.sh start|stop|status
#
# Everything the stack writes (configs, data, logs, pid files, the generated
# pseudonym key) lives in one run dir, so `stop` + `rm -rf` leaves nothing behind.
# `stop` only signals pids it recorded and whose command line still names the run
# dir (a recycled pid is never killed). The broker gets its own data dir (and so
# its own pid file), so the stack never stops a broker the test suite started.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
RUN="${SURGEWATCH_RUN_DIR:-/tmp/surgewatch-local}"
RUN="${RUN%/}"
PY="${PYTHON:-python3}"
export KAFKA_PORT="${KAFKA_PORT:-19092}"
export KAFKA_DATA_DIR="$RUN/kafka"
PROMETHEUS_PORT="${PROMETHEUS_PORT:-9090}"
ALERTMANAGER_PORT="${ALERTMANAGER_PORT:-9093}"
WEBHOOK_PORT="${WEBHOOK_PORT:-9099}"
METRICS_PORT="${SURGEWATCH_METRICS_PORT:-9108}"
SIM_PROFILE="${SURGEWATCH_SIM_PROFILE:-small}"
STOP_TIMEOUT="${STOP_TIMEOUT:-20}"
TOPIC=complaints
# stop order: surgewatch first (it drains and commits while Kafka is still up)
SERVICES=(surgewatch prometheus alertmanager webhook)

log() { echo "stack.sh: $*"; }
die() { echo "stack.sh: error: $*" >&2; exit 1; }

pidfile() { echo "$RUN/pids/$1.pid"; }
# alive NAME: prints the pid if the recorded process runs, is not a zombie, and is ours.
alive() {
  local pid state
  pid="$(cat "$(pidfile "$1")" 2>/dev/null)" || return 1
  [ -n "$pid" ] && [ -d "/proc/$pid" ] || return 1
  state="$(sed -n 's/^[0-9]* (.*) \([A-Za-z]\).*/\1/p' "/proc/$pid/stat" 2>/dev/null || true)"
  [ "$state" != Z ] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "$RUN/" || return 1
  echo "$pid"
}
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
http_ok() { "$PY" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2).read()' "$1" 2>/dev/null; }

# spawn NAME CMD...: start in its own session (a Ctrl-C in this shell does not reach it).
# setsid execs in place here (a background job is no group leader), so $! is the service's pid.
spawn() {
  local name="$1"; shift
  setsid "$@" >>"$RUN/logs/$name.log" 2>&1 </dev/null &
  echo $! >"$(pidfile "$name")"
}

# wait_ready NAME URL SECONDS
wait_ready() {
  local name="$1" url="$2" deadline=$((SECONDS + $3))
  until http_ok "$url"; do
    if ! alive "$name" >/dev/null; then
      tail -n 20 "$RUN/logs/$name.log" >&2 || true
      die "$name exited during startup (log: $RUN/logs/$name.log)"
    fi
    [ "$SECONDS" -lt "$deadline" ] || die "$name not ready at $url after $3 s (log: $RUN/logs/$name.log)"
    sleep 0.2
  done
}

# already NAME PORT: true (and says so) if our NAME runs; dies if someone else holds PORT.
already() {
  local pid
  if pid="$(alive "$1")"; then log "$1 already running (pid $pid)"; return 0; fi
  ! port_open "$2" || die "127.0.0.1:$2 is in use by another process (set the port variable, see --help)"
  return 1
}

pseudonym_key() {
  # A real key from the environment wins; otherwise one generated once per run dir (0600).
  # Never on a command line: /proc/*/cmdline is world-readable.
  if [ -n "${SURGEWATCH_PSEUDONYM_KEY:-}" ]; then echo "$SURGEWATCH_PSEUDONYM_KEY"; return; fi
  if [ ! -s "$RUN/pseudonym.key" ]; then
    (umask 077; "$PY" -c 'import secrets; print(secrets.token_hex(32))' >"$RUN/pseudonym.key")
    log "generated a pseudonym key in $RUN/pseudonym.key" >&2
  fi
  cat "$RUN/pseudonym.key"
}

start_kafka() {
  # --keep-data: topics and committed offsets survive stop/start, matching surgewatch's
  # --state-dir checkpoint in the same run dir (a fresh broker under an old checkpoint
  # would make the re-fed events look like duplicates). Fresh stack: rm -rf the run dir.
  bash "$ROOT/deploy/kafka/broker.sh" start --keep-data >>"$RUN/logs/kafka-start.log" 2>&1 \
    || { tail -n 20 "$RUN/logs/kafka-start.log" >&2; die "Kafka did not start (log: $RUN/logs/kafka-start.log)"; }
  # Create the topics up front: auto-creation works, but the producer's first send to a
  # missing topic logs an error that looks like a failure.
  "$PY" - "127.0.0.1:$KAFKA_PORT" "$TOPIC" complaints.alerts complaints.dlq complaints.scored <<'PY' \
    >>"$RUN/logs/kafka-start.log" 2>&1 || die "creating topics failed (log: $RUN/logs/kafka-start.log)"
import sys
from kafka.admin import KafkaAdminClient, NewTopic
admin = KafkaAdminClient(bootstrap_servers=sys.argv[1], client_id="surgewatch-stack")
have = set(admin.list_topics())
new = [NewTopic(t, 1, 1) for t in sys.argv[2:] if t not in have]
if new:
    admin.create_topics(new)
admin.close()
PY
  log "kafka ready on 127.0.0.1:$KAFKA_PORT (data $KAFKA_DATA_DIR)"
}

start_webhook() {
  already webhook "$WEBHOOK_PORT" && return 0
  spawn webhook "$PY" -u "$ROOT/deploy/local/webhook.py" --port "$WEBHOOK_PORT" --out "$RUN/notifications.jsonl"
  wait_ready webhook "http://127.0.0.1:$WEBHOOK_PORT/" 15
}

start_alertmanager() {
  already alertmanager "$ALERTMANAGER_PORT" && return 0
  local bin
  bin="$(command -v alertmanager || command -v prometheus-alertmanager)" \
    || die "alertmanager not found (Debian: prometheus-alertmanager; tests/system-packages.sh installs it)"
  mkdir -p "$RUN/alertmanager/data"
  # the repo config, with its example webhook pointed at our receiver
  sed "s#http://127.0.0.1:9099/hook#http://127.0.0.1:$WEBHOOK_PORT/hook#g" \
    "$ROOT/deploy/alertmanager/alertmanager.yml" >"$RUN/alertmanager/alertmanager.yml"
  # --cluster.listen-address= : no gossip port, a single local instance
  spawn alertmanager "$bin" --config.file="$RUN/alertmanager/alertmanager.yml" \
    --storage.path="$RUN/alertmanager/data" --web.listen-address="127.0.0.1:$ALERTMANAGER_PORT" \
    --cluster.listen-address=
  wait_ready alertmanager "http://127.0.0.1:$ALERTMANAGER_PORT/-/ready" 30
}

start_prometheus() {
  already prometheus "$PROMETHEUS_PORT" && return 0
  command -v prometheus >/dev/null || die "prometheus not found (tests/system-packages.sh installs it)"
  mkdir -p "$RUN/prometheus/data"
  # the repo config with rule paths made absolute and targets moved to our ports
  sed -e "s#^\(\s*- \)rules/#\1$ROOT/deploy/prometheus/rules/#" \
      -e "s#127.0.0.1:9093#127.0.0.1:$ALERTMANAGER_PORT#g" \
      -e "s#127.0.0.1:9108#127.0.0.1:$METRICS_PORT#g" \
      "$ROOT/deploy/prometheus/prometheus.yml" >"$RUN/prometheus/prometheus.yml"
  if command -v promtool >/dev/null; then
    promtool check config "$RUN/prometheus/prometheus.yml" >>"$RUN/logs/prometheus.log" 2>&1 \
      || die "promtool rejects $RUN/prometheus/prometheus.yml (see $RUN/logs/prometheus.log)"
  fi
  spawn prometheus prometheus --config.file="$RUN/prometheus/prometheus.yml" \
    --storage.tsdb.path="$RUN/prometheus/data" --web.listen-address="127.0.0.1:$PROMETHEUS_PORT"
  wait_ready prometheus "http://127.0.0.1:$PROMETHEUS_PORT/-/ready" 30
}

start_surgewatch() {
  already surgewatch "$METRICS_PORT" && return 0
  local key
  key="$(pseudonym_key)"
  # python -m with PYTHONPATH: works from a checkout with or without `pip install -e .`
  SURGEWATCH_PSEUDONYM_KEY="$key" PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" \
    spawn surgewatch "$PY" -m streamer.cli run \
      --bootstrap-servers "127.0.0.1:$KAFKA_PORT" --topic "$TOPIC" --group surgewatch-local \
      --alertmanager-url "http://127.0.0.1:$ALERTMANAGER_PORT" \
      --metrics-addr 127.0.0.1 --metrics-port "$METRICS_PORT" \
      --state-dir "$RUN/state" --alerts "$RUN/alerts.jsonl"
  wait_ready surgewatch "http://127.0.0.1:$METRICS_PORT/metrics" 60
}

# metric SAMPLE_REGEX: sum of the matching samples on /metrics (0 if none)
metric_sum() {
  "$PY" - "http://127.0.0.1:$METRICS_PORT/metrics" "$1" <<'PY' 2>/dev/null || echo 0
import re, sys, urllib.request
text = urllib.request.urlopen(sys.argv[1], timeout=2).read().decode()
print(int(sum(float(l.rsplit(" ", 1)[1]) for l in text.splitlines() if re.match(sys.argv[2], l))))
PY
}

feed() {
  local n deadline
  mkdir -p "$RUN/sim"
  if [ -e "$RUN/sim/fed" ]; then
    log "feed: already produced into this run dir's broker (rm -rf $RUN for a fresh stack)"
    return 0
  fi
  if [ ! -s "$RUN/sim/events.jsonl" ]; then
    PYTHONPATH="$ROOT" "$PY" -m streamer.cli simulate --profile "$SIM_PROFILE" --out "$RUN/sim" >>"$RUN/logs/feed.log" 2>&1 \
      || die "simulate failed (log: $RUN/logs/feed.log)"
  fi
  PYTHONPATH="$ROOT" "$PY" -m streamer.cli produce --input "$RUN/sim/events.jsonl" \
    --bootstrap-servers "127.0.0.1:$KAFKA_PORT" --topic "$TOPIC" >>"$RUN/logs/feed.log" 2>&1 \
    || die "produce failed (log: $RUN/logs/feed.log)"
  touch "$RUN/sim/fed"
  n="$(wc -l <"$RUN/sim/events.jsonl")"
  log "fed $n simulated events ($SIM_PROFILE profile) to topic $TOPIC"
  # wait (bounded) until surgewatch has consumed them, then say what it found
  deadline=$((SECONDS + 120))
  while [ "$(metric_sum '^surgewatch_events_total')" -lt "$n" ] && [ "$SECONDS" -lt "$deadline" ]; do sleep 1; done
  log "surgewatch consumed $(metric_sum '^surgewatch_events_total') messages" \
      "($(metric_sum '^surgewatch_dead_letters_total') dead-lettered)," \
      "$(metric_sum '^surgewatch_alerts_total\{.*status="firing"') firing alert emissions"
}

urls() {
  cat <<EOF
  metrics       http://127.0.0.1:$METRICS_PORT/metrics
  prometheus    http://127.0.0.1:$PROMETHEUS_PORT/targets   (alerts: /alerts)
  alertmanager  http://127.0.0.1:$ALERTMANAGER_PORT/#/alerts
  webhook       http://127.0.0.1:$WEBHOOK_PORT/hook  -> $RUN/logs/webhook.log, $RUN/notifications.jsonl
  kafka         127.0.0.1:$KAFKA_PORT  (topics $TOPIC, complaints.alerts, complaints.dlq, complaints.scored)
  alerts file   $RUN/alerts.jsonl
  logs          $RUN/logs/
EOF
}

cmd_start() {
  local t0=$SECONDS
  mkdir -p "$RUN/pids" "$RUN/logs"
  start_kafka
  start_webhook
  start_alertmanager
  start_prometheus
  start_surgewatch
  log "all services up in $((SECONDS - t0)) s"
  if [ "${SURGEWATCH_NO_FEED:-0}" != 1 ]; then feed; fi
  urls
  log "campaign notifications reach the webhook after Alertmanager's group_wait (10-30 s): tail -f $RUN/logs/webhook.log"
}

cmd_stop() {
  local name pid deadline
  for name in "${SERVICES[@]}"; do
    if ! pid="$(alive "$name")"; then rm -f "$(pidfile "$name")"; continue; fi
    log "stopping $name (pid $pid): SIGTERM"
    kill -TERM "$pid" 2>/dev/null || true
    deadline=$((SECONDS + STOP_TIMEOUT))
    while alive "$name" >/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.2; done
    if alive "$name" >/dev/null; then
      log "$name still running after ${STOP_TIMEOUT}s: SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$(pidfile "$name")"
  done
  bash "$ROOT/deploy/kafka/broker.sh" stop | sed 's/^/stack.sh: kafka: /'
  log "stopped (run dir kept: $RUN)"
}

cmd_status() {
  local name pid rc=0
  for name in "${SERVICES[@]}"; do
    if pid="$(alive "$name")"; then printf '  %-13s running (pid %s)\n' "$name" "$pid"
    else printf '  %-13s stopped\n' "$name"; rc=1; fi
  done
  printf '  %-13s %s\n' kafka "$(bash "$ROOT/deploy/kafka/broker.sh" status || true)"
  bash "$ROOT/deploy/kafka/broker.sh" status >/dev/null || rc=1
  [ "$rc" -ne 0 ] || urls
  return "$rc"
}

usage() {
  cat <<EOF
Usage: deploy/local/stack.sh start|stop|status

start   Kafka, webhook printer, Alertmanager, Prometheus, surgewatch run, then a simulated
        feed (once per run dir); waits for each to be ready and prints the URLs. Idempotent;
        after a stop it resumes (broker data, offsets and detector state are kept in the run
        dir). A fresh stack: stop, then rm -rf the run dir.
stop    SIGTERM each service (surgewatch first), SIGKILL after STOP_TIMEOUT s; then the broker.
status  running/stopped per service; exit 0 only if all run.

Environment (defaults): SURGEWATCH_RUN_DIR ($RUN)  KAFKA_PORT (19092; the controller takes +1)
  PROMETHEUS_PORT (9090)  ALERTMANAGER_PORT (9093)  WEBHOOK_PORT (9099)  SURGEWATCH_METRICS_PORT (9108)
  SURGEWATCH_PSEUDONYM_KEY (else generated into the run dir)  SURGEWATCH_SIM_PROFILE (small)
  SURGEWATCH_NO_FEED=1 (start without feeding)  STOP_TIMEOUT (20)  PYTHON (python3)
Needs: Java 17+ and Maven (broker), prometheus, alertmanager, Python with surgewatch's deps.
EOF
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  -h|--help|help) usage ;;
  *) usage >&2; exit 2 ;;
esac
