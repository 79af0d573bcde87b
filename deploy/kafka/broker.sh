#!/usr/bin/env bash
# Single-node Apache Kafka (KRaft, combined broker+controller) for surgewatch tests.
# The broker's jars come from Maven Central (deploy/kafka/pom.xml) into a cache dir; no tarball.
# Run `deploy/kafka/broker.sh --help` for usage.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
POM="$HERE/pom.xml"
SERVER_PROPS="$HERE/server.properties"
LOG4J2_CFG="$HERE/log4j2.properties"

KAFKA_VERSION="$(sed -n 's:.*<kafka\.version>\(.*\)</kafka\.version>.*:\1:p' "$POM" | head -n 1)"
CACHE_ROOT="${SURGEWATCH_CACHE:-${HOME:-/tmp}/.cache/surgewatch}"
KAFKA_CACHE="$CACHE_ROOT/kafka-$KAFKA_VERSION"
LIB_DIR="$KAFKA_CACHE/lib"
MARKER="$LIB_DIR/.surgewatch-fetch-ok"

HOST=127.0.0.1
PORT="${KAFKA_PORT:-19092}"
DATA_DIR="${KAFKA_DATA_DIR:-/tmp/surgewatch-kafka}"
DATA_DIR="${DATA_DIR%/}"
LOG_DIRS="$DATA_DIR/kraft"            # Kafka's log.dirs (topic data + metadata log)
PID_FILE="$DATA_DIR/broker.pid"
PORT_FILE="$DATA_DIR/broker.port"
LOG_FILE="$DATA_DIR/broker.log"
FORMAT_PROPS="$DATA_DIR/format.properties"
LOCK_FILE="$DATA_DIR/.broker.lock"
CDS_PENDING="$DATA_DIR/cds.pending"
CDS_DIR="$KAFKA_CACHE/cds"

START_TIMEOUT="${KAFKA_START_TIMEOUT:-90}"
STOP_TIMEOUT="${KAFKA_STOP_TIMEOUT:-30}"
HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m}"
PYTHON="${PYTHON:-python3}"
if [ -n "${JAVA_HOME:-}" ] && [ -x "$JAVA_HOME/bin/java" ]; then JAVA="$JAVA_HOME/bin/java"; else JAVA=java; fi

usage() {
  cat <<EOF
Usage: deploy/kafka/broker.sh <command> [--keep-data]

A single-node Apache Kafka $KAFKA_VERSION broker (KRaft, broker+controller in one JVM) on
$HOST, for tests. Its classpath is fetched from Maven Central with deploy/kafka/pom.xml.

Commands:
  fetch              mvn -q -B package the broker classpath into the cache (skipped when the
                     marker file there matches the current pom.xml):
                       $LIB_DIR
  start [--keep-data]
                     fetch if needed, format a fresh data dir (unless --keep-data or
                     KAFKA_KEEP_DATA=1 and it is already formatted), start the broker in the
                     background, wait until it answers a metadata request, then print
                       bootstrap: $HOST:$PORT
                     Already running (pid file alive): prints the bootstrap line, does nothing.
  stop               SIGTERM, wait up to KAFKA_STOP_TIMEOUT s (default 30), then SIGKILL.
                     Idempotent: exit 0 when nothing runs.
  restart-keep-data  stop, then start keeping the data dir (topics, offsets, committed groups).
  status             print running/stopped; exit 0 if running, 1 if stopped.
  logs [N]           print the last N (default 50) lines of the broker log.
  -h, --help         this text.

Environment (defaults in brackets):
  KAFKA_PORT           client port [19092]; the controller listens on KAFKA_PORT+1
  KAFKA_DATA_DIR       data dir [/tmp/surgewatch-kafka]: kraft/ (log.dirs), broker.pid,
                       broker.log, broker.port, format.properties
  KAFKA_KEEP_DATA      1 = start does not reformat an existing data dir [0]
  SURGEWATCH_CACHE     cache root [\$HOME/.cache/surgewatch]; jars in kafka-<version>/lib
  KAFKA_START_TIMEOUT  seconds to wait for the broker to answer [90]
  KAFKA_STOP_TIMEOUT   seconds between SIGTERM and SIGKILL [30]
  KAFKA_HEAP_OPTS      JVM heap flags [-Xms256m -Xmx512m]
  KAFKA_JVM_OPTS       extra JVM flags []
  KAFKA_CDS            1 = class-data-sharing archive in the cache dir, written when the first
                       broker exits cleanly, used by later starts (~40% less startup CPU) [1]
  KAFKA_EXTRA_OVERRIDES  extra broker settings, whitespace-separated key=value pairs, passed
                       as --override (e.g. "log.retention.ms=60000 num.partitions=3")
  MAVEN_ARGS           extra mvn arguments for fetch (e.g. -o for offline) []
  PYTHON               interpreter with kafka-python for the readiness check [python3]
  JAVA_HOME            Java 17+ (Kafka 4.x needs 17) [java on PATH]
EOF
}

