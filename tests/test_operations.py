"""Operations, end to end: known traffic through a real gunicorn ingest with TWO worker processes
and a real Celery worker (two pool processes); the Prometheus counters scraped from both must
equal what was sent, and no log line may hold a full end-user number."""

from __future__ import annotations

import base64
import json
import socket
import subprocess
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select

from common.cli import ingest_command
from common.db import make_engine, make_session_factory, upgrade
from common.models import Message, RawPayload
from common.providers import PROVIDERS
from common.settings import Settings
from tests.conftest import ROOT, WorkerProcess, read_stream, sample_bodies, settings_env, wait_for

BAD_JSON = b'{"results": [ this is not json'
UNKNOWN_ROUTES = 3
EMPTY_BODIES = 2
QUERY_NUMBER = "385916242493"  # the Infobip seed's end user
ROUNDS = 2  # the second round is every provider retrying: duplicates, no new events


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def http(method: str, url: str, body: bytes | None = None, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


class GunicornProcess(WorkerProcess):
    """The ingest as ``smspipe ingest`` runs it, stopped like the worker: by PID, its process group."""

    def __init__(self, env: dict[str, str], log_path: Path, workers: int):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(log_path, "wb")
        self.log_path = log_path
        command = ingest_command("127.0.0.1", self.port, workers=workers, threads=8)
        command[command.index("--access-logfile") + 1] = "-"  # as with SMSPIPE_ACCESS_LOG=1
        self.process = subprocess.Popen(
            command, env=env, cwd=ROOT,
            stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
        )

    def wait_ready(self, timeout: float = 30.0) -> None:
        def answers() -> bool:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited:\n{self.log_path.read_text(errors='replace')}")
            try:
                return http("GET", self.url + "/livez")[0] == 200
            except OSError:
                return False

        wait_for(answers, timeout=timeout, interval=0.2)


@dataclass
class Stack:
    settings: Settings
    ingest: GunicornProcess
    worker_metrics_url: str
    logs: list[Path]
    redis_client: redis.Redis
    sessions: object
    answers: Counter = field(default_factory=Counter)  # (provider label, code) -> requests


def scrape(url: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """``/metrics`` parsed by prometheus_client: sample name -> sorted labels -> value."""
    status, body = http("GET", url)
    assert status == 200
    samples: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            samples.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return samples


def by(samples: dict[tuple[tuple[str, str], ...], float], *names: str) -> Counter:
    """Sum a metric's samples by the given label names."""
    totals: Counter = Counter()
    for labels, value in samples.items():
        as_dict = dict(labels)
        totals[tuple(as_dict[name] for name in names)] += value
    return totals


def send_traffic(url: str) -> Counter:
    requests: list[tuple[str, str, bytes]] = []
    for _ in range(ROUNDS):
        for provider in PROVIDERS:
            requests += [(provider, provider, body) for _, body in sample_bodies(provider)]
    requests.append(("infobip", "infobip", BAD_JSON))
    requests += [("not-a-provider", "unknown", b"{}")] * UNKNOWN_ROUTES
    requests += [("webex-connect", "webex-connect", b"")] * EMPTY_BODIES

    def post(item: tuple[str, str, bytes]) -> tuple[str, str]:
        route, label, body = item
        # Some provider setups repeat the sender in the query string: it reaches the access log.
        query = f"?sender={QUERY_NUMBER}" if route == "infobip" else ""
        status, _ = http("POST", f"{url}/webhooks/{route}{query}", body, {"Content-Type": "application/json"})
        return label, str(status)

    # Concurrent, a fresh connection each: the kernel spreads them over both gunicorn workers.
    with ThreadPoolExecutor(max_workers=16) as pool:
        return Counter(pool.map(post, requests))


@pytest.fixture(scope="module")
def stack(redis_server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    # given an ingest with two gunicorn workers and a Celery worker with two pool processes
    tmp_path = tmp_path_factory.mktemp("operations")
    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    database_url = f"sqlite:///{tmp_path / 'smspipe.db'}"
    upgrade(database_url)
    settings = Settings(redis_url=redis_server.url, database_url=database_url, spool_dir=str(tmp_path / "spool"))
    worker_port = free_port()
    env = settings_env(settings) | {
        "SMSPIPE_LOG_FORMAT": "json",
        "SMSPIPE_WORKER_METRICS_PORT": str(worker_port),
        "SMSPIPE_WORKER_METRICS_HOST": "127.0.0.1",
    }
    # and samples a previous run left behind, which must not be summed in
    stale = [tmp_path / "smspipe-metrics" / role / "counter_999999.db" for role in ("ingest", f"worker-{worker_port}")]
    for path in stale:
        path.parent.mkdir(parents=True)
        path.write_bytes(b"left by a previous run")
    worker = WorkerProcess(env, tmp_path / "worker.log", concurrency=2)
    ingest = GunicornProcess(env, tmp_path / "ingest.log", workers=2)
    engine = make_engine(database_url)
    try:
        worker.wait_ready()
        ingest.wait_ready()
        stack = Stack(settings, ingest, f"http://127.0.0.1:{worker_port}/metrics",
                      [tmp_path / "worker.log", tmp_path / "ingest.log"], client, make_session_factory(engine))

        # when known traffic is sent, and the worker has stored every accepted webhook
        stack.answers = send_traffic(ingest.url)
        accepted = sum(count for (_, code), count in stack.answers.items() if code == "200")

        def finished() -> bool:
            with stack.sessions() as session:  # type: ignore[operator]
                done = session.scalar(select(func.count()).where(RawPayload.state != "pending"))
            return done == accepted

        wait_for(finished, timeout=60)
        assert [path for path in stale if path.exists()] == []
        yield stack
    finally:
        ingest.stop()
        worker.stop()
        engine.dispose()
        client.close()


def test_ingest_metrics_count_every_answer_across_two_gunicorn_workers(stack: Stack) -> None:
    # when
    samples = scrape(stack.ingest.url + "/metrics")

    # then every answer is counted once, whichever worker gave it and whichever answers the scrape
    received = by(samples["smspipe_webhooks_received_total"], "provider", "code")
    assert received == stack.answers
    assert stack.answers[("infobip", "200")] == ROUNDS + 1
    assert stack.answers[("unknown", "404")] == UNKNOWN_ROUTES
    assert stack.answers[("webex-connect", "400")] == EMPTY_BODIES
    latency_counts = by(samples["smspipe_ingest_latency_seconds_count"], "provider")
    assert latency_counts == Counter({(provider,): sum(n for (p, _), n in stack.answers.items() if p == provider)
                                      for provider, _ in stack.answers})
    accepted = sum(count for (_, code), count in stack.answers.items() if code == "200")
    assert samples["smspipe_ingest_batch_size_sum"][()] == accepted  # every accepted webhook, in some batch
    # and two gunicorn workers did answer: each process writes its own counter file
    directory = Path(stack.settings.spool_dir).parent / "smspipe-metrics" / "ingest"
    writers = {path.stem.rsplit("_", 1)[1] for path in directory.glob("counter_*.db")}
    assert len(writers) == 2, f"expected both gunicorn workers to answer, files from {writers}"
    # and the scrape-time readings: nothing waiting, nothing spooled, the broker up
    assert samples["smspipe_queue_depth"][()] == 0
    assert samples["smspipe_spool_files"][()] == 0
    assert samples["smspipe_broker_up"][()] == 1


def test_worker_metrics_equal_the_records_and_events_produced(stack: Stack) -> None:
    # given what the pipeline produced
    events = read_stream(stack.redis_client)
    transitions = Counter(
        (event["data"]["provider"], event["data"]["previous_status"] or "none", event["data"]["status"])
        for event in events if event["type"] == "io.smspipe.message.status.v1"
    )

    # when
    samples = scrape(stack.worker_metrics_url)

    # then the seed's records, once applied and once (the retry round) duplicate
    seed_records = Counter({
        ("infobip", "inbound"): 1,
        ("webex-interact", "inbound"): 1,
        ("webex-connect", "inbound"): 1,
        ("webex-connect", "status"): 6,
        ("webex-connect", "click"): 1,
    })
    records = samples["smspipe_records_total"]
    assert by({k: v for k, v in records.items() if dict(k)["outcome"] == "applied"}, "provider", "kind") == seed_records
    assert by({k: v for k, v in records.items() if dict(k)["outcome"] == "duplicate"}, "provider", "kind") == seed_records
    assert by(samples["smspipe_events_emitted_total"], "type") == Counter((event["type"],) for event in events)
    assert by(samples["smspipe_delivery_transitions_total"], "provider", "from_status", "to_status") == transitions
    # the bad JSON: one whole payload dead-lettered
    assert by(samples["smspipe_dead_letters_total"], "provider", "kind") == Counter({("infobip", "payload"): 1})
    accepted = sum(count for (_, code), count in stack.answers.items() if code == "200")
    assert samples["smspipe_batch_payloads_sum"][()] == accepted
    assert by(samples["smspipe_batches_total"], "outcome").keys() == {("processed",)}


def end_user_numbers(stack: Stack) -> set[str]:
    """Every full end-user number the seed traffic stored, as stored and without its plus."""
    with stack.sessions() as session:  # type: ignore[operator]
        stored = set(session.scalars(select(Message.end_user).where(Message.end_user.is_not(None))))
    full = {number for number in stored if number.lstrip("+").isdigit()}
    return full | {number.lstrip("+") for number in full}


def test_no_log_line_holds_a_full_end_user_number(stack: Stack) -> None:
    # given the numbers the traffic carried (the seed's masked ones, "9189xxxxxxxx", are not full)
    numbers = end_user_numbers(stack)
    assert {"+385916242493", "+447838970000"} <= numbers

    # when
    lines = [line for path in stack.logs for line in path.read_text(errors="replace").splitlines()]

    # then the logs are structured, carry ingest ids, and hold no full number
    batch_lines = [json.loads(line) for line in lines if '"batch processed"' in line]
    assert batch_lines and all(entry["ingest_ids"] for entry in batch_lines)
    dead_letter_lines = [json.loads(line) for line in lines if '"dead letter"' in line]
    assert [entry["provider"] for entry in dead_letter_lines] == ["infobip"]
    assert dead_letter_lines[0]["ingest_id"]
    access_lines = [json.loads(line) for line in lines if "/webhooks/infobip?sender=" in line]
    assert access_lines and all(f"sender=********{QUERY_NUMBER[-4:]}" in entry["event"] for entry in access_lines)
    leaks = [line for line in lines if any(number in line for number in numbers)]
    assert leaks == []
    # nor the bodies that carry them, encoded (Celery logs a task's arguments: our base64 batches)
    encoded = {base64.b64encode(body).decode()[:40] for provider in PROVIDERS for _, body in sample_bodies(provider)}
    assert [line for line in lines if any(text in line for text in encoded)] == []
