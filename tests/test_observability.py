"""Structured logs with masked numbers, the scrape-time readings, the ops page's access rules
and summary, and ``smspipe status``."""

from __future__ import annotations

import json
import logging
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from common import metrics
from common.cli import main
from common.db import make_engine, make_session_factory
from common.envelope import Envelope
from common.logging import make_formatter, mask_text
from common.models import DeadLetter, Message, RawPayload
from common.ops_summary import build_summary, ingest_id_floor, webhook_rates
from common.settings import Settings, get_settings
from ingest.app import create_app
from common.batch_publisher import CeleryPublisher

# --- logs --------------------------------------------------------------------------------------

MASKING_CASES = [
    # (label, message, extra, field -> expected rendered value)
    ("number field", "inbound", {"from": "+385916242493"}, {"from": "*********2493"}),
    ("digits-only field", "inbound", {"recipient": "385916242493"}, {"recipient": "********2493"}),
    ("short field value", "inbound", {"to": "56263"}, {"to": "*6263"}),
    ("number in the message", "sent to 447838970000 ok", {}, {"event": "sent to ********0000 ok"}),
    ("nested", "batch", {"records": [{"subject": "+447838970000"}]}, {"records": [{"subject": "*********0000"}]}),
    ("integer number", "batch", {"msisdn": 385916242493}, {"msisdn": "********2493"}),
    ("ingest id kept", "batch", {"ingest_id": "01a207ef03f7168c56ec19257e156374"},
     {"ingest_id": "01a207ef03f7168c56ec19257e156374"}),
    ("message id kept", "dup", {"dedupe_key": "infobip:817790313235066447"}, {"dedupe_key": "infobip:817790313235066447"}),
    ("timestamp kept", "t", {"at": "2016-10-06T09:28:39.220+0000"}, {"at": "2016-10-06T09:28:39.220+0000"}),
    ("duration kept", "t", {"seconds": "0.0123456789"}, {"seconds": "0.0123456789"}),
]


def render(message: str, extra: dict, log_format: str = "json", exc_info: object = None) -> str:
    record = logging.LogRecord("workers.pipeline", logging.WARNING, __file__, 1, message, None, exc_info)
    record.__dict__.update(extra)
    return make_formatter(log_format).format(record)


@pytest.mark.parametrize(("label", "message", "extra", "expected"), MASKING_CASES, ids=[c[0] for c in MASKING_CASES])
def test_log_lines_are_json_with_numbers_masked(label, message, extra, expected) -> None:
    line = json.loads(render(message, extra))
    assert {key: line[key] for key in expected} == expected
    assert (line["level"], line["logger"]) == ("warning", "workers.pipeline")


def test_tracebacks_are_masked_too() -> None:
    try:
        raise ValueError("no route for 385916242493")
    except ValueError:
        exc_info = sys.exc_info()
    line = json.loads(render("record failed", {"ingest_id": "abc"}, exc_info=exc_info))
    assert line["exception"].endswith("ValueError: no route for ********2493")
    assert "385916242493" not in render("record failed", {}, "console", exc_info)


def test_console_format_is_one_readable_line() -> None:
    line = render("dead letter", {"provider": "infobip", "ingest_id": "abc", "from": "+385916242493"}, "console")
    assert "\n" not in line
    assert line.split(" ", 1)[1].split() == [
        "[warning", "]", "dead", "letter", "[workers.pipeline]", "from=*********2493", "ingest_id=abc", "provider=infobip"
    ]


def test_mask_text_leaves_text_without_numbers_alone() -> None:
    assert mask_text("QUIZ Correct answer is Paris, code 7101") == "QUIZ Correct answer is Paris, code 7101"


# --- scrape-time readings ------------------------------------------------------------------------


def test_queue_reading_finds_the_oldest_waiting_batch(redis_client, redis_url, tmp_path: Path) -> None:
    # given two batches waiting, no worker running
    settings = Settings(redis_url=redis_url, spool_dir=str(tmp_path))
    publisher = CeleryPublisher(settings)
    first = Envelope.wrap("infobip", b"{}")
    publisher([first.to_wire()])
    publisher([Envelope.wrap("infobip", b"{}").to_wire()])

    # when
    reading = metrics.queue_reading(redis_client, settings.queue_name)

    # then
    assert (reading["depth"], reading["unacked"]) == (2, 0)
    assert metrics.oldest_batch_received_at(redis_client.lindex(settings.queue_name, -1)) == first.received_at
    assert reading["oldest_age_seconds"] >= 0