log() { echo "broker.sh: $*"; }
die() { echo "broker.sh: error: $*" >&2; exit 1; }
have() { command -v "$1" >/dev/null 2>&1; }

pom_hash() { sha256sum "$POM" | cut -d' ' -f1; }
is_fetched() { [ -f "$MARKER" ] && [ "$(cat "$MARKER")" = "$(pom_hash)" ]; }
jar_count() { find "$1" -maxdepth 1 -name '*.jar' | wc -l; }

# --- fetch -----------------------------------------------------------------------------------
cmd_fetch() {
  if is_fetched; then
    log "fetch: Kafka $KAFKA_VERSION classpath already cached in $LIB_DIR ($(jar_count "$LIB_DIR") jars), skipping"
    return 0
  fi
  have mvn || die "mvn not found (Maven 3.8+ is needed to fetch the broker jars)"
  mkdir -p "$KAFKA_CACHE"
  exec 8>"$KAFKA_CACHE/.fetch.lock"
  if have flock; then flock 8; fi          # concurrent fetches: the second one waits, then skips
  if is_fetched; then
    log "fetch: Kafka $KAFKA_VERSION classpath was cached meanwhile in $LIB_DIR, skipping"
    exec 8>&-
    return 0
  fi
  local tmp="$KAFKA_CACHE/lib.tmp.$$" t0=$SECONDS
  rm -rf "$tmp"
  # shellcheck disable=SC2086  # MAVEN_ARGS is a word list on purpose
  log "fetch: mvn -q -B -Dstyle.color=never -f $POM package -Dbroker.lib.dir=$tmp ${MAVEN_ARGS:-}"
  # -q prints only errors (and stray ANSI resets): keep mvn's output for the failure case.
  local out="$KAFKA_CACHE/mvn-fetch.out"
  # shellcheck disable=SC2086
  if ! mvn -q -B -Dstyle.color=never -f "$POM" package -Dbroker.lib.dir="$tmp" ${MAVEN_ARGS:-} >"$out" 2>&1 8>&-; then
    cat "$out" >&2
    rm -rf "$tmp"
    die "fetch: mvn failed (is Maven Central reachable? output above, also in $out)"
  fi
  [ -f "$tmp/kafka_2.13-$KAFKA_VERSION.jar" ] || { rm -rf "$tmp"; die "fetch: kafka_2.13-$KAFKA_VERSION.jar missing after mvn"; }
  compgen -G "$tmp/log4j-slf4j*-impl-*.jar" >/dev/null || { rm -rf "$tmp"; die "fetch: SLF4J->Log4j2 binding missing after mvn"; }
  pom_hash >"$tmp/.surgewatch-fetch-ok"
  rm -rf "$LIB_DIR"
  mv "$tmp" "$LIB_DIR"                     # atomic-ish: an interrupted fetch never leaves a marker
  exec 8>&-
  log "fetch: done in $((SECONDS - t0)) s: $(jar_count "$LIB_DIR") jars in $LIB_DIR"
}

