"""Tasks 1 and 2 (digits, quick profile) inline against --executor local --jobs N, in one run.

Each way runs `reportgen run --task 1,2` in a fresh project folder (nothing cached) as a separate
process, so both pay the same start-up. Each way measures its own layout decisions (they are kept per thread
count), unless --warm-up runs both once beforehand so that neither pays for them. Prints both wall
times, the ratio inline / jobs (goal: >= 1 on 2 cores, i.e. jobs not slower) and one JSON line.
Threads: inline uses the physical cores; each of the N workers gets cores // N.
Run: `python benchmarks/jobs.py` (several minutes on a quiet 2-core machine).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CONFIG = """title = "Benchmark"
dataset = "digits"
profile = "quick"
seed = 0
"""


def timed_run(folder: Path, *extra: str) -> float:
    folder.mkdir(parents=True)
    (folder / "reportgen.toml").write_text(CONFIG)
    command = [sys.executable, "-m", "reportgen.cli", "run", "--task", "1,2", *extra]
    started = time.perf_counter()
    subprocess.run(command, cwd=folder, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--warm-up", action="store_true", help="run both ways once first (layout probes out of the timing)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="reportgen-bench-jobs-") as tmp:
        base = Path(tmp)
        os.environ["REPORTGEN_HOME"] = str(base / "home")  # layout decisions of this run only
        if args.warm_up:
            timed_run(base / "warm-up-inline")
            timed_run(base / "warm-up-jobs", "--executor", "local", "--jobs", str(args.jobs))
        inline = timed_run(base / "inline")
        jobs = timed_run(base / "jobs", "--executor", "local", "--jobs", str(args.jobs))
    load = os.getloadavg()[0]
    print(f"Tasks 1+2 quick inline: {inline:.1f} s; --executor local --jobs {args.jobs}: {jobs:.1f} s; "
          f"ratio inline/jobs {inline / jobs:.2f} (load average {load:.1f} on {os.cpu_count()} CPUs)")  # fmt: skip
    print(json.dumps({"inline_s": round(inline, 1), "jobs_s": round(jobs, 1), "jobs": args.jobs,
                      "ratio_inline_over_jobs": round(inline / jobs, 3), "load_1min": round(load, 2),
                      "cpus": os.cpu_count()}))  # fmt: skip


if __name__ == "__main__":
    main()
