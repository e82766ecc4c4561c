"""Progress bars (rich) for epochs, batches and rendering steps."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn


class RichProgress:
    """The Trainer's progress interface, drawn as one transient bar per training run."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self._bar: Progress | None = None
        self._task = None

    def start(self, description: str, total: int) -> None:
        self.done()
        self._bar = Progress(
            TextColumn("  [cyan]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("batches"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=self.console,
            transient=True,
        )
        self._bar.start()
        self._task = self._bar.add_task(description, total=total)

    def advance(self, steps: int = 1) -> None:
        if self._bar is not None:
            self._bar.advance(self._task, steps)

    def done(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


class JobBoard:
    """States of experiments that run as jobs (queued, running, done, failed, skipped), one line per
    change with the job id and the counts so far: readable in a terminal and in a CI log alike."""

    COLORS = {"queued": "dim", "running": "cyan", "done": "green", "failed": "red", "skipped": "yellow"}

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True, soft_wrap=True)
        self.states: dict[str, str] = {}

    def note(self, text: str) -> None:
        self.console.print(f"  [dim]{escape(text)}[/]", highlight=False)

    def update(self, exp_id: str, state: str, job_id: str = "", detail: str = "") -> None:
        if self.states.get(exp_id) == state:
            return
        self.states[exp_id] = state
        job = f" job {job_id}" if job_id else ""
        more = f": {detail}" if detail else ""
        color = self.COLORS.get(state, "")
        self.console.print(f"  [{color}]{state:<7}[/] [bold]{escape(exp_id)}[/]{escape(job + more)} [dim]({self.counts()})[/]",
                           highlight=False)  # fmt: skip

    def counts(self) -> str:
        values = list(self.states.values())
        return ", ".join(f"{values.count(s)} {s}" for s in self.COLORS if values.count(s))
