"""``smspipe dev``: the whole pipeline on one machine, children stopped together."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import time
from pathlib import Path

import click

from common.db import upgrade
from common.redis_server import RedisServer, port_is_free
from common.settings import DEFAULT_REDIS_URL

STOP_TIMEOUT_SECONDS = 15


class DevStack:
    def __init__(self, data_dir: Path, host: str, port: int, concurrency: int):
        self.data_dir = data_dir
        self.host = host
        self.port = port
        self.concurrency = concurrency
        self.redis: RedisServer | None = None
        self.children: list[tuple[str, subprocess.Popen[bytes]]] = []
        self._stopping = False

    def run(self) -> int:
        from common.cli import ingest_command, worker_command
        from common.cli_deliveries import deliveries_worker_command

        self.data_dir.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        env.setdefault("SMSPIPE_LOG_FORMAT", "console")
        env.setdefault("SMSPIPE_SPOOL_DIR", str(self.data_dir / "spool"))
        env.setdefault("SMSPIPE_DATABASE_URL", f"sqlite:///{self.data_dir / 'smspipe.db'}")
        env["SMSPIPE_DEV"] = "1"  # the ops page opens without a token; its replay button needs one:
        env.setdefault("SMSPIPE_ADMIN_TOKEN", secrets.token_urlsafe(24))
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        try:
            if not env.get("SMSPIPE_REDIS_URL"):
                # Redis's own port when it is free, so the other commands find it by default.
                port = 6379 if port_is_free(6379) else None
                self.redis = RedisServer(self.data_dir / "redis", port=port).start()
                env["SMSPIPE_REDIS_URL"] = self.redis.url
            upgrade(env["SMSPIPE_DATABASE_URL"])
            os.environ.update(env)  # the children's settings, read by the commands below too
            self._start("ingest", ingest_command(self.host, self.port, workers=1, threads=16), env)
            self._start(
                "worker",
                worker_command(self.concurrency, beat=True, schedule_file=str(self.data_dir / "celerybeat-schedule")),
                env,
            )
            # Its own metrics port: two workers cannot serve the same one.
            worker_port = int(env.get("SMSPIPE_WORKER_METRICS_PORT") or 9464)
            deliveries_env = dict(env, SMSPIPE_WORKER_METRICS_PORT=str(worker_port + 1 if worker_port else 0))
            self._start("deliveries", deliveries_worker_command(concurrency=8), deliveries_env)
            self._announce(env)
            return self._watch()
        except KeyboardInterrupt:
            return 0
        finally:
            self.stop()

    def _start(self, name: str, command: list[str], env: dict[str, str]) -> None:
        # A session of its own: Ctrl-C reaches only us, and we stop each child in order.
        process = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL, start_new_session=True)
        self.children.append((name, process))

    def _announce(self, env: dict[str, str]) -> None:
        click.echo(
            "\n".join(
                [
                    f"smspipe dev: webhooks at http://{self.host}:{self.port}/webhooks/<provider>",
                    f"  data:     {self.data_dir}",
                    f"  redis:    {env['SMSPIPE_REDIS_URL']}" + (" (embedded)" if self.redis else ""),
                    f"  database: {env['SMSPIPE_DATABASE_URL']}",
                    f"  spool:    {env['SMSPIPE_SPOOL_DIR']}",
                    *(
                        []
                        if env["SMSPIPE_REDIS_URL"] == DEFAULT_REDIS_URL
                        else [f"  in other shells: export SMSPIPE_REDIS_URL={env['SMSPIPE_REDIS_URL']}"]
                    ),
                    f"  ops:      http://{self.host}:{self.port}/ops   (admin token: {env['SMSPIPE_ADMIN_TOKEN']})",
                    f"  metrics:  http://{self.host}:{self.port}/metrics, worker on port "
                    f"{env.get('SMSPIPE_WORKER_METRICS_PORT') or 9464} (deliveries worker: the next port)"
                    "   (and: smspipe status)",
                    "  try:      smspipe send-sample infobip   (and: smspipe events tail)",
                    "  stop:     Ctrl-C",
                ]
            ),
            err=True,
        )

    def _watch(self) -> int:
        while not self._stopping:
            for name, process in self.children:
                if process.poll() is not None:
                    click.echo(f"smspipe dev: {name} exited with {process.returncode}; stopping", err=True)
                    return 1
            time.sleep(0.2)
        return 0

    def _on_signal(self, signum: int, _frame: object) -> None:
        self._stopping = True

    def stop(self) -> None:
        for _, process in reversed(self.children):
            if process.poll() is None:
                process.terminate()
        deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
        for _, process in reversed(self.children):
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)  # its pool children too
                process.wait()
        self.children.clear()
        if self.redis is not None:
            self.redis.stop()
            self.redis = None
        click.echo("smspipe dev: stopped", err=True)