def test_spool_reading_counts_files_and_bytes(tmp_path: Path) -> None:
    (tmp_path / "spool" / "nested").mkdir(parents=True)
    (tmp_path / "spool" / "a.json").write_bytes(b"12345")
    (tmp_path / "spool" / "nested" / "b.json").write_bytes(b"123")
    assert metrics.spool_reading(str(tmp_path / "spool")) == {"files": 2, "bytes": 8}
    assert metrics.spool_reading(str(tmp_path / "missing")) == {"files": 0, "bytes": 0}


def test_metrics_endpoint_counts_answers_and_reports_a_down_broker(tmp_path: Path) -> None:
    # given an ingest whose broker is unreachable, and a publisher that accepts everything
    settings = Settings(redis_url="redis://127.0.0.1:1/0", spool_dir=str(tmp_path / "spool"))
    client = create_app({"SMSPIPE_SETTINGS": settings}, publish=lambda batch: None).test_client()
    before = metrics.counter_values("smspipe_webhooks_received")

    # when
    answers = [client.post(path, data=body).status_code
               for path, body in [("/webhooks/infobip", b"{}"), ("/webhooks/infobip", b""), ("/webhooks/nope", b"{}")]]
    text = client.get("/metrics").get_data(as_text=True)

    # then
    assert answers == [200, 400, 404]
    after = metrics.counter_values("smspipe_webhooks_received")
    grown = {dict(key)["provider"] + " " + dict(key)["code"]: after[key] - before.get(key, 0) for key in after}
    assert {key: value for key, value in grown.items() if value} == {"infobip 200": 1, "infobip 400": 1, "unknown 404": 1}
    assert "smspipe_broker_up 0.0" in text.splitlines()


# --- the ops page's access rules -----------------------------------------------------------------

ACCESS_CASES = [
    # (label, admin token, dev mode, request headers, expected status)
    ("no token configured: off", None, False, {}, 404),
    ("token configured, none sent: sign-in form", "secret", False, {}, 401),
    ("wrong token", "secret", False, {"Authorization": "Bearer guess"}, 403),
    ("right token", "secret", False, {"Authorization": "Bearer secret"}, 200),
    ("smspipe dev: open", None, True, {}, 200),
    ("smspipe dev with a token: open", "secret", True, {}, 200),
]


@pytest.mark.parametrize(("label", "token", "dev_mode", "headers", "expected"), ACCESS_CASES,
                         ids=[case[0] for case in ACCESS_CASES])
def test_ops_page_access(label, token, dev_mode, headers, expected, sqlite_url, tmp_path: Path) -> None:
    settings = Settings(redis_url="redis://127.0.0.1:1/0", database_url=sqlite_url, spool_dir=str(tmp_path),
                        admin_token=token, dev_mode=dev_mode)
    client = create_app({"SMSPIPE_SETTINGS": settings}, publish=lambda batch: None).test_client()
    assert client.get("/ops", headers=headers).status_code == expected
    assert client.get("/ops/live", headers=headers).status_code == expected


def test_ops_sign_in_sets_a_strict_cookie(sqlite_url, tmp_path: Path) -> None:
    settings = Settings(redis_url="redis://127.0.0.1:1/0", database_url=sqlite_url, spool_dir=str(tmp_path),
                        admin_token="secret")
    client = create_app({"SMSPIPE_SETTINGS": settings}, publish=lambda batch: None).test_client()
    assert client.post("/ops/login", data={"token": "guess"}).status_code == 403
    answer = client.post("/ops/login", data={"token": "secret"})
    assert (answer.status_code, answer.headers["Location"]) == (303, "/ops")
    cookie = answer.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/ops" in cookie
    assert client.get("/ops").status_code == 200


# --- the summary and smspipe status --------------------------------------------------------------


def add_payload(session, provider: str, at: datetime, state: str = "processed") -> None:
    session.add(RawPayload(ingest_id=ingest_id_floor(at) + "0" * 20, provider=provider, received_at=at, body=b"{}",
                           headers={}, state=state))


