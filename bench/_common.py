"""What every benchmark shares: child processes stopped by PID, memory read from /proc, the
machine's description, result files, throwaway databases.

Benchmarks, not tests: nothing here asserts a time. Every figure is printed as one summary line
and written to ``bench/results/<name>.json`` with the machine and its load.
"""

from __future__ import annotations

import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
POSTGRES_ENV = "SMSPIPE_TEST_POSTGRES_URL"


def load_average() -> list[float]:
    return [round(value, 2) for value in os.getloadavg()]


def machine() -> dict[str, Any]:
    """What the figures were measured on: absolute numbers only compare on the same machine."""
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        memory_kb = int(Path("/proc/meminfo").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        memory_kb = 0
    revision = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                              text=True).stdout.strip()
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "memory_mb": memory_kb // 1024,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "git_revision": revision,
    }


def summary(name: str, figure: str, value: Any, unit: str = "", **extra: Any) -> None:
    """One line per figure: ``bench:<name> <figure>=<value><unit> key=value ...``."""
    details = " ".join(f"{key}={value}" for key, value in extra.items())
    print(f"bench:{name} {figure}={value}{unit} {details}".rstrip(), flush=True)


def write_result(name: str, result: dict[str, Any], quick: bool) -> Path:
    """Full runs write ``<name>.json`` (what BENCHMARKS.md shows); quick runs ``<name>.quick.json``."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / (f"{name}.quick.json" if quick else f"{name}.json")
    document = {
        "benchmark": name,
        "quick": quick,
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "load_average_at_end": load_average(),
        "machine": machine(),
        **result,
    }
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(document, indent=2, sort_keys=False) + "\n")
    tmp.replace(path)
    print(f"bench:{name} result={path.relative_to(ROOT)}", flush=True)
    return path


def child_env(**values: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.setdefault("SMSPIPE_LOG_FORMAT", "console")
    env.update(values)
    return env


class Child:
    """A child process in its own process group, always stopped by its PID (never by name)."""

    def __init__(self, command: list[str], env: dict[str, str], log_path: Path):
        self.command = command
        self.log_path = log_path
        self._log = open(log_path, "wb")
        self.process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, start_new_session=True)

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_log(self, marker: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if marker in self.log_text():
                return
            if not self.alive():
                raise RuntimeError(f"{self.command[:4]} exited early:\n{self.log_text()[-3000:]}")
            time.sleep(0.05)
        raise TimeoutError(f"{marker!r} not seen in {self.log_path}:\n{self.log_text()[-3000:]}")

    def stop(self, timeout: float = 15.0) -> None:
        if self.alive():
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self._log.close()


def wait_for(check: Callable[[], Any], timeout: float, interval: float = 0.05, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(interval)


def descendants(pid: int) -> list[int]:
    """The PIDs below ``pid`` (from /proc/<pid>/task/*/children)."""
    found: list[int] = []
    pending = [pid]
    while pending:
        current = pending.pop()
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                children = [int(text) for text in (task / "children").read_text().split()]
            except (OSError, ValueError):
                continue
            found.extend(children)
            pending.extend(children)
    return found


def rss_mb(pid: int) -> float:
    """Resident memory of one process in MiB (0 once it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        pass
    return 0.0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process (and its reaped children), in seconds."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = sum(int(value) for value in fields[11:15])
    except (OSError, ValueError, IndexError):
        return 0.0
    return ticks / os.sysconf("SC_CLK_TCK")


@contextmanager
def scratch_dir(prefix: str) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix=f"smspipe-bench-{prefix}-") as path:
        yield Path(path)


@contextmanager
def database(kind: str, directory: Path) -> Iterator[str]:
    """A fresh, migrated database: a SQLite file, or a new PostgreSQL database dropped afterwards."""
    from common.db import upgrade

    if kind == "sqlite":
        url = f"sqlite:///{directory / f'bench-{uuid.uuid4().hex[:8]}.db'}"
        upgrade(url)
        yield url
        return
    from sqlalchemy import create_engine, text

    admin_url = postgres_admin_url()
    if not admin_url:
        raise RuntimeError(f"PostgreSQL benchmarks need {POSTGRES_ENV}")
    name = f"smspipe_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(admin_url.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = admin_url.rsplit("/", 1)[0] + "/" + name
    try:
        upgrade(url)
        yield url
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def postgres_admin_url() -> str | None:
    return os.environ.get(POSTGRES_ENV) or None


def python() -> str:
    return sys.executable


def ratio(numerator: float, denominator: float) -> float | None:
    return round(numerator / denominator, 3) if denominator else None


@contextmanager
def redis_server(directory: Path) -> Iterator[Any]:
    """A private redis-server as production runs it (AOF, fsync every second, noeviction)."""
    from common.redis_server import RedisServer

    server = RedisServer(directory / "redis").start()
    try:
        yield server
    finally:
        server.stop()
