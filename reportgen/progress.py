"""Progress bars (rich) for epochs, batches and rendering steps."""

from __future__ import annotations

from rich.console import Console
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
