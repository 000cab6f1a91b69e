"""Ingest throughput beside its ceilings: ``python -m bench.ingest [--quick]``.

Four contenders, one after the other in the same run, each under the gunicorn settings of
``smspipe ingest`` (``common.cli.ingest_command``: gthread, same workers and threads):

  a. bare Flask answering 200 without reading the body (the ceiling),
  b. smspipe's ingest with a real Redis (group commit: one Celery task per batch),
  c. naive Flask: parse the JSON and insert into SQLite inside the request,
  d. Flask calling Celery ``send_task`` once per request.

``wrk`` drives each on 127.0.0.1 with the seed payloads of the three providers, round robin,
for a bounded time. Rounds alternate the contenders (a b c d a b c d ...) and the median round
is reported, so a burst of load from elsewhere on the machine does not hit one contender only.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import redis

from bench._common import Child, child_env, cpu_seconds, descendants, load_average, ratio, redis_server, scratch_dir, summary, wait_for, \
    write_result
from bench.payloads import sample_bodies
from common.cli import ingest_command
from common.redis_server import free_port

NAME = "ingest"
CONTENDERS = {
    "a_bare_flask": "bench.ingest_apps:bare()",
    "b_smspipe": "ingest.app:create_app()",
    "c_naive_sqlite": "bench.ingest_apps:naive_sqlite()",
    "d_send_task_per_request": "bench.ingest_apps:send_task_per_request()",
}


def lua_script(path: Path) -> Path:
    """A wrk script posting the seed payloads round robin; ``done`` prints one JSON line."""
    entries = []
    for provider, body in sample_bodies():
        text = body.decode()
        assert "]==]" not in text
        entries.append(f'  {{"/webhooks/{provider}", [==[{text}]==]}},')
    path.write_text(
        "local bodies = {\n" + "\n".join(entries) + "\n}\n"
        """
local requests = {}
local i = 0
init = function(args)
  for n, entry in ipairs(bodies) do
    requests[n] = wrk.format("POST", entry[1], {["Content-Type"] = "application/json"}, entry[2])
  end
end
request = function()
  i = i % #requests + 1
  return requests[i]
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"non_2xx":%d,"connect_errors":%d,"read_errors":%d,' ..
    '"write_errors":%d,"timeouts":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d}\\n',
    summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
