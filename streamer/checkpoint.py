"""Checkpoints: detector, episode and de-duplication state plus the offsets it covers.

A restarted consumer that forgot every agent and template would miss exactly
the slow campaigns that matter most. So the pipeline's whole state is pickled
together with the source positions it reflects, written atomically (temp file,
fsync, rename, fsync of the directory), and only *then* are the Kafka offsets
committed. On start the state is restored and each partition is sought to the
checkpoint's offset, so what is reprocessed is exactly what came after it.

The file carries a format version; a checkpoint written by an incompatible
version is refused with a message that says what to do, never half-loaded.
"""
from __future__ import annotations

import hashlib
import os
import pickle
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Checkpoint", "CheckpointError", "FORMAT_VERSION", "save", "load", "snapshot", "restore"]

FORMAT_VERSION = 1
MAGIC = b"SURGEWATCH-CKPT\n"


class CheckpointError(RuntimeError):
    """A checkpoint exists but cannot be used (corrupt or another format version)."""


@dataclass
class Checkpoint:
    version: int
    offsets: dict[tuple[str, int], int]   # (topic, partition) -> next offset to read
    state: dict[str, Any]
    meta: dict[str, Any] = field(default_factory=dict)


def snapshot(pipeline) -> dict[str, Any]:
    """The parts of a Pipeline that make detection continue exactly."""
    return {
        "detectors": pipeline.detectors,
        "episodes": pipeline.episodes,
        "seen": pipeline.seen,
        "watermark": pipeline.stats.watermark,
    }


def restore(pipeline, state: dict[str, Any]) -> None:
    names = [d.name for d in state["detectors"]]
    mine = [d.name for d in pipeline.detectors]
    if names != mine:
        raise CheckpointError(f"checkpoint holds detectors {names}, this build runs {mine}; "
                              "start from a fresh --state-dir (or replay history) to rebuild state")
    pipeline.detectors = list(state["detectors"])
    pipeline.episodes = state["episodes"]
    pipeline.seen = state["seen"]
    pipeline.stats.watermark = state["watermark"]


def _path(state_dir: str) -> str:
    return os.path.join(state_dir, "checkpoint.pkl")


def save(state_dir: str, ckpt: Checkpoint) -> int:
    """Atomically replace the checkpoint; returns its size in bytes."""
    os.makedirs(state_dir, exist_ok=True)
    body = pickle.dumps(ckpt, protocol=pickle.HIGHEST_PROTOCOL)
    header = MAGIC + f"{FORMAT_VERSION}\n".encode() + hashlib.sha256(body).hexdigest().encode() + b"\n"
    final = _path(state_dir)
    tmp = final + ".tmp"
    with open(tmp, "wb") as f:
        f.write(header)
        f.write(body)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, final)
    dfd = os.open(state_dir, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)
    return len(header) + len(body)


def load(state_dir: str) -> Checkpoint | None:
    """The saved checkpoint, None if there is none; CheckpointError if unusable."""
    path = _path(state_dir)
    if not os.path.exists(path):
        return None
    with open(path, "rb") as f:
        data = f.read()
    if not data.startswith(MAGIC):
        raise CheckpointError(f"{path} is not a surgewatch checkpoint")
    rest = data[len(MAGIC):]
    try:
        ver_line, digest, body = rest.split(b"\n", 2)
        version = int(ver_line)
    except ValueError:
        raise CheckpointError(f"{path}: damaged header") from None
    if version != FORMAT_VERSION:
        raise CheckpointError(f"{path} was written in checkpoint format {version}; this surgewatch reads "
                              f"format {FORMAT_VERSION}. Keep the old version to drain it, or start with a fresh "
                              "--state-dir and replay recent history to rebuild state.")
    if hashlib.sha256(body).hexdigest().encode() != digest:
        raise CheckpointError(f"{path}: checksum mismatch (truncated or corrupted)")
    try:
        ckpt = pickle.loads(body)
    except Exception as e:
        raise CheckpointError(f"{path}: cannot be unpickled by this build ({type(e).__name__}: {e})") from None
    return ckpt
