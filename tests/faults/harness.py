"""The fault suite's stage: real processes on 127.0.0.1, and a load that behaves like a provider.

- a real ``redis-server`` (``RedisServer``, AOF), restartable on its port and data directory;
- PostgreSQL reached through ``TcpProxy``, a tiny forwarder the test can cut and restore;
- the ingest under gunicorn (gthread, 2 processes), as ``smspipe ingest`` runs it;
- real Celery worker nodes (``tests.conftest.WorkerProcess``);
- ``send_webhooks``: threads posting unique inbound messages, retrying a non-200 answer a few
  times a little later, as Webex Connect does; it records what was answered 200.

``Tally`` then counts, per scenario, what the contract promises: every webhook answered 200 is
processed exactly once in effect (one message, one ``message.received`` event in the outbox),
and its expected event id reaches the Redis Stream.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import redis
import requests
from sqlalchemy import func, select

from common.cli import ingest_command
from common.envelope import Envelope
from common.events import MESSAGE_RECEIVED
from common.models import Message, OutboxEvent, RawPayload
from common.redis_server import free_port
from common.settings import Settings
from tests.conftest import ROOT, read_stream, sample_bodies, wait_for
from workers.cloudevents import event_id
from workers.outbox import OutboxRelay
from workers.providers import adapter_for

CONNECT_TEMPLATE = sample_bodies("webex-connect")[-1][1]
INFOBIP_TEMPLATE = sample_bodies("infobip")[0][1]


def webhook(n: int, tag: str) -> tuple[str, bytes, str]:
    """The n-th webhook of a run: (provider, body, provider message id), alternating providers."""
    message_id = f"{tag}-{n:05d}"
    if n % 2:
        return "infobip", INFOBIP_TEMPLATE.replace(b"817790313235066447", message_id.encode()), message_id
    return "webex-connect", CONNECT_TEMPLATE.replace(b"105eddec-dd53-433d-9d6f-37f10ac76a06", message_id.encode()), message_id


def expected_event_id(provider: str, body: bytes) -> str:
    [record] = adapter_for(provider).parse(Envelope.wrap(provider, body))
    return event_id(record.dedupe_key, MESSAGE_RECEIVED, 0)


class TcpProxy:
    """Forwards 127.0.0.1:<port> to a target; ``cut()`` drops every connection and refuses new
    ones (the database "goes away"), ``restore()`` listens again on the same port."""

    def __init__(self, target: tuple[str, int]):
        self.target = target
        self.port = free_port()
        self._listener: socket.socket | None = None
        self._connections: list[socket.socket] = []
        self._lock = threading.Lock()

    def restore(self) -> TcpProxy:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    def cut(self) -> None:
        with self._lock:
            listener, self._listener = self._listener, None
            connections, self._connections = self._connections, []
        if listener is not None:
            listener.close()
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            connection.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # cut
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._lock:
                if self._listener is not listener:
                    client.close()
                    upstream.close()
                    return
                self._connections += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        for end in (source, sink):
            try:
                end.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class Ingest:
    """``smspipe ingest`` (gunicorn, gthread) on a free port, stopped by its pid."""

    def __init__(self, env: dict[str, str], log_path: Path, workers: int = 2, threads: int = 16):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(log_path, "wb")
        self.log_path = log_path
        self.process = subprocess.Popen(
            ingest_command("127.0.0.1", self.port, workers, threads), env=env, cwd=ROOT,
            stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
        )

        def live() -> bool:
            if self.process.poll() is not None:
                raise RuntimeError(f"ingest exited:\n{log_path.read_text(errors='replace')}")
            try:
                return requests.get(f"{self.url}/livez", timeout=1).status_code == 200
            except requests.RequestException:
                return False

        wait_for(live, 30, 0.1)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.log.close()


def pool_children(pid: int) -> list[int]:
    """The prefork pool processes of a Celery worker (Linux /proc)."""
    try:
        return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except (FileNotFoundError, ProcessLookupError):
        return []


@dataclass
class Load:
    sent: int = 0
    accepted: dict[str, list[str]] = field(default_factory=dict)  # message id -> ingest ids answered 200
    answers: Counter[str] = field(default_factory=Counter)  # every answer, retries included
    bodies: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    send_seconds: float = 0.0


def send_webhooks(url: str, count: int, tag: str, seconds: float = 8.0, concurrency: int = 16, tries: int = 3,
                  retry_after: float = 1.0) -> Load:
    """Spread over about ``seconds`` so the faults strike while webhooks arrive."""
    load = Load(sent=count)
    lock = threading.Lock()
    local = threading.local()
    started = time.monotonic()

    def send(n: int) -> None:
        delay = started + n * seconds / count - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        provider, body, message_id = webhook(n, tag)
        if not hasattr(local, "session"):
            local.session = requests.Session()
        with lock:
            load.bodies[message_id] = (provider, body)
        for attempt in range(tries):
            try:
                response = local.session.post(f"{url}/webhooks/{provider}", data=body, timeout=30,
                                              headers={"Content-Type": "application/json"})
                answer = str(response.status_code)
            except requests.RequestException as error:
                response, answer = None, type(error).__name__
            with lock:
                load.answers[answer] += 1
                if response is not None and response.status_code == 200:
                    load.accepted.setdefault(message_id, []).append(response.json()["id"])
                    return
            time.sleep(retry_after * (attempt + 1))

    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(send, range(count)))
    load.send_seconds = time.monotonic() - started
    return load


@dataclass
class Tally:
    scenario: str
    sent: int
    answered_200: int
    processed: int
    lost: int
    duplicate_effects: int
    events_expected: int
    events_missing_from_stream: int
    stream_redeliveries: int  # the same event id XADDed again (at-least-once; consumers dedupe)
    non_200_answers: int
    evidence: dict[str, int] = field(default_factory=dict)  # what the logs say happened

    def row(self) -> str:
        evidence = ", ".join(f"{key} {value}" for key, value in self.evidence.items() if value)
        return (f"| {self.scenario} | {self.sent} | {self.answered_200} | {self.processed} | {self.lost} | "
                f"{self.duplicate_effects} | {self.events_expected - self.events_missing_from_stream}/"
                f"{self.events_expected} | {self.stream_redeliveries} | {self.non_200_answers} | {evidence} |")


# What the processes' logs say happened, so a scenario whose fault never struck is visible.
LOG_EVIDENCE = {
    "batches spooled": ("ingest", "spooling it"),
    "spool drains": ("ingest", "spool drained"),
    "tasks whose pool process was killed": ("worker", "WorkerLostError"),
    "batch attempts failed (retried)": ("worker", "batch failed, attempt"),
    "worker reconnects to Redis": ("worker", "Connection to broker lost"),
    "dead-lettered": ("worker", "dead letter"),
    "tasks requeued after Redis was lost mid-fetch": ("worker", "fetched just before Redis was lost"),
    "kombu could not restore a message": ("worker", "Could not restore message"),
}


def log_evidence(log_dir: Path) -> dict[str, int]:
    texts = {
        kind: "".join(path.read_text(errors="replace") for path in sorted(log_dir.glob(f"{kind}*.log")))
        for kind in ("ingest", "worker")
    }
    return {name: texts[kind].count(needle) for name, (kind, needle) in LOG_EVIDENCE.items()}


def settle(load: Load, sessions, redis_client: redis.Redis, settings: Settings, timeout: float = 90.0) -> None:
    """Wait until every accepted ingest id left ``pending``, then relay the outbox (what beat's
    ``relay-outbox`` does every 15 s) so every committed event reaches the stream."""
    ingest_ids = [ingest_id for ids in load.accepted.values() for ingest_id in ids]

    def done() -> bool:
        with sessions() as session:
            finished = session.scalar(
                select(func.count()).where(RawPayload.ingest_id.in_(ingest_ids), RawPayload.state != "pending")
            )
        return finished == len(ingest_ids)

    try:
        wait_for(done, timeout, 0.5)
    except TimeoutError:
        with sessions() as session:
            states = Counter(session.scalars(select(RawPayload.state).where(RawPayload.ingest_id.in_(ingest_ids))))
            stored = set(session.scalars(select(RawPayload.ingest_id).where(RawPayload.ingest_id.in_(ingest_ids))))
        missing = sorted(set(ingest_ids) - stored)[:5]
        queued = {key.decode(): redis_client.type(key).decode() for key in redis_client.keys("*") if b"dedupe" not in key}
        raise TimeoutError(f"accepted {len(ingest_ids)} ingest ids; raw payload states {dict(states)}; "
                           f"redis keys {queued}; unacked {redis_client.hlen('unacked')}; "
                           f"queue {redis_client.llen(settings.queue_name)}; missing {missing}") from None
    OutboxRelay(settings, sessions, redis_client).relay_pending(older_than=timedelta(0), limit=100_000)


def tally(scenario: str, load: Load, sessions, redis_client: redis.Redis, log_dir: Path) -> Tally:
    expected = {expected_event_id(*load.bodies[message_id]) for message_id in load.accepted}
    with sessions() as session:
        messages = Counter(session.scalars(
            select(Message.provider_message_id).where(Message.provider_message_id.like(f"{scenario}-%"))
        ))
        received = Counter(session.scalars(
            select(OutboxEvent.event_id).where(OutboxEvent.type == MESSAGE_RECEIVED)
        ))
    stream = Counter(event["id"] for event in read_stream(redis_client) if event["type"] == MESSAGE_RECEIVED)
    processed = sum(1 for message_id in load.accepted if messages[message_id] >= 1)
    return Tally(
        scenario=scenario,
        sent=load.sent,
        answered_200=len(load.accepted),
        processed=processed,
        lost=len(load.accepted) - processed,
        duplicate_effects=sum(count - 1 for count in messages.values() if count > 1)
        + sum(count - 1 for count in received.values() if count > 1),
        events_expected=len(expected),
        events_missing_from_stream=len(expected - set(stream)),
        stream_redeliveries=sum(count - 1 for count in stream.values() if count > 1),
        non_200_answers=sum(count for answer, count in load.answers.items() if answer != "200"),
        evidence={"send seconds": round(load.send_seconds), **log_evidence(log_dir)},
    )


def chaos(stop: threading.Event, every: float, action) -> threading.Thread:
    """Run ``action`` every ``every`` seconds (with jitter) until ``stop`` is set."""

    def run() -> None:
        while not stop.wait(every * random.uniform(0.7, 1.3)):
            action()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread
