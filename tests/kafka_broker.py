"""A real single-node Apache Kafka broker for tests (deploy/kafka/broker.sh), and small helpers.

ensure_broker() -> "127.0.0.1:PORT"
    SURGEWATCH_TEST_BOOTSTRAP set and reachable: use that broker (never stopped here).
    Otherwise run `deploy/kafka/broker.sh start` (fetches the jars on first use, ~5 s start)
    and remember that this process started it, so stop_broker() stops it.
stop_broker()
    Stops the broker only if ensure_broker() started it in this process. Idempotent.
create_topic(bootstrap, name, partitions=1) / unique_topic(prefix) / wait_reachable(bootstrap, timeout)

The broker allows short classic-group session timeouts (group.min.session.timeout.ms=1000), so
tests can use e.g. session_timeout_ms=6000, heartbeat_interval_ms=1000 (see SESSION_TIMEOUT_MS).

kafka-python 3.0.12 race (seen 3 of 15 times right after a broker restart): a subscribing
KafkaConsumer whose first JoinGroup goes out before it has the topic's metadata assigns nothing,
rejoins once the metadata arrives, and if a short poll(timeout_ms=...) expires while that second
SyncGroup is in flight the join result is dropped: no assignment, no heartbeats, the member is
expired after session_timeout_ms and poll() returns nothing forever. prime_metadata(consumer, topic)
before the first poll() makes the first join carry the metadata (one join, 0 of 15 stuck).
The same stranding happens to any leader's rejoin after a metadata change that a short poll
starts (streamer.kafka_consumer.GroupConsumer._finish_stranded_join explains it and repairs it
for surgewatch's consumers; test consumers that poll with timeouts of a second or more are safe).
"""
from __future__ import annotations

import atexit
import os
import socket
import subprocess
import threading
import time
import uuid
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
BROKER_SH = REPO_ROOT / "deploy" / "kafka" / "broker.sh"
ENV_BOOTSTRAP = "SURGEWATCH_TEST_BOOTSTRAP"

# Suggested consumer settings for tests (broker minimum is 1000 ms).
SESSION_TIMEOUT_MS = 6000
HEARTBEAT_INTERVAL_MS = 1000

# Cold fetch from Maven Central + format + start; the script itself gives up after 90 s of start.
_START_TIMEOUT_S = float(os.environ.get("SURGEWATCH_BROKER_START_TIMEOUT", "900"))

_lock = threading.Lock()
_bootstrap: str | None = None
_started_here = False


class BrokerError(RuntimeError):
    pass


def _split(bootstrap: str) -> tuple[str, int]:
    first = bootstrap.split(",")[0].strip()
    host, _, port = first.rpartition(":")
    return host.strip("[]") or "127.0.0.1", int(port)


def _tcp_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_reachable(bootstrap: str, timeout: float = 30.0) -> bool:
    """True once `bootstrap` accepts TCP and answers a metadata request listing a broker."""
    from kafka import KafkaAdminClient

    host, port = _split(bootstrap)
    deadline = time.monotonic() + timeout
    while True:
        if _tcp_open(host, port):
            try:
                admin = KafkaAdminClient(
                    bootstrap_servers=bootstrap,
                    client_id="surgewatch-test-probe",
                    request_timeout_ms=max(1000, int(min(5.0, deadline - time.monotonic()) * 1000)),
                )
                try:
                    if admin.describe_cluster().get("brokers"):
                        return True
                finally:
                    admin.close()
            except Exception:  # noqa: BLE001 - any failure means "not yet"
                pass
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.2)


def _run_broker_sh(*args: str, timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(BROKER_SH), *args],
        cwd=REPO_ROOT,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def ensure_broker() -> str:
    """Return a reachable bootstrap "host:port", starting the project's broker if needed."""
    global _bootstrap, _started_here
    with _lock:
        if _bootstrap is not None:
            return _bootstrap
        external = os.environ.get(ENV_BOOTSTRAP, "").strip()
        if external and wait_reachable(external, timeout=5):
            _bootstrap = external
            return _bootstrap
        proc = _run_broker_sh("start", timeout=_START_TIMEOUT_S)
        lines = proc.stdout.splitlines()
        boot = [ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("bootstrap:")]
        if proc.returncode != 0 or not boot:
            raise BrokerError(
                f"deploy/kafka/broker.sh start failed (rc={proc.returncode})"
                + (f"; {ENV_BOOTSTRAP}={external!r} was not reachable" if external else "")
                + f"\n--- stdout ---\n{proc.stdout}\n--- stderr ---\n{proc.stderr}"
            )
        # "already running" means someone else's broker: use it, but leave it running.
        _started_here = not any("already running" in ln for ln in lines)
        _bootstrap = boot[-1]
        if _started_here:
            atexit.register(stop_broker)
        if not wait_reachable(_bootstrap, timeout=30):
            raise BrokerError(f"broker at {_bootstrap} started but is not reachable\n{proc.stdout}")
        return _bootstrap


def stop_broker() -> None:
    """Stop the broker if ensure_broker() started it in this process (idempotent)."""
    global _bootstrap, _started_here
    with _lock:
        if not _started_here:
            _bootstrap = None
            return
        proc = _run_broker_sh("stop", timeout=120)
        _started_here = False
        _bootstrap = None
        if proc.returncode != 0:
            raise BrokerError(f"broker.sh stop failed:\n{proc.stdout}\n{proc.stderr}")


def unique_topic(prefix: str = "test") -> str:
    """A fresh, valid topic name: <prefix>-<12 hex chars>."""
    safe = "".join(c if c.isalnum() or c in "._-" else "-" for c in prefix) or "test"
    return f"{safe[:200]}-{uuid.uuid4().hex[:12]}"


def create_topic(bootstrap: str, name: str, partitions: int = 1, configs: dict | None = None,
                 timeout: float = 30.0) -> str:
    """Create `name` (replication 1) and wait until every partition has a leader.

    An already existing topic is accepted as is. Returns the name.
    """
    from kafka import KafkaAdminClient
    from kafka.errors import TopicAlreadyExistsError

    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="surgewatch-test-admin")
    try:
        spec = {"num_partitions": partitions, "replication_factor": 1}
        if configs:
            spec["configs"] = {k: str(v) for k, v in configs.items()}
        try:
            admin.create_topics({name: spec}, timeout_ms=int(timeout * 1000))
        except TopicAlreadyExistsError:
            pass
        admin.wait_for_topics([name], timeout_ms=int(timeout * 1000))
    finally:
        admin.close()
    return name


def prime_metadata(consumer, *topics: str, timeout: float = 10.0) -> None:
    """Load `topics`' metadata into a subscribing KafkaConsumer before its first poll().

    Avoids the kafka-python 3.0.12 double-join race described in this module's docstring.
    """
    deadline = time.monotonic() + timeout
    for topic in topics:
        while not consumer.partitions_for_topic(topic) and time.monotonic() < deadline:
            time.sleep(0.05)
