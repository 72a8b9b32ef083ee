"""Record parts in chunks (locustfiles/_delivery.py), in this process: what the master writes.

The real master and workers: tests/locust/test_remote_workers.py.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from lab.contract import RunFolder
from locustfiles import _delivery
from locustfiles._delivery import PartReceiver, PartSender, shares_master_folder

RUN_ID = "20260101-000000-smoke-ab17"
WORKER = "host-a_0123456789abcdef"


class Wire:
    """Chunks as the master's message loop hands them over: (worker id, data)."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def send(self, msg_type: str, data: dict[str, Any]) -> None:
        assert msg_type == _delivery.MSG_PART_CHUNK
        self.sent.append(dict(data))

    def deliver(self, receiver: PartReceiver, chunks: list[dict[str, Any]], worker=WORKER) -> None:
        for data in chunks:
            receiver.on_chunk(msg=SimpleNamespace(node_id=worker, data=data))


@pytest.fixture
def runs(tmp_path: Path) -> Path:
    (tmp_path / RUN_ID).mkdir()
    return tmp_path


def part_path(runs: Path, seq: int = 0, worker: str = WORKER) -> Path:
    return RunFolder(runs / RUN_ID).worker_requests(worker) / f"part-{seq:06d}.parquet"


def test_a_part_in_several_chunks_arrives_byte_for_byte(runs: Path) -> None:
    payload = os.urandom(5000)
    wire = Wire()
    PartSender(wire.send, RUN_ID, 1024)(3, payload, 42)
    assert len(wire.sent) == 5
    receiver = PartReceiver(lambda: runs)
    wire.deliver(receiver, wire.sent[:-1])
    assert not part_path(runs, 3).exists()  # nothing until the last chunk
    wire.deliver(receiver, wire.sent[-1:])
    assert part_path(runs, 3).read_bytes() == payload
    assert receiver.rows_written == {WORKER: 42}
    assert receiver.lost_parts(RUN_ID) == []
    assert [p.name for p in part_path(runs, 3).parent.iterdir()] == ["part-000003.parquet"]


@pytest.mark.parametrize("damage", ["flip a byte", "drop a middle chunk", "stop before the end"])
def test_a_part_that_does_not_arrive_whole_is_never_written(runs: Path, damage: str) -> None:
    wire = Wire()
    PartSender(wire.send, RUN_ID, 1024)(1, os.urandom(4000), 10)
    chunks = wire.sent
    if damage == "flip a byte":
        chunks[2]["data"] = b"\0" + chunks[2]["data"][1:]
    elif damage == "drop a middle chunk":
        del chunks[1]
    else:
        del chunks[-1]
    receiver = PartReceiver(lambda: runs)
    wire.deliver(receiver, chunks)
    assert not part_path(runs, 1).exists()
    [lost] = receiver.lost_parts(RUN_ID)
    assert (lost["worker"], lost["seq"], lost["rows"]) == (WORKER, 1, 10)
    assert lost["received_bytes"] < lost["size"] or "SHA-256" in lost["reason"]
    assert receiver.lost_parts(RUN_ID) == []  # reported once


@pytest.mark.parametrize("worker", ["../escape", "a/b", "", ".hidden"])
def test_a_worker_id_that_is_not_a_folder_name_writes_nothing(runs: Path, worker: str) -> None:
    wire = Wire()
    PartSender(wire.send, RUN_ID, 1024)(0, b"x" * 10, 1)
    receiver = PartReceiver(lambda: runs)
    wire.deliver(receiver, wire.sent, worker=worker)
    assert [p for p in runs.rglob("*") if p.is_file()] == []


def test_a_part_of_a_run_the_master_does_not_have_is_dropped(runs: Path) -> None:
    wire = Wire()
    PartSender(wire.send, "20260101-000000-smoke-ffff", 1024)(0, b"x" * 10, 1)
    receiver = PartReceiver(lambda: runs)
    wire.deliver(receiver, wire.sent)
    assert [p for p in runs.rglob("*") if p.is_file()] == []


def test_a_worker_shares_the_folder_only_where_it_finds_the_masters_nonce(runs: Path) -> None:
    folder = RunFolder(runs / RUN_ID)
    assert not shares_master_folder(folder, "abc")  # no events.jsonl at all
    started = {"kind": "run_started", "detail": {"folder_nonce": "abc"}}
    folder.events.write_text("not json\n" + json.dumps(started) + "\n")
    assert shares_master_folder(folder, "abc")
    assert not shares_master_folder(folder, "another master's")
    assert not shares_master_folder(folder, "")


def test_delivery_knobs_refuse_bad_values() -> None:
    assert _delivery.worker_delivery_mode({}) == "auto"
    assert _delivery.worker_delivery_mode({"LAB_RECORD_DELIVERY": "Master"}) == "master"
    with pytest.raises(_delivery.DeliverySettingError, match="LAB_RECORD_DELIVERY"):
        _delivery.worker_delivery_mode({"LAB_RECORD_DELIVERY": "s3"})
    assert _delivery.chunk_bytes({}) == _delivery.CHUNK_BYTES_DEFAULT
    with pytest.raises(_delivery.DeliverySettingError, match="at least"):
        _delivery.chunk_bytes({"LAB_RECORD_CHUNK_BYTES": "10"})
    assert _delivery.worker_runs_dir(Path("/master"), {}) == Path("/master")
    assert _delivery.worker_runs_dir(Path("/master"), {"LAB_RUNS_DIR": "/own"}) == Path("/own")
