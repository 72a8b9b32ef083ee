"""Record parts over Locust's own messaging, for remote workers.

A worker that shares the master's runs folder (the Compose lab's bind mount, one machine)
writes its Parquet parts (per-request record and workflow transactions) straight into
`runs/<id>/requests/<worker>/` and `runs/<id>/transactions/<worker>/`: the fast local
case. A worker on another host or in a Kubernetes pod has no such folder: it sends each
part to the master over the connection it already has (Locust's ZeroMQ channel,
`runner.send_message` / `register_message`), and the master writes it where the worker would
have. Why this channel and what happens when a worker dies mid-upload: docs/architecture.md,
"Results travel with the run".

- A part is cut into chunks of at most `chunk_bytes` (default 256 KiB: a 20,000-row part
  is a few MiB, and one huge message would hold the master's message loop, heartbeats
  included, while it is decoded). Chunks carry the part's size and SHA-256.
- The master keeps a part's chunks in memory until the last one arrives, checks size and
  digest, then writes the part with the same atomic write as a local worker (temporary file,
  fsync, rename): a part that exists is complete. An upload that never completes (the worker
  died, a chunk went missing) is never written; the run's end reports it as
  `record_part_lost`, and its rows are missing from the record (`record_incomplete`).
- Auto-detection: the master puts a random nonce in its `run_started` event and ships it to
  the workers with the spawn; a worker that finds that nonce in `runs/<id>/events.jsonl`
  under its own runs folder shares the master's folder. `LAB_RECORD_DELIVERY=folder|master`
  forces one way.
- A worker needs no `runs/credentials.json`: accounts are handed out by the master's
  ledger (`_accounts.py`, locust-plugins' Distributor).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gevent

from lab.contract import RunFolder, atomic_write, is_run_id

logger = logging.getLogger("locustfiles")

__all__ = [
    "CHUNK_BYTES_DEFAULT",
    "DELIVERY_AUTO",
    "DELIVERY_FOLDER",
    "DELIVERY_MASTER",
    "DELIVERY_MODES",
    "RECORD_FOLDERS",
    "PartReceiver",
    "PartSender",
    "new_folder_nonce",
    "shares_master_folder",
    "worker_delivery_mode",
    "worker_runs_dir",
]

DELIVERY_AUTO = "auto"
DELIVERY_FOLDER = "folder"
DELIVERY_MASTER = "master"
DELIVERY_MODES = (DELIVERY_AUTO, DELIVERY_FOLDER, DELIVERY_MASTER)
DELIVERY_ENV = "LAB_RECORD_DELIVERY"
CHUNK_BYTES_ENV = "LAB_RECORD_CHUNK_BYTES"
CHUNK_BYTES_DEFAULT = 256 * 1024
CHUNK_BYTES_MIN = 1024

MSG_PART_CHUNK = "lab_record_chunk"
# The records a worker writes in parts, and the run-folder folder of each (per worker).
RECORD_FOLDERS: dict[str, Callable[[RunFolder, str], Path]] = {
    "requests": RunFolder.worker_requests,
    "transactions": RunFolder.worker_transactions,
    "page_loads": RunFolder.worker_page_loads,
    "page_assets": RunFolder.worker_page_assets,
}
# A worker id names a folder under requests/: Locust's `<hostname>_<uuid hex>`.
_WORKER_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,200}$")


class DeliverySettingError(ValueError):
    pass


def new_folder_nonce() -> str:
    return secrets.token_hex(8)


# --- the worker's own settings ------------------------------------------------------------
# A master ships every `--lab-*` option to its workers with each spawn, its runs folder and
# delivery mode included: those name the master's disk. Where a worker writes, and how it
# delivers, are the worker's own: read from its environment (Compose, Kubernetes, the tests).


def worker_runs_dir(shipped: Path, environ: Any = os.environ) -> Path:
    """The worker's `LAB_RUNS_DIR`; the master's path (`shipped`) when it has none."""
    own = (environ.get("LAB_RUNS_DIR") or "").strip()
    return Path(own) if own else shipped


def worker_delivery_mode(environ: Any = os.environ) -> str:
    mode = (environ.get(DELIVERY_ENV) or DELIVERY_AUTO).strip().lower()
    if mode not in DELIVERY_MODES:
        raise DeliverySettingError(
            f"{DELIVERY_ENV}={mode!r} must be one of {', '.join(DELIVERY_MODES)}"
        )
    return mode


def chunk_bytes(environ: Any = os.environ) -> int:
    raw = (environ.get(CHUNK_BYTES_ENV) or "").strip()
    if not raw:
        return CHUNK_BYTES_DEFAULT
    try:
        value = int(raw)
    except ValueError as exc:
        raise DeliverySettingError(f"{CHUNK_BYTES_ENV}={raw!r} is not a number") from exc
    if value < CHUNK_BYTES_MIN:
        raise DeliverySettingError(f"{CHUNK_BYTES_ENV}={value} must be at least {CHUNK_BYTES_MIN}")
    return value


def shares_master_folder(run_folder: RunFolder, nonce: str) -> bool:
    """True when this worker sees the master's `run_started` event with the master's nonce."""
    if not nonce:
        return False
    try:
        with run_folder.events.open(encoding="utf-8") as handle:
            for line in handle:
                try:
                    event = json.loads(line)
                except ValueError:
                    continue
                if isinstance(event, dict) and event.get("kind") == "run_started":
                    detail = event.get("detail") or {}
                    return detail.get("folder_nonce") == nonce
    except OSError:
        return False
    return False


# --- worker side: parts ---------------------------------------------------------------------


class PartSender:
    """Sends one complete Parquet part to the master as numbered chunks (a recorder's sink)."""

    def __init__(
        self,
        send: Callable[[str, dict[str, Any]], None],
        run_id: str,
        size: int,
        transport_errors: tuple[type[BaseException], ...] = (),
        record: str = "requests",
    ) -> None:
        if record not in RECORD_FOLDERS:
            raise ValueError(f"unknown record {record!r}")
        self.send = send
        self.run_id = run_id
        self.record = record
        self.chunk_bytes = size
        # Locust's RPCError, handed in by the plugin (importing locust here would
        # monkey-patch whatever imports this module).
        self.transport_errors = transport_errors

    def __call__(self, seq: int, payload: bytes, rows: int) -> None:
        digest = hashlib.sha256(payload).hexdigest()
        count = max(1, -(-len(payload) // self.chunk_bytes))
        for index in range(count):
            chunk = payload[index * self.chunk_bytes : (index + 1) * self.chunk_bytes]
            try:
                self._send_chunk(seq, index, count, payload, digest, rows, chunk)
            except self.transport_errors as exc:  # logged by the recorder, as a failed write
                raise OSError(f"sending part {seq} to the master failed: {exc}") from exc
            gevent.sleep(0)  # let heartbeats and stats go out between chunks

    def _send_chunk(
        self, seq: int, index: int, count: int, payload: bytes, digest: str, rows: int,
        chunk: bytes,
    ) -> None:  # fmt: skip
        self.send(
            MSG_PART_CHUNK,
            {
                "run_id": self.run_id,
                "record": self.record,
                "seq": seq,
                "index": index,
                "count": count,
                "size": len(payload),
                "sha256": digest,
                "rows": rows,
                "data": chunk,
            },
        )


# --- master side: parts ---------------------------------------------------------------------


@dataclass
class _Upload:
    worker: str
    run_id: str
    record: str
    seq: int
    count: int
    size: int
    sha256: str
    rows: int
    chunks: list[bytes] = field(default_factory=list)

    @property
    def received_bytes(self) -> int:
        return sum(len(chunk) for chunk in self.chunks)


class PartReceiver:
    """Assembles the chunks of each worker's parts; writes a part only once it is whole."""

    def __init__(self, runs_dir: Callable[[], Path | None]) -> None:
        self.runs_dir = runs_dir
        self._open: dict[tuple[str, str, int], _Upload] = {}
        self.parts_written = 0
        self.rows_written: dict[str, int] = {}
        self.broken: list[dict[str, Any]] = []  # uploads refused: bad order, size or digest

    def on_chunk(self, environment: Any = None, msg: Any = None, **_kwargs: Any) -> None:
        worker = str(getattr(msg, "node_id", ""))
        data = getattr(msg, "data", None)
        if not isinstance(data, dict) or not _WORKER_ID.match(worker):
            logger.warning("record part chunk refused: bad message from %r", worker)
            return
        try:
            run_id, seq = str(data["run_id"]), int(data["seq"])
            record = str(data.get("record", "requests"))
            index, count = int(data["index"]), int(data["count"])
            chunk = bytes(data["data"])
        except (KeyError, TypeError, ValueError):
            logger.warning("record part chunk refused: malformed chunk from %s", worker)
            return
        if record not in RECORD_FOLDERS:
            logger.warning("record part chunk refused: unknown record %r from %s", record, worker)
            return
        runs_dir = self.runs_dir()
        if runs_dir is None or not is_run_id(run_id) or not (runs_dir / run_id).is_dir():
            logger.warning("record part of unknown run %r from %s dropped", run_id, worker)
            return
        key = (worker, run_id, record, seq)
        upload = self._open.get(key)
        if index == 0:
            upload = _Upload(
                worker, run_id, record, seq, count, int(data["size"]), str(data["sha256"]),
                int(data["rows"]),
            )  # fmt: skip
            self._open[key] = upload
        if upload is None or index != len(upload.chunks) or count != upload.count:
            self._refuse(key, upload, f"chunk {index} of {count} out of order")
            return
        upload.chunks.append(chunk)
        if len(upload.chunks) < upload.count:
            return
        del self._open[key]
        payload = b"".join(upload.chunks)
        if len(payload) != upload.size or hashlib.sha256(payload).hexdigest() != upload.sha256:
            self._refuse(None, upload, "size or SHA-256 differs from the worker's")
            return
        folder = RECORD_FOLDERS[record](RunFolder(runs_dir / run_id), worker)
        part = folder / f"part-{seq:06d}.parquet"
        try:
            atomic_write(part, payload)
        except OSError as exc:
            self._refuse(None, upload, f"could not write {part}: {exc}")
            return
        self.parts_written += 1
        if record == "requests":  # compared with Locust's request count at the end
            self.rows_written[worker] = self.rows_written.get(worker, 0) + upload.rows

    def _refuse(
        self, key: tuple[str, str, str, int] | None, upload: _Upload | None, why: str
    ) -> None:
        if key is not None:
            self._open.pop(key, None)
        if upload is None:
            logger.error("record part chunk refused: %s (no upload open)", why)
            return
        logger.error("record part %d of worker %s lost: %s", upload.seq, upload.worker, why)
        self.broken.append(self._describe(upload, why))

    @staticmethod
    def _describe(upload: _Upload, why: str) -> dict[str, Any]:
        return {
            "run_id": upload.run_id,
            "worker": upload.worker,
            "record": upload.record,
            "seq": upload.seq,
            "rows": upload.rows,
            "received_bytes": upload.received_bytes,
            "size": upload.size,
            "reason": why,
        }

    def lost_parts(self, run_id: str) -> list[dict[str, Any]]:
        """Uploads of `run_id` refused or still unfinished; forgets the unfinished ones."""
        unfinished = [u for key, u in self._open.items() if key[1] == run_id]
        for upload in unfinished:
            del self._open[(upload.worker, upload.run_id, upload.record, upload.seq)]
        lost = [item for item in self.broken if item["run_id"] == run_id]
        self.broken = [item for item in self.broken if item["run_id"] != run_id]
        return lost + [self._describe(u, "upload not finished") for u in unfinished]
