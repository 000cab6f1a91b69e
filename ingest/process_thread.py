"""A daemon thread started lazily, once per process.

gunicorn forks its workers after the app is created, and threads do not survive a fork: each
worker process starts its own on first use.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable


class ProcessThread:
    def __init__(self, target: Callable[[], None], name: str, before_start: Callable[[], None] | None = None):
        """``before_start`` runs in the new process just before its thread starts (e.g. to
        replace state inherited from the parent)."""
        self.target = target
        self.name = name
        self.before_start = before_start
        self._owner_pid: int | None = None
        self._lock = threading.Lock()

    def ensure_running(self) -> None:
        if self._owner_pid == os.getpid():
            return
        with self._lock:
            if self._owner_pid != os.getpid():
                if self.before_start is not None:
                    self.before_start()
                threading.Thread(target=self.target, name=self.name, daemon=True).start()
                self._owner_pid = os.getpid()
