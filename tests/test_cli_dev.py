"""`smspipe dev` as a user runs it: one command starts embedded Redis, SQLite, the ingest and a
worker; `send-sample` produces events that `events tail` prints; sending again prints nothing
new; SIGTERM stops every child."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from common.events import KEYWORD_MATCHED, LINK_CLICKED, MESSAGE_RECEIVED, MESSAGE_STATUS
from common.providers import PROVIDERS
from common.redis_server import free_port
from tests.conftest import ROOT, wait_for


def smspipe(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "common.cli", *args], env=env, cwd=ROOT, capture_output=True, text=True,
        timeout=timeout, check=False,
    )


def processes_mentioning(marker: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker in (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"):
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def test_dev_runs_the_whole_pipeline_and_stops_cleanly(tmp_path):
    port = free_port()
    data_dir = tmp_path / "data"
    env = {key: value for key, value in os.environ.items() if not key.startswith("SMSPIPE_")}
    env["PYTHONPATH"] = str(ROOT)
    log = open(tmp_path / "dev.log", "w")
    dev = subprocess.Popen(
        [sys.executable, "-m", "common.cli", "dev", "--port", str(port), "--data-dir", str(data_dir)],
        env=env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
    )
    try:
        # given the announced settings
        announced = wait_for(lambda: re.search(r"redis:\s+(\S+)", (tmp_path / "dev.log").read_text()), timeout=60)
        client_env = dict(env, SMSPIPE_REDIS_URL=announced.group(1))
        wait_for(lambda: _ready(f"http://127.0.0.1:{port}/readyz"), timeout=60)
        assert "database: sqlite:///" in (tmp_path / "dev.log").read_text()

        # when every provider's samples are sent
        for provider in PROVIDERS:
            sent = smspipe("send-sample", provider, "--url", f"http://127.0.0.1:{port}", env=client_env)
            assert sent.returncode == 0, sent.stdout + sent.stderr

        # then events tail prints one event per new fact
        def tail() -> list[dict]:
            result = smspipe("events", "tail", "--from-start", "--idle-timeout", "1", env=client_env)
            assert result.returncode == 0, result.stderr
            return [json.loads(line) for line in result.stdout.splitlines()]

        events = wait_for(lambda: (lambda found: len(found) >= 10 and found)(tail()), timeout=60)
        assert sorted({event["type"] for event in events}) == sorted(
            {MESSAGE_RECEIVED, MESSAGE_STATUS, LINK_CLICKED, KEYWORD_MATCHED}
        )
        received = {event["source"]: event["subject"] for event in events if event["type"] == MESSAGE_RECEIVED}
        assert received["/smspipe/infobip"] == "+385916242493"
        assert received["/smspipe/webex-interact"] == "+447838970000"

        # when the same samples are sent again, nothing new is printed
        for provider in PROVIDERS:
            assert smspipe("send-sample", provider, "--url", f"http://127.0.0.1:{port}", env=client_env).returncode == 0
        time.sleep(3)
        assert [event["id"] for event in tail()] == [event["id"] for event in events]
    finally:
        # SIGTERM stops everything it started
        dev.send_signal(signal.SIGTERM)
        code = dev.wait(60)
        log.close()
    assert code == 0, (tmp_path / "dev.log").read_text()[-3000:]
    assert "smspipe dev: stopped" in (tmp_path / "dev.log").read_text()
    assert processes_mentioning(str(data_dir)) == []
    assert processes_mentioning(f"127.0.0.1:{port}") == []


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False