# --- process helpers -------------------------------------------------------------------------
# alive PID: the process exists, is not a zombie, and is our Kafka JVM (guards against pid reuse).
alive() {
  local pid="$1" state
  [ -n "$pid" ] && [ -d "/proc/$pid" ] || return 1
  state="$(sed -n 's/^[0-9]* (.*) \([A-Za-z]\).*/\1/p' "/proc/$pid/stat" 2>/dev/null || true)"
  [ "$state" != Z ] || return 1
  # no grep -q in pipes: with pipefail an early grep exit can fail the writer with SIGPIPE
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep 'kafka\.Kafka' >/dev/null
}
running_pid() {
  local pid
  [ -f "$PID_FILE" ] || return 1
  pid="$(cat "$PID_FILE" 2>/dev/null || true)"
  alive "$pid" || return 1
  echo "$pid"
}
port_open() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }
running_port() { cat "$PORT_FILE" 2>/dev/null || echo "$PORT"; }

# --- start -----------------------------------------------------------------------------------
random_cluster_id() {                      # Kafka Uuid: 16 random bytes, base64url, no padding
  local id
  while :; do
    id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
    case "$id" in -*) ;; *) echo "$id"; return ;; esac
  done
}

# Class data sharing (JDK 13+ dynamic archive): the first broker records its loaded classes at
# exit (-XX:ArchiveClassesAtExit, to a temp name that cmd_stop renames after a clean exit); later
# JVMs map the archive. Keyed on the java binary and the fetched lib dir; a stale or unusable
# archive is ignored by the JVM (-Xshare:auto), so this only ever costs the archive's disk space.
CDS_OPTS=()
cds_setup() {                              # sets CDS_OPTS; $1 = record|use
  CDS_OPTS=()
  case "${KAFKA_CDS:-1}" in 1|true|yes) ;; *) return 0 ;; esac
  local jbin key archive
  jbin="$(readlink -f "$(command -v "$JAVA")" 2>/dev/null)" || return 0
  key="$(printf '%s %s %s' "$jbin" "$(stat -c %Y "$jbin")" "$(stat -c %Y "$MARKER")" | sha256sum | cut -c1-16)"
  archive="$CDS_DIR/kafka-$KAFKA_VERSION-$key.jsa"
  if [ -s "$archive" ]; then
    CDS_OPTS=(-XX:SharedArchiveFile="$archive" '-Xlog:cds*=error')
  elif [ "$1" = record ]; then
    mkdir -p "$CDS_DIR"
    local tmp="$archive.tmp.$$"
    rm -f "$tmp"
    printf '%s\n%s\n' "$tmp" "$archive" >"$CDS_PENDING"
    CDS_OPTS=(-XX:ArchiveClassesAtExit="$tmp" '-Xlog:cds*=error')
  fi
}
cds_finish() {                             # $1 = clean|unclean exit of the recording JVM
  [ -f "$CDS_PENDING" ] || return 0
  local tmp archive
  { read -r tmp; read -r archive; } <"$CDS_PENDING" || true
  rm -f "$CDS_PENDING"
  [ -n "${tmp:-}" ] && [ -n "${archive:-}" ] || return 0
  if [ "$1" = clean ] && [ -s "$tmp" ]; then
    mv -f "$tmp" "$archive" && log "stop: saved class-data-sharing archive $archive"
  else
    rm -f "$tmp"
  fi
}

