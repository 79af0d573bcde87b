"""Kafka helpers for the bench scripts: a broker on a separate port, topics, loading.

Without ``--bootstrap-servers`` the scripts start the project's broker
(``deploy/kafka/broker.sh``) on ``KAFKA_PORT`` (default here 29092, so a
benchmark never collides with the test suite's broker on 19092) with data in
``KAFKA_DATA_DIR`` (default /tmp/sw-bench-kafka), and stop it at the end if
they started it.
"""
from __future__ import annotations

import os
import subprocess
import time
import uuid

from _common import REPO

BROKER_SH = REPO / "deploy" / "kafka" / "broker.sh"
DEFAULT_PORT = "29092"
DEFAULT_DIR = "/tmp/sw-bench-kafka"


def _env() -> dict:
    env = dict(os.environ)
    env.setdefault("KAFKA_PORT", DEFAULT_PORT)
    env.setdefault("KAFKA_DATA_DIR", DEFAULT_DIR)
    return env


def ensure_broker(bootstrap: str | None) -> tuple[str, bool]:
    """(bootstrap, started_here). Starts the project broker on a bench port if none is given."""
    if bootstrap:
        return bootstrap, False
    env = _env()
    running = subprocess.run(["bash", str(BROKER_SH), "status"], env=env, capture_output=True, text=True).returncode == 0
    out = subprocess.run(["bash", str(BROKER_SH), "start"], env=env, capture_output=True, text=True, timeout=900)
    if out.returncode != 0:
        raise SystemExit(f"broker.sh start failed:\n{out.stdout}\n{out.stderr}")
    for line in out.stdout.splitlines():
        if line.startswith("bootstrap:"):
            return line.split(":", 1)[1].strip(), not running
    return f"127.0.0.1:{env['KAFKA_PORT']}", not running


def stop_broker() -> None:
    subprocess.run(["bash", str(BROKER_SH), "stop"], env=_env(), capture_output=True, text=True, timeout=120)


def unique(prefix: str) -> str:
    return f"{prefix}-{int(time.time())}-{uuid.uuid4().hex[:6]}"


def create_topics(bootstrap: str, names: list[str], partitions: int = 1) -> None:
    from kafka.admin import KafkaAdminClient, NewTopic

    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="surgewatch-bench")
    try:
        admin.create_topics([NewTopic(n, partitions, 1) for n in names])
    finally:
        admin.close()
    # wait until every topic has a leader (a producer's first send would otherwise wait for metadata)
    from kafka import KafkaConsumer

    c = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        deadline = time.monotonic() + 30
        for n in names:
            while not c.partitions_for_topic(n) and time.monotonic() < deadline:
                time.sleep(0.1)
    finally:
        c.close()


def load_topic(bootstrap: str, topic: str, raws: list[bytes], keys: list[bytes | None]) -> float:
    """Produce every message (acks=all, batched); return the produce rate (messages/s)."""
    from kafka import KafkaProducer

    p = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=20, batch_size=256 * 1024,
                      client_id="surgewatch-bench")
    t0 = time.perf_counter()
    for raw, key in zip(raws, keys):
        p.send(topic, key=key, value=raw)
    p.flush()
    dt = time.perf_counter() - t0
    p.close()
    return len(raws) / dt


def committed(bootstrap: str, group: str, topic: str, partitions: int = 1):
    """A callable returning the group's total committed offset on ``topic`` (no group join)."""
    from kafka import KafkaConsumer, TopicPartition

    c = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    tps = [TopicPartition(topic, i) for i in range(partitions)]

    def total() -> int:
        s = 0
        for tp in tps:
            v = c.committed(tp)
            s += v or 0
        return s

    total.close = c.close  # type: ignore[attr-defined]
    return total


def proc_cpu(pid: int | None, children: bool = False) -> float:
    """CPU seconds (user + system) of process ``pid`` so far, from /proc (0.0 if unreadable);
    ``children``: plus its live child processes' (``surgewatch run --fetch-process``'s fetch process)."""
    if pid is None:
        return 0.0
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")   # utime, stime
        if children:
            with open(f"/proc/{pid}/task/{pid}/children") as f:
                total += sum(proc_cpu(int(c)) for c in f.read().split())
        return total
    except (OSError, ValueError, IndexError):
        return 0.0
