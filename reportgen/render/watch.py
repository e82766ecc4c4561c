"""`reportgen serve --watch`: the writing loop. Re-renders the HTML deliverables whenever the
student's words (writeup/), the config or the theme change, and never trains.

Each re-render is a `reportgen render --format html` in a child process: it reads the files
afresh (templates, the project's modules, the config), an error in the student's text stops
that render only (the page keeps the last good one), and nothing of it lingers in the server.
Results made stale by a config change are rendered as stored and marked "stale result" on the
page, as `reportgen render` does; training stays with `reportgen build`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Editors' swap, backup and temporary files: saving writes them, but they are not the text.
IGNORED_SUFFIXES = (".swp", ".swx", ".tmp", "~")


@dataclass
class Watched:
    """What a change must touch to re-render: the config file, the write-up and theme folders."""

    config: Path
    folders: tuple[Path, ...]

    def __call__(self, _change: object, path: str) -> bool:
        changed = Path(path).resolve()
        if changed.name.startswith(".") or changed.name.endswith(IGNORED_SUFFIXES):
            return False
        if changed.name.lower() == "readme.md" and changed.parent in self.folders:
            return False  # the write-up ignores it, and each render rewrites its list of names
        return changed == self.config or any(folder == changed or folder in changed.parents for folder in self.folders)


def watched_paths(config_file: Path) -> Watched:
    """Reads the config for the write-up and theme folders; the config file alone when it does not load."""
    from reportgen.config import load_config
    from reportgen.errors import ReportgenError

    config_file = config_file.resolve()
    try:
        config = load_config(config_file)
    except ReportgenError:
        return Watched(config_file, ())
    folders = [config.resolve(config.writeup)] + ([config.resolve(config.theme)] if config.theme else [])
    return Watched(config_file, tuple(folder.resolve() for folder in folders))


def render_command(config_file: Path, out: Path, task: str | None, formats: str) -> list[str]:
    """The `reportgen render` a re-render runs (this interpreter, this reportgen)."""
    command = [sys.executable, "-m", "reportgen.cli", "render", "--config", str(config_file), "--out", str(out),
               "--format", formats]  # fmt: skip
    return command + (["--task", task] if task else [])


def run_render(command: list[str], say: Callable[[str], None], why: str) -> bool:
    """Runs one render; says what it wrote (or its error) in a few lines. True when it succeeded."""
    started = time.perf_counter()
    env = {**os.environ, "COLUMNS": "500"}  # one line per message, as the parsing below expects
    done = subprocess.run(command, capture_output=True, text=True, stdin=subprocess.DEVNULL, env=env)
    lines = [line.strip() for line in (done.stderr + done.stdout).splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith(("error:", "→"))]
    notes = [line for line in lines if line.startswith(("!", "rendering task", "notice"))]
    for line in errors + notes[:6]:
        say(f"  {line}")
    if len(notes) > 6:
        say(f"  ... and {len(notes) - 6} more warnings")
    if done.returncode == 0:
        wrote = [Path(line.split("wrote ", 1)[1].split(" (")[0]).name for line in lines if line.startswith("wrote ")]
        say(f"rendered {', '.join(wrote) or 'nothing'} in {time.perf_counter() - started:.1f} s ({why})")
        return True
    say(f"render failed ({why}); the page shows the last good version")
    return False


def watch_loop(
    root: Path,
    config_file: Path,
    rerender: Callable[[str], object],
    stop: object | None = None,
    changes: Callable[..., Iterable[set]] | None = None,
) -> None:
    """Calls `rerender(why)` after each batch of saves to watched files, until Ctrl-C or `stop` is set.

    The project folder is watched as a whole (a save by rename-and-replace, or a write-up folder
    created later, is still seen) and changes are filtered by `watched_paths`, read afresh after a
    config change.
    """
    if changes is None:
        from watchfiles import watch as changes
    current = [watched_paths(config_file)]  # replaced after a config change; the filter reads it
    for batch in changes(root, watch_filter=lambda change, path: current[0](change, path), stop_event=stop):
        paths = sorted({Path(path) for _, path in batch})
        if any(path.resolve() == current[0].config for path in paths):
            current[0] = watched_paths(config_file)
        names = ", ".join(_relative(path, root) for path in paths[:3]) + (", ..." if len(paths) > 3 else "")
        rerender(f"changed: {names}")


def _relative(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)


def first_render(config: Path, out: Path, task: str | None, say: Callable[[str], None]) -> None:
    """serve --watch starts from a fresh HTML render; a project that cannot render stops here."""
    from reportgen.errors import ReportgenError

    if not run_render(render_command(config, out, task, "html"), say, "start"):
        raise ReportgenError("the first render failed (see above)", "fix it, or run 'reportgen build' first")


def serve_watching(server: Any, announce: Callable[[str], None], config: Path, out: Path, task: str | None,
                   pdf: bool, say: Callable[[str], None]) -> None:  # fmt: skip
    """Serves in a thread while this one watches the project and re-renders; the PDFs on exit."""

    def interrupt(_signum: int, _frame: object) -> None:  # SIGTERM stops it as Ctrl-C does
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    announce(f"http://127.0.0.1:{server.server_address[1]}/")
    say(f"watching {config} and its writeup/ and theme/ folders; PDFs {'when you stop' if pdf else 'with reportgen render --format pdf'}")
    try:
        watch_loop(config.resolve().parent, config, lambda why: run_render(render_command(config, out, task, "html"), say, why))
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
        server.server_close()
    if pdf:
        say("rendering the PDFs (Ctrl-C again to skip)")
        try:
            run_render(render_command(config, out, task, "html,pdf"), say, "on exit")
        except KeyboardInterrupt:
            say("PDFs skipped; 'reportgen render --format pdf' renders them")