cmd_start() {
  local keep="${KAFKA_KEEP_DATA:-0}" pid
  case "$keep" in 1|true|yes) keep=1 ;; *) keep=0 ;; esac
  for a in "$@"; do
    case "$a" in
      --keep-data) keep=1 ;;
      *) die "start: unknown argument '$a' (see --help)" ;;
    esac
  done
  if [ -z "$DATA_DIR" ] || [ "$DATA_DIR" = "/" ]; then die "refusing KAFKA_DATA_DIR='$DATA_DIR'"; fi

  mkdir -p "$DATA_DIR"
  exec 9>"$LOCK_FILE"
  if have flock; then flock 9; fi          # serialise concurrent starts on one data dir

  if pid="$(running_pid)"; then
    log "start: broker already running (pid $pid, log $LOG_FILE); leaving it as it is"
    echo "bootstrap: $HOST:$(running_port)"
    return 0
  fi

  cmd_fetch
  cds_finish unclean                       # a recording JVM that died without cmd_stop

  local cport=$((PORT + 1)) p
  for p in "$PORT" "$cport"; do
    if port_open "$p"; then die "start: $HOST:$p is already in use by another process (set KAFKA_PORT)"; fi
  done

  local overrides=(
    "listeners=PLAINTEXT://$HOST:$PORT,CONTROLLER://$HOST:$cport"
    "advertised.listeners=PLAINTEXT://$HOST:$PORT,CONTROLLER://$HOST:$cport"
    "controller.quorum.voters=1@$HOST:$cport"
    "log.dirs=$LOG_DIRS"
  )
  local kv
  for kv in ${KAFKA_EXTRA_OVERRIDES:-}; do overrides+=("$kv"); done

  local cp="$LIB_DIR/*" logcfg="-Dlog4j2.configurationFile=$LOG4J2_CFG" t0=$SECONDS
  if [ "$keep" = 1 ] && [ -f "$LOG_DIRS/meta.properties" ]; then
    log "start: keeping existing data in $LOG_DIRS (KAFKA_KEEP_DATA=1)"
  else
    rm -rf "$LOG_DIRS" "$LOG_FILE" "$FORMAT_PROPS"
    # kafka-storage format has no --override: give it the template plus the same overrides
    # (later keys win in java.util.Properties).
    { cat "$SERVER_PROPS"; echo; echo "# --- broker.sh overrides ---"; printf '%s\n' "${overrides[@]}"; } >"$FORMAT_PROPS"
    local cluster_id
    cluster_id="$(random_cluster_id)"
    log "start: formatting $LOG_DIRS (cluster id $cluster_id)"
    cds_setup use
    if ! "$JAVA" -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 "${CDS_OPTS[@]}" "$logcfg" -cp "$cp" \
         kafka.tools.StorageTool format -t "$cluster_id" -c "$FORMAT_PROPS" >>"$LOG_FILE" 2>&1 9>&-; then
      tail -n 30 "$LOG_FILE" >&2 || true
      die "start: formatting the data dir failed (full log: $LOG_FILE)"
    fi
  fi

  local heap_opts=() jvm_opts=()
  cds_setup record
  read -r -a heap_opts <<<"$HEAP_OPTS"
  read -r -a jvm_opts <<<"${KAFKA_JVM_OPTS:-}"
  # log4j2.shutdownHookEnabled=false: keep logging through Kafka's own shutdown hook
  local java_cmd=("$JAVA" "${heap_opts[@]}" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:+ExitOnOutOfMemoryError
                  -Djava.awt.headless=true -Dlog4j2.shutdownHookEnabled=false "${CDS_OPTS[@]}" "${jvm_opts[@]}" "$logcfg"
                  -cp "$cp" kafka.Kafka "$SERVER_PROPS")
  for kv in "${overrides[@]}"; do java_cmd+=(--override "$kv"); done

  local log_offset=0
  [ -f "$LOG_FILE" ] && log_offset="$(stat -c %s "$LOG_FILE")"
  { echo "=== $(date -u +%FT%TZ) broker.sh start (Kafka $KAFKA_VERSION, keep_data=$keep)"
    printf '%q ' "${java_cmd[@]}"; echo; } >>"$LOG_FILE"
  log "start: launching Kafka $KAFKA_VERSION on $HOST:$PORT (controller $cport), data $DATA_DIR, log $LOG_FILE"
  if have setsid; then
    setsid "${java_cmd[@]}" >>"$LOG_FILE" 2>&1 </dev/null 8>&- 9>&- &
  else
    nohup "${java_cmd[@]}" >>"$LOG_FILE" 2>&1 </dev/null 8>&- 9>&- &
  fi
  pid=$!
  echo "$pid" >"$PID_FILE"
  echo "$PORT" >"$PORT_FILE"

  # Readiness 1: the JVM logged "Kafka Server started" (after this launch) and the port accepts.
  local deadline=$((SECONDS + START_TIMEOUT))
  while :; do
    if ! alive "$pid"; then
      echo "broker.sh: broker (pid $pid) exited during startup; last log lines:" >&2
      tail -n 40 "$LOG_FILE" >&2 || true
      rm -f "$PID_FILE"
      exit 1
    fi
    if tail -c "+$((log_offset + 1))" "$LOG_FILE" | grep -F 'Kafka Server started' >/dev/null && port_open "$PORT"; then
      break
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "broker.sh: broker did not start within ${START_TIMEOUT}s; last log lines:" >&2
      tail -n 40 "$LOG_FILE" >&2 || true
      exec 9>&-
      cmd_stop
      exit 1
    fi
    sleep 0.1
  done
  # Readiness 2: a real client metadata round trip (kafka-python), when available.
  local left=$((deadline - SECONDS))
  [ "$left" -ge 5 ] || left=5
  if "$PYTHON" -c 'import kafka' >/dev/null 2>&1; then
    if ! "$PYTHON" - "$HOST:$PORT" "$left" <<'PY'
