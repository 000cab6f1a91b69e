"""The ops page in a real headless browser (Debian's chromium and chromium-driver, selenium):
signed in with the admin token it loads without console errors, shows the traffic just sent
through a real Celery worker, and its replay button replays a dead letter.

Set SMSPIPE_OPS_SCREENSHOT=docs/ops-page.png to refresh the README's screenshot.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from werkzeug.serving import make_server

from common.db import make_engine, make_session_factory
from common.models import DeadLetter, RawPayload
from common.providers import PROVIDERS
from common.settings import Settings
from ingest.app import create_app
from tests.conftest import SAMPLES, WorkerProcess, require_service, sample_bodies, settings_env, wait_for
from tests.test_operations import free_port, http

TOKEN = "ops-page-test-token"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
# A webhook that was parked after its attempts ran out (the database was down, say): valid, so a
# replay processes it. Its number is not in the seed, so the event it yields is told apart.
PARKED_MESSAGE_ID = "2250be2d4219-3af1-78856-aabe-1362af1edfd2"


def parked_body() -> bytes:
    document = json.loads((SAMPLES / "infobip" / "inbound_mo_json_2.json").read_bytes())
    document["results"][0].update(messageId=PARKED_MESSAGE_ID, **{"from": "447700900123"})
    return json.dumps(document).encode()


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[object]:
    if not (CHROMIUM and CHROMEDRIVER):
        require_service("chromium and chromium-driver are not installed (apt-get install chromium chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                     "--disable-component-update", "--disable-sync", "--no-first-run",
                     "--window-size=1280,1500", f"--user-data-dir={tmp_path / 'chromium-profile'}"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def served(redis_url: str, sqlite_url: str, tmp_path: Path) -> Iterator[tuple[str, Settings]]:
    """The ingest app on a real local HTTP server, and a real Celery worker behind it."""
    settings = Settings(redis_url=redis_url, database_url=sqlite_url, spool_dir=str(tmp_path / "spool"),
                        admin_token=TOKEN, max_attempts=3)
    worker = WorkerProcess(settings_env(settings) | {"SMSPIPE_WORKER_METRICS_PORT": "0"}, tmp_path / "worker.log")
    server = make_server("127.0.0.1", free_port(), create_app({"SMSPIPE_SETTINGS": settings}), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        worker.wait_ready()
        yield f"http://127.0.0.1:{server.server_port}", settings
    finally:
        server.shutdown()
        worker.stop()


def console_errors(driver) -> list[dict]:
    return [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def test_ops_page_shows_traffic_and_replays_a_dead_letter(browser, served, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    url, settings = served
    engine = make_engine(settings.database_url)
    sessions = make_session_factory(engine)

    # given the seed traffic and a webhook that is not JSON, through the ingest and the worker
    sent: dict[str, str] = {}
    for provider in PROVIDERS:
        for name, body in sample_bodies(provider):
            status, answer = http("POST", f"{url}/webhooks/{provider}", body, {"Content-Type": "application/json"})
            assert status == 200, (name, answer)
            sent[json.loads(answer)["id"]] = provider
    status, answer = http("POST", f"{url}/webhooks/webex-interact", b"<xml>not json</xml>")
    bad_ingest_id = json.loads(answer)["id"]

    def stored() -> bool:
        with sessions() as session:
            return session.scalar(select(func.count()).where(RawPayload.state != "pending")) == len(sent) + 1

    wait_for(stored)
    # and a valid webhook parked after its attempts ran out
    with sessions() as session, session.begin():
        parked = DeadLetter(ingest_id="parked-after-3-attempts", provider="infobip", reason="gave up after 3 attempts: "
                            "OperationalError: database is locked", error_type="OperationalError", attempts=3,
                            body=parked_body())
        session.add(parked)
    with sessions() as session:
        parked_id = session.scalars(select(DeadLetter.id).where(DeadLetter.ingest_id == "parked-after-3-attempts")).one()

    # when an operator signs in with the admin token
    browser.get(url + "/ops")
    console_errors(browser)  # the sign-in form answers 401 by design; only the ops page is judged
    browser.find_element(By.ID, "token").send_keys(TOKEN)
    browser.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    wait_for(lambda: browser.find_elements(By.ID, "live"), timeout=15)

    # then the page shows the traffic just sent
    event_ids = {row.get_attribute("data-ingest-id") for row in browser.find_elements(By.CSS_SELECTOR, "#events tbody tr")}
    assert event_ids and event_ids <= set(sent)
    letters = {row.get_attribute("data-ingest-id"): row for row in browser.find_elements(By.CSS_SELECTOR, "#dead-letters tbody tr")}
    assert set(letters) == {bad_ingest_id, "parked-after-3-attempts"}
    assert "webex-interact" in letters[bad_ingest_id].text
    statuses = {bar.get_attribute("data-status"): int(bar.get_attribute("data-count"))
                for bar in browser.find_elements(By.CSS_SELECTOR, "#statuses g[data-status]")}
    assert statuses == {"delivered": 1, "undelivered": 1, "failed": 3}  # the seed's five receipts' messages
    stored_per_provider = {
        figure.get_attribute("data-provider"): figure.find_element(By.TAG_NAME, "figcaption").text
        for figure in browser.find_elements(By.CSS_SELECTOR, "#rates figure")
    }
    for provider in PROVIDERS:
        count = sum(1 for value in sent.values() if value == provider) + (provider == "webex-interact")
        assert f"{count} in 5 min" in stored_per_provider[provider]
    assert browser.find_element(By.CSS_SELECTOR, '[data-metric="dead-letters-waiting"]').text == "2"
    assert console_errors(browser) == []

    # when the operator replays the parked webhook
    letters["parked-after-3-attempts"].find_element(By.CSS_SELECTOR, "button.replay").click()

    # then it is enqueued again, processed, and the page shows its event and the letter replayed
    flash = wait_for(lambda: browser.find_element(By.ID, "flash").text, timeout=15)
    assert flash.startswith(f"Dead letter {parked_id} replayed as ")
    replay_ingest_id = flash.removeprefix(f"Dead letter {parked_id} replayed as ").rstrip(".")

    def replay_shown() -> bool:
        rows = browser.find_elements(By.CSS_SELECTOR, f'#events tbody tr[data-ingest-id="{replay_ingest_id}"]')
        # the replayed Infobip sample yields message.received and keyword.matched (QUIZ)
        return any("received" in row.text and "*******0123" in row.text for row in rows)

    wait_for(replay_shown, timeout=30, interval=0.5)
    replayed_row = browser.find_element(By.CSS_SELECTOR, f'#dead-letters tr[data-dead-letter-id="{parked_id}"]')
    assert "replayed" in replayed_row.text
    assert browser.find_element(By.CSS_SELECTOR, '[data-metric="dead-letters-waiting"]').text == "1"
    with sessions() as session:
        assert session.get(RawPayload, replay_ingest_id).state == "processed"
        assert session.get(DeadLetter, parked_id).replayed_at is not None
    assert console_errors(browser) == []

    screenshot = Path(os.environ.get("SMSPIPE_OPS_SCREENSHOT") or tmp_path / "ops-page.png")
    browser.save_screenshot(str(screenshot))
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    engine.dispose()