"""
    )
    return path


def run_wrk(script: Path, port: int, seconds: float, connections: int, threads: int) -> dict[str, Any]:
    command = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{max(1, round(seconds))}s", "--timeout", "10s",
               "-s", str(script), f"http://127.0.0.1:{port}"]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 30)
    for line in completed.stdout.splitlines():
        if line.startswith("BENCH_JSON "):
            figures = json.loads(line.removeprefix("BENCH_JSON "))
            figures["requests_per_second"] = round(figures["requests"] / (figures["duration_us"] / 1e6), 1)
            return figures
    raise RuntimeError(f"wrk gave no result:\n{completed.stdout}\n{completed.stderr}")


def answers(port: int) -> bool:
    body = sample_bodies()[0][1]
    request = urllib.request.Request(f"http://127.0.0.1:{port}/webhooks/infobip", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def tree_cpu(pids: list[int]) -> float:
    return sum(cpu_seconds(pid) for pid in pids)


def measure(name: str, target: str, *, directory: Path, redis_url: str, redis_pid: int, args: argparse.Namespace,
            script: Path) -> dict[str, Any]:
    port = free_port()
    command = ingest_command("127.0.0.1", port, args.workers, args.threads)[:-1] + [target]
    env = child_env(SMSPIPE_REDIS_URL=redis_url, SMSPIPE_SPOOL_DIR=str(directory / f"spool-{name}"),
                    BENCH_SQLITE_PATH=str(directory / f"naive-{port}.db"))
    server = Child(command, env, directory / f"{name}-{port}.log")
    client = redis.Redis.from_url(redis_url)
    try:
        wait_for(lambda: answers(port), timeout=30, interval=0.1, what=f"{name} to answer")
        run_wrk(script, port, args.warmup, args.connections, args.wrk_threads)
        client.flushall()
        load_before = load_average()
        server_pids = [server.pid, *descendants(server.pid)]
        cpu_before, redis_before = tree_cpu(server_pids), cpu_seconds(redis_pid)
        figures = run_wrk(script, port, args.seconds, args.connections, args.wrk_threads)
        # CPU spent per answered request: unlike requests/s, barely moved by other load on the machine.
        figures["server_cpu_us_per_request"] = round((tree_cpu(server_pids) - cpu_before) / figures["requests"] * 1e6, 1)
        figures["redis_cpu_us_per_request"] = round((cpu_seconds(redis_pid) - redis_before) / figures["requests"] * 1e6, 1)
        figures["load_average_before"] = load_before
        if name.startswith("b_"):
            # Celery messages in the queue vs requests answered: how many webhooks one write carried.
            messages = client.llen("smspipe")
            figures["celery_messages"] = messages
            figures["mean_batch_size"] = round(figures["requests"] / messages, 2) if messages else None
        return figures
    finally:
        client.close()
        server.stop()


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="bench/ingest", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smoke mode: one short round")
    parser.add_argument("--seconds", type=float, default=None, help="measured seconds per contender and round")
    parser.add_argument("--warmup", type=float, default=None)
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (smspipe ingest default)")
    parser.add_argument("--threads", type=int, default=16, help="gunicorn threads (smspipe ingest default)")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections")
    parser.add_argument("--wrk-threads", type=int, default=1)
    parser.add_argument("--only", default=",".join(CONTENDERS),
                        help="comma-separated contenders (for investigating; ratios need all four)")
    args = parser.parse_args(argv)
    args.seconds = args.seconds or (1.0 if args.quick else 8.0)
    args.warmup = args.warmup or (1.0 if args.quick else 2.0)
    args.rounds = args.rounds or (1 if args.quick else 5)
    if not shutil.which("wrk"):
        raise SystemExit("bench/ingest needs wrk (apt-get install -y wrk)")

    chosen = {name: CONTENDERS[name] for name in args.only.split(",")}
    rounds: dict[str, list[dict[str, Any]]] = {name: [] for name in chosen}
    with scratch_dir(NAME) as directory, redis_server(directory) as server:
        script = lua_script(directory / "mix.lua")
        for number in range(args.rounds):
            for name, target in chosen.items():
                figures = measure(name, target, directory=directory, redis_url=server.url,
                                  redis_pid=server.process.pid, args=args, script=script)
                rounds[name].append(figures)
                print(f"  round {number + 1} {name}: {figures['requests_per_second']} req/s "
                      f"p50={figures['p50_us'] / 1000:.2f}ms p99={figures['p99_us'] / 1000:.2f}ms "
                      f"cpu/req={figures['server_cpu_us_per_request']}us+redis {figures['redis_cpu_us_per_request']}us "
                      f"non2xx={figures['non_2xx']} load={figures['load_average_before']}", flush=True)

    contenders = {name: median_round(figures) for name, figures in rounds.items()}
    for name, figures in contenders.items():
        summary(NAME, f"{name}.requests_per_second", figures["requests_per_second"],
                p50_ms=round(figures["p50_us"] / 1000, 2), p99_ms=round(figures["p99_us"] / 1000, 2),
                server_cpu_us_per_request=figures["server_cpu_us_per_request"],
                redis_cpu_us_per_request=figures["redis_cpu_us_per_request"],
                non_2xx=figures["non_2xx"])
    if len(contenders) < len(CONTENDERS):
        return {"contenders": contenders}
    a, b, c, d = (contenders[name] for name in CONTENDERS)
    ratios = {
        "b_over_a_requests": ratio(b["requests_per_second"], a["requests_per_second"]),
        "b_over_a_p99": ratio(b["p99_us"], a["p99_us"]),
        "b_over_c_requests": ratio(b["requests_per_second"], c["requests_per_second"]),
        "b_over_d_requests": ratio(b["requests_per_second"], d["requests_per_second"]),
        # Requests per CPU-second of the server processes (+ Redis for b and d): capacity ratios.
        "b_over_a_capacity": ratio(a["server_cpu_us_per_request"], b["server_cpu_us_per_request"]),
        "b_over_a_capacity_with_redis": ratio(a["server_cpu_us_per_request"],
                                              b["server_cpu_us_per_request"] + b["redis_cpu_us_per_request"]),
        "b_over_d_capacity_with_redis": ratio(d["server_cpu_us_per_request"] + d["redis_cpu_us_per_request"],
                                              b["server_cpu_us_per_request"] + b["redis_cpu_us_per_request"]),
    }
    targets = {
        "b_over_a_requests >= 0.70": (ratios["b_over_a_requests"] or 0) >= 0.70,
        "b_over_a_p99 <= 2.0": (ratios["b_over_a_p99"] or 99) <= 2.0,
    }
    for key, value in ratios.items():
        summary(NAME, key, value)
    for key, met in targets.items():
        summary(NAME, "target", "met" if met else "missed", check=key.replace(" ", ""))
    result = {
        "settings": {key: getattr(args, key) for key in ("seconds", "warmup", "rounds", "workers", "threads",
                                                         "connections", "wrk_threads")},
        "gunicorn_command": " ".join(ingest_command("127.0.0.1", 0, args.workers, args.threads)[1:-1]),
        "contenders": contenders,
        "rounds": rounds,
        "ratios": ratios,
        "targets_met": targets,
    }
    write_result(NAME, result, args.quick)
    return result


def median_round(figures: list[dict[str, Any]]) -> dict[str, Any]:
    """The round with the median requests/s (its latencies belong to the same run)."""
    ordered = sorted(figures, key=lambda item: item["requests_per_second"])
    chosen = dict(ordered[(len(ordered) - 1) // 2]) if len(ordered) % 2 == 0 else dict(ordered[len(ordered) // 2])
    chosen["requests_per_second_all_rounds"] = [item["requests_per_second"] for item in figures]
    chosen["requests_per_second_median"] = statistics.median(chosen["requests_per_second_all_rounds"])
    return chosen


if __name__ == "__main__":
    main()