import sys, time
from kafka import KafkaAdminClient
bootstrap, left = sys.argv[1], float(sys.argv[2])
deadline = time.monotonic() + left
err = None
while time.monotonic() < deadline:
    try:
        admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000,
                                 client_id="surgewatch-broker-sh")
        try:
            if admin.describe_cluster().get("brokers"):
                sys.exit(0)
        finally:
            admin.close()
    except Exception as exc:  # not ready yet
        err = exc
    time.sleep(0.2)
print("metadata check failed: %r" % (err,), file=sys.stderr)
sys.exit(1)
PY
    then
      tail -n 40 "$LOG_FILE" >&2 || true
      exec 9>&-
      cmd_stop
      die "start: broker does not answer metadata requests"
    fi
  else
    log "start: $PYTHON has no kafka-python; readiness = log line + open port only"
  fi
  exec 9>&-
  log "start: ready in $((SECONDS - t0)) s (pid $pid)"
  echo "bootstrap: $HOST:$PORT"
}

# --- stop / status ---------------------------------------------------------------------------
cmd_stop() {
  local pid t0=$SECONDS
  if ! pid="$(running_pid)"; then
    log "stop: broker not running"
    rm -f "$PID_FILE"
    return 0
  fi
  log "stop: SIGTERM to pid $pid"
  kill -TERM "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + STOP_TIMEOUT))
  while alive "$pid" && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.1; done
  if alive "$pid"; then
    log "stop: still running after ${STOP_TIMEOUT}s, SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    deadline=$((SECONDS + 10))
    while alive "$pid" && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.1; done
    alive "$pid" && die "stop: pid $pid survived SIGKILL"
    cds_finish unclean
  else
    cds_finish clean
  fi
  rm -f "$PID_FILE"
  log "stop: stopped in $((SECONDS - t0)) s"
}

cmd_status() {
  local pid
  if pid="$(running_pid)"; then
    echo "running (pid $pid, bootstrap $HOST:$(running_port), data $DATA_DIR, Kafka $KAFKA_VERSION)"
    return 0
  fi
  echo "stopped"
  return 1
}

cmd_logs() {
  local n="${1:-50}"
  [ -f "$LOG_FILE" ] || die "no log file at $LOG_FILE"
  tail -n "$n" "$LOG_FILE"
}

main() {
  [ -n "$KAFKA_VERSION" ] || die "cannot read <kafka.version> from $POM"
  case "$PORT" in ''|*[!0-9]*) die "KAFKA_PORT must be a number, got '$PORT'" ;; esac
  local sub="${1:-}"
  [ $# -gt 0 ] && shift
  case "$sub" in
    fetch) cmd_fetch ;;
    start) cmd_start "$@" ;;
    stop) cmd_stop ;;
    restart-keep-data) cmd_stop; cmd_start --keep-data ;;
    status) cmd_status ;;
    logs) cmd_logs "$@" ;;
    -h|--help|help) usage ;;
    '') usage >&2; exit 2 ;;
    *) echo "broker.sh: unknown command '$sub'" >&2; usage >&2; exit 2 ;;
  esac
}

main "$@"
