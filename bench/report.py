"""The tables of BENCHMARKS.md from the latest results: ``python -m bench.report [--quick]``."""

from __future__ import annotations

import json
import statistics
import sys
from typing import Any

from bench._common import RESULTS


def _load(name: str, quick: bool) -> dict[str, Any] | None:
    path = RESULTS / (f"{name}.quick.json" if quick else f"{name}.json")
    return json.loads(path.read_text()) if path.exists() else None


def _mark(met: bool) -> str:
    return "met" if met else "**missed**"


def _heading(title: str, result: dict[str, Any]) -> list[str]:
    return [f"### {title} ({result['finished_at']}, load average at end {result['load_average_at_end']})", ""]


def _ratios_and_targets(ratios: dict[str, Any], targets: dict[str, bool]) -> list[str]:
    lines = ["", "| ratio | value |", "|---|---:|", *(f"| {key} | {value} |" for key, value in ratios.items())]
    return lines + ["", "| target | |", "|---|---|", *(f"| {key} | {_mark(met)} |" for key, met in targets.items())]


def ingest(result: dict[str, Any]) -> list[str]:
    settings = result["settings"]
    lines = [
        *_heading("Ingest", result),
        f"gunicorn `{result['gunicorn_command']}`; wrk {settings['connections']} connections, "
        f"{settings['wrk_threads']} thread, {settings['seconds']:g} s per contender and round, "
        f"{settings['rounds']} rounds (median round shown).",
        "",
        "| contender | req/s (median) | req/s all rounds | p50 ms | p99 ms | server CPU µs/req | Redis CPU µs/req |",
        "|---|---:|---|---:|---:|---:|---:|",
    ]
    for name, figures in result["contenders"].items():
        lines.append(
            f"| {name} | {figures['requests_per_second']:.0f} | "
            f"{', '.join(f'{value:.0f}' for value in figures['requests_per_second_all_rounds'])} | "
            f"{figures['p50_us'] / 1000:.1f} | {figures['p99_us'] / 1000:.1f} | "
            f"{figures['server_cpu_us_per_request']:.0f} | {figures['redis_cpu_us_per_request']:.0f} |"
        )
    batch = result["contenders"]["b_smspipe"].get("mean_batch_size")
    lines += ["", f"smspipe's mean batch: {batch} webhooks per Celery message."]
    rounds = result.get("rounds", {})
    if rounds.get("a_bare_flask") and rounds.get("b_smspipe"):
        paired = [b["requests_per_second"] / a["requests_per_second"]
                  for a, b in zip(rounds["a_bare_flask"], rounds["b_smspipe"])]
        lines += ["", "b/a requests/s paired round by round (each b ran right after its a): "
                  + ", ".join(f"{value:.2f}" for value in paired)
                  + f"; median {statistics.median(paired):.2f}."]
        cpu = {name: statistics.median(r["server_cpu_us_per_request"] + r["redis_cpu_us_per_request"]
                                       for r in rounds[name]) for name in ("a_bare_flask", "b_smspipe")}
        lines += ["", f"CPU per request (server + Redis), median over the rounds: bare Flask "
                  f"{cpu['a_bare_flask']:.0f} µs, smspipe {cpu['b_smspipe']:.0f} µs: capacity ratio "
                  f"{cpu['a_bare_flask'] / cpu['b_smspipe']:.2f}."]
    return lines + _ratios_and_targets(result["ratios"], result["targets_met"])


def workers(result: dict[str, Any]) -> list[str]:
    settings = result["settings"]
    lines = [
        *_heading("Workers", result),
        f"{settings['count']} queued webhooks ({settings['batch_size']} per Celery message / ceiling pop), "
        f"naive worker {settings['naive_count']}.",
        "",
    ]
    for database, figures in result["databases"].items():
        lines += [f"**{database}**", "",
                  "| contender | webhooks/s | events/s | events | seconds | peak RSS MiB per process | load before |",
                  "|---|---:|---:|---:|---:|---|---|"]
        for name, row in figures["contenders"].items():
            lines.append(
                f"| {name} | {row['payloads_per_second']:.0f} | {row['events_per_second']:.0f} | {row['events']} | "
                f"{row['seconds']} | {', '.join(map(str, row['peak_rss_mb_per_process']))} | "
                f"{', '.join(map(str, row['load_average_before']))} |"
            )
        lines += _ratios_and_targets(figures["ratios"], figures["targets_met"]) + [""]
    return lines


def backlog(result: dict[str, Any]) -> list[str]:
    memory, drain = result["memory"], result["drain"]
    curve = result["curve"]
    step = max(1, len(curve) // 12)
    lines = [
        *_heading("Backlog", result),
        f"{result['settings']['count']} webhooks on {result['settings']['database']}, one worker process: "
        f"{drain['payloads_per_second']:.0f} webhooks/s, {drain['events']} events in {drain['seconds']} s.",
        f"Pool process RSS: {memory['pool_rss_mb_at_warmup']} MiB after warm-up, peak {memory['pool_rss_mb_peak']} MiB, "
        f"final {memory['pool_rss_mb_final']} MiB: growth {memory['pool_rss_growth_after_warmup']} "
        f"({_mark(memory['flat'])}: < 0.20).",
        "",
        f"![backlog RSS curve: pool process (blue) and main process (red), MiB over seconds]({result['png']})",
        "",
        "| t (s) | pool RSS MiB | main RSS MiB | events | messages left |",
        "|---:|---:|---:|---:|---:|",
    ]
    for point in curve[::step] + ([curve[-1]] if (len(curve) - 1) % step else []):
        lines.append(f"| {point['t']} | {point['pool_rss_mb']} | {point['main_rss_mb']} | {point['events']} | "
                     f"{point['messages_left']} |")
    return lines


def main() -> None:
    quick = "--quick" in sys.argv
    sections = [(ingest, "ingest"), (workers, "workers"), (backlog, "backlog")]
    for render, name in sections:
        result = _load(name, quick)
        if result is not None:
            print("\n".join(render(result)))
            print()
    any_result = next((_load(name, quick) for _, name in sections if _load(name, quick)), None)
    if any_result:
        print(f"Machine: {json.dumps(any_result['machine'])}")


if __name__ == "__main__":
    main()
