"""Shared fixtures: a real Redis server, real databases (SQLite, and PostgreSQL where
SMSPIPE_TEST_POSTGRES_URL names a server), a real Celery worker process.

Under CI=true a test that needs PostgreSQL fails instead of skipping when it is missing.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import redis
from sqlalchemy import create_engine, text

from common.db import make_engine, make_session_factory, upgrade
from common.redis_server import RedisServer
from common.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SAMPLES = ROOT / "common" / "samples"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require_service(reason: str) -> None:
    """Skip locally; fail in CI, where every service must be present."""
    if IN_CI:
        pytest.fail(f"{reason} (CI must run this test)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> Iterator[str]:
    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    yield redis_server.url
    client.close()


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


def _postgres_database() -> Iterator[str]:
    admin_url = os.environ.get("SMSPIPE_TEST_POSTGRES_URL")
    if not admin_url:
        require_service("SMSPIPE_TEST_POSTGRES_URL is not set")
    name = f"smspipe_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = admin_url.rsplit("/", 1)[0] + "/" + name
    try:
        yield url
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, migrated database of each kind."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'smspipe.db'}"
        upgrade(url)
        yield url
        return
    for url in _postgres_database():
        upgrade(url)
        yield url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'smspipe.db'}"
    upgrade(url)
    return url


@pytest.fixture
def settings(redis_url: str, database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        redis_url=redis_url,
        database_url=database_url,
        spool_dir=str(tmp_path / "spool"),
        max_attempts=3,
    )


@pytest.fixture
def sessions(settings: Settings) -> Iterator[Any]:
    engine = make_engine(settings.database_url)
    yield make_session_factory(engine)
    engine.dispose()


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment a child process needs to see ``settings``."""
    env = dict(os.environ)
    env.update(
        {
            "SMSPIPE_REDIS_URL": settings.redis_url,
            "SMSPIPE_DATABASE_URL": settings.database_url,
            "SMSPIPE_SPOOL_DIR": settings.spool_dir,
            "SMSPIPE_MAX_ATTEMPTS": str(settings.max_attempts),
            "SMSPIPE_LOG_FORMAT": "console",
            "PYTHONPATH": str(ROOT),
            "SMSPIPE_DELIVERY_LANES": str(settings.delivery_lanes),
        }
    )
    if settings.config_path:
        env["SMSPIPE_CONFIG"] = settings.config_path
    return env


class WorkerProcess:
    """A real ``celery worker`` child, stopped by PID (its whole process group)."""

    def __init__(self, env: dict[str, str], log_path: Path, concurrency: int = 1, pool: str = "prefork"):
        self.log_path = log_path
        self.log = open(log_path, "wb")
        command = [
            sys.executable, "-m", "celery", "-A", "workers.celery_app", "worker",
            "--concurrency", str(concurrency), "--pool", pool, "--loglevel", "INFO",
            "--without-gossip", "--without-mingle", "--without-heartbeat",
        ]
        self.process = subprocess.Popen(
            command, env=env, cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"worker exited early:\n{self.log_path.read_text(errors='replace')}")
            if b"ready." in self.log_path.read_bytes():
                return
            time.sleep(0.1)
        raise TimeoutError(f"worker not ready:\n{self.log_path.read_text(errors='replace')}")

    def kill(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def stop(self, timeout: float = 15.0) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.close()


@pytest.fixture
def start_worker(settings: Settings, tmp_path: Path) -> Iterator[Callable[..., WorkerProcess]]:
    started: list[WorkerProcess] = []

    def start(concurrency: int = 1, pool: str = "prefork", **overrides: Any) -> WorkerProcess:
        worker = WorkerProcess(
            settings_env(replace(settings, **overrides)), tmp_path / f"worker-{len(started)}.log", concurrency, pool
        )
        started.append(worker)
        worker.wait_ready()
        return worker

    yield start
    for worker in started:
        worker.stop()


@pytest.fixture
def worker(start_worker: Callable[..., WorkerProcess]) -> WorkerProcess:
    return start_worker()


def read_stream(client: redis.Redis, stream: str = "smspipe:events") -> list[dict[str, Any]]:
    return [json.loads(fields[b"event"]) for _, fields in client.xrange(stream)]


def wait_for(predicate: Callable[[], Any], timeout: float = 30.0, interval: float = 0.05) -> Any:
    """Poll until ``predicate`` returns something truthy; its value is returned."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"condition not met within {timeout}s (last value: {value!r})")
        time.sleep(interval)


def sample_bodies(provider: str) -> list[tuple[str, bytes]]:
    folder = SAMPLES / provider
    return sorted((path.name, path.read_bytes()) for path in folder.glob("*.json"))
