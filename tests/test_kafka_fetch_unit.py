"""The fetch process's pure logic, without a broker: packing polls, errors that cross the
pipe, and the child's serve loop (one batch ahead, commits answered between chunks)."""
from __future__ import annotations

import pickle
import threading
from collections import namedtuple
from types import SimpleNamespace
from multiprocessing import Pipe

import pytest
from kafka import TopicPartition
from kafka.errors import CommitFailedError, KafkaConnectionError, KafkaError

from streamer import kafka_fetch
from streamer.config import env_bool
from streamer.kafka_consumer import GroupConsumer
from streamer.kafka_fetch import PartitionBatch, _picklable, _serve, pack
from streamer.kafka_io import KafkaSource

Rec = namedtuple("Rec", "offset value")


def test_pack_orders_partitions_keeps_tombstones_and_drops_empty_partitions():
    polled = {TopicPartition("t", 1): [Rec(7, b"x"), Rec(8, None)], TopicPartition("t", 0): [Rec(3, b"a")],
              TopicPartition("s", 5): []}
    got = pack(polled, lambda tp: {0: 10, 1: None}[tp.partition])
    assert got == [PartitionBatch("t", 0, [3], [b"a"], 10), PartitionBatch("t", 1, [7, 8], [b"x", None], None)]
    assert pickle.loads(pickle.dumps(got)) == got    # what crosses the pipe


def test_advance_takes_positions_lag_and_behind_from_the_batch():
    src = KafkaSource.__new__(KafkaSource)       # no consumer: only the bookkeeping
    src.positions, src._lag, src._lock, src.batches, src.messages = {}, {}, threading.Lock(), 0, 0
    assert src._advance([PartitionBatch("t", 0, [5, 6], [b"a", None], 7)]) == (2, False)
    assert src._advance([PartitionBatch("t", 0, [7], [b"b"], 20), PartitionBatch("t", 1, [0], [b"c"], None)]) == (2, True)
    assert src.positions == {("t", 0): 8, ("t", 1): 1} and src.partition_lag() == {("t", 0): 12}
    assert (src.batches, src.messages) == (2, 4)


def test_kafka_errors_cross_the_pipe_with_their_retriable_flag():
    for e in (CommitFailedError(), KafkaConnectionError("refused")):
        back = pickle.loads(pickle.dumps(_picklable(e)))
        assert type(back) is type(e) and back.retriable == e.retriable

    class Odd(KafkaError):
        retriable = True

        def __reduce__(self):
            raise TypeError("not picklable")

    back = pickle.loads(pickle.dumps(_picklable(Odd("boom"))))
    assert isinstance(back, KafkaError) and back.retriable and "Odd: boom" in str(back)
    assert isinstance(_picklable(Odd("x").with_traceback(None)), KafkaError)


def test_env_bool(monkeypatch):
    for v, want in (("1", True), ("On", True), ("no", False), ("0", False), ("", True)):
        monkeypatch.setenv("SW_TEST_BOOL", v)
        assert env_bool("SW_TEST_BOOL", True) is want
    monkeypatch.setenv("SW_TEST_BOOL", "maybe")
    with pytest.raises(SystemExit, match="not a boolean"):
        env_bool("SW_TEST_BOOL", False)


class ScriptedConsumer:
    """Stands in for GroupConsumer inside the serve loop: returns scripted polls, records calls."""

    def __init__(self, polls: list[list[PartitionBatch]]) -> None:
        self.polls, self.calls, self.commits = list(polls), [], []
        self.connected, self.joining = True, False

    def subscribe(self, topic, resume) -> None:
        self.calls.append(("subscribe", topic, resume))

    def poll(self, timeout_ms, max_records=None):
        self.calls.append(("poll", timeout_ms, max_records))
        return self.polls.pop(0) if self.polls else []

    def commit(self, offsets) -> None:
        if offsets.get(("t", 0)) == 13:
            raise CommitFailedError()
        self.commits.append(dict(offsets))


def part(first: int, n: int, hw: int) -> PartitionBatch:
    return PartitionBatch("t", 0, list(range(first, first + n)), [b"v%d" % i for i in range(first, first + n)], hw)


