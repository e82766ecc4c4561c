"""Warm rebuilds: what a build or render costs when nothing was re-run (issue 15, figures drawn once).

On one project (default: a fresh quick digits project, built first; or --project DIR, already
built) it times, in one run and on the same stored results:
  - `reportgen render` with the figure store emptied (every figure drawn, in worker processes),
  - `reportgen render` with it full (nothing drawn),
  - a warm `reportgen build` with nothing changed,
and prints one JSON line: {"ratio": emptied / full, "render_empty_s", "render_full_s",
"warm_build_s", "figures", "tasks", "load"}. Each command runs in its own process, as a user
runs it; HTML only unless --pdf (the PDF step is the same for both renders).
Run: `python benchmarks/warm_build.py` (a cold quick build of Tasks 1-4 first: several minutes).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CONFIG = 'title = "Warm build benchmark"\ndataset = "digits"\nprofile = "quick"\nseed = 0\n'


def cli(project: Path, *args: str) -> float:
    """Runs one reportgen command in its own process; returns its wall time in seconds."""
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", "from reportgen.cli import app; app()", *args], cwd=project,
                            capture_output=True, text=True)  # fmt: skip
    if result.returncode != 0:
        sys.exit(f"reportgen {' '.join(args)} failed:\n{result.stdout}{result.stderr}")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, help="a built project folder (default: build a quick digits one)")
    parser.add_argument("--tasks", default="1,2,3,4")
    parser.add_argument("--pdf", action="store_true", help="render PDFs too")
    parser.add_argument("--keep", action="store_true", help="keep the project built here (its path goes to stderr)")
    args = parser.parse_args()
    fmt = "html,pdf" if args.pdf else "html"
    temporary = None
    project = args.project
    if project is None:
        temporary = Path(tempfile.mkdtemp(prefix="reportgen-warm-"))
        project = temporary
        (project / "reportgen.toml").write_text(CONFIG)
        print(f"cold build of tasks {args.tasks} in {project} ...", file=sys.stderr)
        print(f"  {cli(project, 'build', '--task', args.tasks, '--format', fmt):.1f} s", file=sys.stderr)
    try:
        store = project / ".reportgen" / "cache" / ".figures"
        shutil.rmtree(store, ignore_errors=True)
        empty = cli(project, "render", "--task", args.tasks, "--format", fmt)
        figures = sum(1 for p in store.rglob("*") if p.is_file())
        full = cli(project, "render", "--task", args.tasks, "--format", fmt)
        warm = cli(project, "build", "--task", args.tasks, "--format", fmt)
    finally:
        if temporary is not None and not args.keep:
            shutil.rmtree(temporary, ignore_errors=True)
    print(json.dumps({
        "ratio": round(empty / full, 2),
        "render_empty_s": round(empty, 2),
        "render_full_s": round(full, 2),
        "warm_build_s": round(warm, 2),
        "figures": figures,
        "tasks": args.tasks,
        "load": [round(x, 2) for x in os.getloadavg()],
    }))  # fmt: skip


if __name__ == "__main__":
    main()
