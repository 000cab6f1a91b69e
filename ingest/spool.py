"""The disk spool: where a batch goes when Redis cannot take it, so a 200 still means durable.

One file per batch, written as ``<name>.tmp``, fsynced, then renamed to ``<name>.batch`` and
the directory fsynced: a reader never sees a half-written file, and gunicorn's worker processes
never share one. Names start with the time in nanoseconds, then the pid and a counter, so a
sorted listing is the order the batches were spooled in.

Draining: every ingest process runs a ``SpoolDrainer`` thread that, while files are waiting,
claims the oldest by renaming it to ``<name>.draining-<pid>`` (atomic: two processes can never
claim the same file), publishes it, and deletes it. A failed publish renames it back and waits
for the next round. A process that dies holding a claim leaves it to the others, which take it
back once that pid is gone. A crash after the publish but before the delete publishes the batch
again: the workers store raw payloads once per ingest id, so that costs nothing but work.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

from common.errors import EnqueueFailed
from ingest.process_thread import ProcessThread

logger = logging.getLogger(__name__)

READY_SUFFIX = ".batch"
CLAIM_MARK = ".draining-"


def _fsync_directory(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Spool:
    def __init__(self, directory: str | Path):
        self.directory = Path(directory)
        self._counter = itertools.count()

    def append(self, batch: list[dict[str, Any]]) -> Path:
        """Durable on return (file and directory entry fsynced); raises ``EnqueueFailed``."""
        name = f"{time.time_ns():020d}-{os.getpid()}-{next(self._counter):06d}"
        temporary = self.directory / f"{name}.tmp"
        final = self.directory / f"{name}{READY_SUFFIX}"
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            with open(temporary, "wb") as handle:
                handle.write(json.dumps(batch, separators=(",", ":")).encode("ascii"))
                handle.flush()
                os.fsync(handle.fileno())
            os.rename(temporary, final)
            _fsync_directory(self.directory)
        except OSError as error:
            try:
                temporary.unlink(missing_ok=True)
            except OSError:
                pass  # the directory itself is unusable: nothing was written
            raise EnqueueFailed(f"spool not writable: {error}") from error
        return final

    def writable(self) -> str | None:
        """None when a batch could be spooled now, else why not."""
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            return f"spool directory unusable: {error}"
        if not os.access(self.directory, os.W_OK | os.X_OK):
            return f"spool directory not writable: {self.directory}"
        return None

    def pending(self) -> list[Path]:
        """Spooled batches waiting (claimed ones included), oldest first."""
        if not self.directory.is_dir():
            return []
        return sorted(
            (path for path in self.directory.iterdir() if path.name.endswith(READY_SUFFIX) or CLAIM_MARK in path.name),
            key=lambda path: path.name,
        )

    def _release_abandoned_claims(self) -> None:
        for path in self.pending():
            if CLAIM_MARK not in path.name:
                continue
            pid = path.name.rsplit(CLAIM_MARK, 1)[1]
            if pid.isdigit() and not _pid_alive(int(pid)):
                try:
                    os.rename(path, path.with_name(path.name.split(CLAIM_MARK, 1)[0]))
                except FileNotFoundError:
                    pass  # another process took it back first

    def drain(self, publish: Any) -> int:
        """Publish spooled batches oldest first until none is left or a publish fails.
        Returns how many batches were published."""
        self._release_abandoned_claims()
        published = 0
        for path in self.pending():
            if not path.name.endswith(READY_SUFFIX):
                continue  # claimed by a live process
            claimed = path.with_name(f"{path.name}{CLAIM_MARK}{os.getpid()}")
            try:
                os.rename(path, claimed)
            except FileNotFoundError:
                continue  # another process claimed it
            try:
                batch = json.loads(claimed.read_bytes())
            except ValueError:  # fsync-then-rename makes this a disk fault: keep it for a human
                os.rename(claimed, path.with_suffix(".corrupt"))
                logger.error("unreadable spool file set aside", extra={"path": str(path)})
                continue
            try:
                publish(batch)
            except Exception:
                os.rename(claimed, path)
                logger.warning("spool drain paused: the broker still refuses batches", exc_info=True)
                break
            claimed.unlink()
            published += 1
        if published:
            logger.warning("spool drained: %d batch(es) moved to the broker", published)
        return published


class SpoolDrainer:
    """A daemon thread per ingest process (started lazily after gunicorn forks) that drains
    the spool into the broker every ``interval`` seconds."""

    def __init__(self, spool: Spool, publish: Any, interval: float = 1.0):
        self.spool = spool
        self.publish = publish
        self.interval = interval
        self._thread = ProcessThread(self._run, "smspipe-spool-drain")

    def ensure_running(self) -> None:
        self._thread.ensure_running()

    def _run(self) -> None:
        while True:
            try:
                self.spool.drain(self.publish)
            except Exception:  # a broken file or a full disk must not stop the thread for good
                logger.exception("spool drain failed")
            time.sleep(self.interval)