def test_serve_fetches_one_batch_ahead_in_chunks_then_polls_only_when_asked(monkeypatch):
    monkeypatch.setattr(kafka_fetch, "CHUNK", 2)
    consumer = ScriptedConsumer([[part(0, 2, 9)], [part(2, 1, 9)], [], [part(3, 2, 9)], [part(5, 1, 12)]])
    req_r, req_w = Pipe(duplex=False)
    out_r, out_w = Pipe(duplex=False)

    class Flag:
        value = 0

    flag = Flag()
    t = threading.Thread(target=_serve, args=(req_r, out_w, consumer, flag, 3), daemon=True)
    t.start()
    req_w.send(("subscribe", "t", {("t", 0): 0}))
    assert out_r.recv() == ("ok", None)
    # first batch: a chunk of 2, then what is buffered up to the batch size (3), pushed unasked
    assert out_r.recv() == ("batch", [PartitionBatch("t", 0, [0, 1, 2], [b"v0", b"v1", b"v2"], 9)])
    assert consumer.calls[1:] == [("poll", 25, 2), ("poll", 0, 1)]
    # no credit: nothing more is fetched until the parent takes the batch; commits are answered
    assert not out_r.poll(0.3) and len(consumer.calls) == 3
    req_w.send(("commit", {("t", 0): 3}))
    assert out_r.recv() == ("ok", None) and consumer.commits == [{("t", 0): 3}]
    req_w.send(("commit", {("t", 0): 13}))
    tag, err = out_r.recv()
    assert tag == "error" and isinstance(err, CommitFailedError)
    # credit: the fetch ahead finds nothing (caught up), so the child polls only when asked
    req_w.send(("more",))
    assert not out_r.poll(0.3) and consumer.calls[-1] == ("poll", 25, 2) and len(consumer.calls) == 4
    req_w.send(("wait", 1, 500))
    assert out_r.recv() == ("batch", [PartitionBatch("t", 0, [3, 4], [b"v3", b"v4"], 9)])
    assert consumer.calls[-1] == ("poll", 500, 3)
    req_w.send(("wait", 2, 500))            # the batch is on its way, no credit: answered at once
    assert out_r.recv() == ("empty", 2) and len(consumer.calls) == 5
    # the parent took it: fetching ahead again, a chunk and then the (empty) buffer
    req_w.send(("more",))
    assert out_r.recv() == ("batch", [PartitionBatch("t", 0, [5], [b"v5"], 12)])
    assert consumer.calls[-2:] == [("poll", 25, 2), ("poll", 0, 2)]
    req_w.send(("more",))
    req_w.send(("wait", 3, 100))
    assert out_r.recv() == ("empty", 3)      # nothing within the parent's timeout
    assert flag.value is True     # the connected flag the parent reads at scrape time
    req_w.send(("close",))
    t.join(5)
    assert not t.is_alive()


def test_run_flag_defaults_from_the_environment_then_the_cpu_count(monkeypatch):
    from streamer.cli import _parser
    from streamer.config import usable_cpus

    def parsed(*flags: str) -> bool:
        return _parser().parse_args(["run", "--bootstrap-servers", "h:1", *flags]).fetch_process

    monkeypatch.delenv("SURGEWATCH_FETCH_PROCESS", raising=False)
    assert parsed() is (usable_cpus() >= 2)
    monkeypatch.setenv("SURGEWATCH_FETCH_PROCESS", "0")
    assert parsed() is False and parsed("--fetch-process") is True
    monkeypatch.setenv("SURGEWATCH_FETCH_PROCESS", "yes")
    assert parsed() is True and parsed("--no-fetch-process") is False


class _Coordinator:
    """kafka-python's group coordinator, reduced to the three members the repair reads."""

    def __init__(self, need_rejoin: bool, rejoining: bool) -> None:
        self._need, self.rejoining, self.requests = need_rejoin, rejoining, 0

    def need_rejoin(self) -> bool:
        return self._need

    def request_rejoin(self) -> None:
        self.requests += 1
        self._need = True


@pytest.mark.parametrize("need_rejoin, rejoining, repaired", [
    (False, True, True),     # stranded: a join is under way that no poll will finish
    (True, True, False),     # a join being finished by polls: leave it alone
    (True, False, False),    # a join about to start
    (False, False, False),   # a settled member
])
def test_only_a_stranded_join_is_asked_to_rejoin(need_rejoin, rejoining, repaired):
    gc = GroupConsumer.__new__(GroupConsumer)       # no KafkaConsumer: the decision alone
    coordinator = _Coordinator(need_rejoin, rejoining)
    gc.consumer = SimpleNamespace(_coordinator=coordinator)
    gc._finish_stranded_join()
    assert coordinator.requests == int(repaired)
    assert gc.joining == (need_rejoin or repaired)   # what makes the fetch process poll long


def test_the_repair_does_nothing_without_kafka_pythons_private_coordinator():
    gc = GroupConsumer.__new__(GroupConsumer)
    gc.consumer = SimpleNamespace()                   # another kafka-python: no _coordinator
    gc._finish_stranded_join()                        # no error, nothing to do
