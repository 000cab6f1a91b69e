"""py-spy profile of one gunicorn worker of an ingest contender under wrk load:
``python -m bench.profile_ingest [b_smspipe|a_bare_flask|...]`` (needs ``pip install py-spy``).
Samples only the thread holding the GIL (on-CPU Python). Writes the raw stacks and a summary (share of samples per function, inclusive and self) to
bench/results/profile-ingest-<contender>.txt.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from bench._common import RESULTS, Child, child_env, descendants, redis_server, scratch_dir, wait_for
from bench.ingest import CONTENDERS, answers, lua_script
from common.cli import ingest_command
from common.redis_server import free_port


def summarize(raw: Path, top: int = 40) -> str:
    total, own, inclusive = 0, Counter(), Counter()
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")[1:]
        if not frames:
            continue
        total += int(count)
        own[frames[-1]] += int(count)
        for frame in set(frames):
            inclusive[frame] += int(count)
    lines = [f"{total} samples", "inclusive:"]
    lines += [f"{count / total:6.1%} {frame}" for frame, count in inclusive.most_common(top)]
    lines += ["self:"] + [f"{count / total:6.1%} {frame}" for frame, count in own.most_common(top // 2)]
    return "\n".join(lines)


def main() -> None:
    name = sys.argv[1] if len(sys.argv) > 1 else "b_smspipe"
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    with scratch_dir("profile-ingest") as directory, redis_server(directory) as server:
        script = lua_script(directory / "mix.lua")
        port = free_port()
        command = ingest_command("127.0.0.1", port, 2, 16)[:-1] + [CONTENDERS[name]]
        env = child_env(SMSPIPE_REDIS_URL=server.url, SMSPIPE_SPOOL_DIR=str(directory / "spool"),
                        BENCH_SQLITE_PATH=str(directory / "naive.db"))
        gunicorn = Child(command, env, directory / "gunicorn.log")
        try:
            wait_for(lambda: answers(port), timeout=30, interval=0.1, what="the server")
            load = subprocess.Popen(["wrk", "-t1", "-c32", "-d8s", "-s", str(script), f"http://127.0.0.1:{port}"],
                                    stdout=subprocess.DEVNULL)
            time.sleep(1)
            raw = RESULTS / f"profile-ingest-{name}.raw.txt"
            subprocess.run([spy, "record", "--pid", str(descendants(gunicorn.pid)[0]), "--duration", "5",
                            "--rate", "200", "--format", "raw", "--output", str(raw), "--nonblocking", "--gil"],
                           capture_output=True, check=True)
            load.wait(timeout=30)
        finally:
            gunicorn.stop()
    listing = summarize(raw)
    raw.unlink()
    (RESULTS / f"profile-ingest-{name}.txt").write_text(listing + "\n")
    print(listing)


if __name__ == "__main__":
    main()