def test_webhook_rates_bucket_by_ingest_time(database_url) -> None:
    # given webhooks stored 5 s, 15 s and 4 min ago, and one older than the window
    now = datetime(2026, 11, 23, 10, 0, 0, tzinfo=timezone.utc)
    sessions = make_session_factory(make_engine(database_url))
    with sessions() as session, session.begin():
        for provider, seconds_ago in [("infobip", 5), ("infobip", 6), ("infobip", 15), ("webex-connect", 240),
                                      ("webex-connect", 400)]:
            add_payload(session, provider, now - timedelta(seconds=seconds_ago))

    # when
    with sessions() as session:
        rates = webhook_rates(session, now)

    # then thirty 10-second buckets, oldest first
    assert rates == {
        "infobip": [0] * 28 + [1, 2],
        "webex-connect": [0] * 6 + [1] + [0] * 23,  # 240 s ago: 60 s into the 300 s window
        "webex-interact": [0] * 30,
    }


def test_status_prints_one_screen(sqlite_url, tmp_path: Path, monkeypatch) -> None:
    # given a delivered message, a dead letter and a broker that is down
    sessions = make_session_factory(make_engine(sqlite_url))
    with sessions() as session, session.begin():
        session.add(Message(provider="infobip", direction="outbound", provider_message_id="m1", status="delivered",
                            status_final=True, details={}))
        session.add(DeadLetter(ingest_id="i1", provider="webex-connect", reason="UnknownShape: no known shape",
                               error_type="UnknownShape", body=b"{}"))
        add_payload(session, "infobip", datetime.now(timezone.utc))
    monkeypatch.setenv("SMSPIPE_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("SMSPIPE_REDIS_URL", "redis://127.0.0.1:1/0")
    monkeypatch.setenv("SMSPIPE_SPOOL_DIR", str(tmp_path / "spool"))
    get_settings.cache_clear()

    # when
    try:
        result = CliRunner().invoke(main, ["status"], env={"COLUMNS": "100"})
    finally:
        get_settings.cache_clear()

    # then
    assert result.exit_code == 0, result.output
    rows = [[cell.strip() for cell in line.strip("│").split("│")] for line in result.output.splitlines()
            if line.startswith("│")]
    assert ["queue             broker unreachable"] in rows
    assert ["dead letters      1 waiting for a replay"] in rows
    assert ["infobip", "1", "1", "█"] in rows
    assert ["delivered", "1", "█" * 24] in rows
    assert ["1", "webex-connect", "UnknownShape: no known shape", ""] in rows
    assert "latest events: none yet" in result.output.splitlines()
    assert len(result.output.splitlines()) <= 40  # one screen


def test_summary_masks_event_subjects(database_url, redis_client, redis_url, tmp_path: Path) -> None:
    from common.models import OutboxEvent

    sessions = make_session_factory(make_engine(database_url))
    with sessions() as session, session.begin():
        session.add(OutboxEvent(event_id="e1", type="io.smspipe.message.received.v1", subject="+385916242493",
                                ingest_id="i1", payload="{}"))
    settings = Settings(redis_url=redis_url, database_url=database_url, spool_dir=str(tmp_path))
    with sessions() as session:
        summary = build_summary(settings, session, redis_client)
    assert [(event["type"], event["subject"]) for event in summary.latest_events] == [
        ("message.received", "*********2493")
    ]
    assert summary.queue == {"depth": 0, "unacked": 0, "oldest_age_seconds": 0.0}
    with sessions() as session:
        assert session.scalars(select(OutboxEvent.subject)).one() == "+385916242493"  # stored unmasked


# --- the Grafana dashboard -------------------------------------------------------------------------


def test_grafana_dashboard_uses_only_metrics_smspipe_exports(redis_client, tmp_path: Path) -> None:
    import re

    from prometheus_client import CollectorRegistry, Counter, Histogram

    dashboard = json.loads((Path(__file__).resolve().parent.parent / "deploy" / "grafana-dashboard.json").read_text())
    used = {name for panel in dashboard["panels"] for target in panel["targets"]
            for name in re.findall(r"smspipe_\w+", target["expr"])}
    exported = set()
    for value in vars(metrics).values():
        if isinstance(value, Counter):
            exported.add(value._name + "_total")
        elif isinstance(value, Histogram):
            exported |= {value._name + suffix for suffix in ("_bucket", "_sum", "_count")}
    registry = CollectorRegistry()
    registry.register(metrics.PipelineCollector(Settings(spool_dir=str(tmp_path)), redis_client))
    exported |= {family.name for family in registry.collect()}
    assert used and used <= exported, used - exported
