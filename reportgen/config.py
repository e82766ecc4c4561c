"""reportgen.toml -> a validated Config; profiles quick | standard | full."""

from __future__ import annotations

import datetime as dt
import tomllib
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from reportgen.errors import ReportgenError

CONFIG_FILE = "reportgen.toml"


class Profile(StrEnum):
    """How much work each experiment does: quick for tests/CI, standard by default, full for a GPU."""

    quick = "quick"
    standard = "standard"
    full = "full"


class Device(StrEnum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"
    mps = "mps"


class DeckMode(StrEnum):
    """talk: about one slide per experiment (a 12-minute talk); full: a slide per table and figure."""

    talk = "talk"
    full = "full"


class DeckConfig(BaseModel):
    """What the slide deck shows."""

    model_config = ConfigDict(extra="forbid")

    mode: DeckMode = DeckMode.talk
    # Tasks (numbers or names) and experiment ids to show, in this order; empty = everything.
    show: list[str | int] = Field(default_factory=list)
    # Experiments left out of the talk (per-layer tables, single variants) as slides at the end.
    appendix: bool = False
    # A divider slide before each task (its label, title and agenda).
    dividers: bool = True
    # The course's limit on slides: a build over it warns (fails with --strict).
    max_slides: int | None = Field(default=None, ge=1)
    # The talk's length: the speaker view counts down from it.
    minutes: float = Field(default=12, gt=0, le=600)


class ReportConfig(BaseModel):
    """What the report holds."""

    model_config = ConfigDict(extra="forbid")

    # Tasks (numbers or names) and experiment ids to include, in this order; empty = everything.
    show: list[str | int] = Field(default_factory=list)
    # The course's page limit: a build over it warns (fails with --strict).
    max_pages: int | None = Field(default=None, ge=1)


class TaskConfig(BaseModel):
    """The course's own name for a task: `label` heads its slides ("Part A"), `title` names it."""

    model_config = ConfigDict(extra="forbid")

    label: str | None = Field(default=None, min_length=1)
    title: str | None = Field(default=None, min_length=1)


class VariantConfig(BaseModel):
    """A Task 1 architecture variant defined in the config: a title, its layers, and any other
    parameter the baseline takes (epochs, lr, image_size, ...), checked when planning."""

    model_config = ConfigDict(extra="allow")

    title: str = Field(min_length=1)
    layers: list[str] = Field(min_length=1)

    def parameters(self) -> dict[str, Any]:
        """The parameters beyond title and layers, as written."""
        return dict(self.model_extra or {})


class ExecutorKind(StrEnum):
    """Where stale experiments run: one after another here, in worker processes here, or as Slurm jobs."""

    inline = "inline"
    local = "local"
    slurm = "slurm"


class ExecutorConfig(BaseModel):
    """[executor]: how stale experiments run (--executor and --jobs override kind and jobs).

    The resources are per job (one experiment) on a Slurm cluster; `local` uses only jobs.
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    kind: ExecutorKind = ExecutorKind.inline
    jobs: int | None = Field(default=None, ge=1)  # experiments at once; local: 2, slurm: no cap
    partition: str = ""  # the cluster's default when empty
    account: str = ""
    time_min: int = Field(default=60, ge=1)  # Slurm's time limit per job, in minutes
    gpus: int | None = Field(default=None, ge=0)  # per job; one when the device is cuda, else none
    cpus: int = Field(default=4, ge=1)  # per job: the experiment's threads
    mem_gb: int = Field(default=8, ge=1)  # per job, in GB


class Config(BaseModel):
    """Everything a build needs besides the experiments' own defaults."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    title: str = "Deep Learning for Computer Vision"
    course: str = "Course project"
    team: list[str] = Field(default_factory=list)
    date: str = Field(default_factory=lambda: dt.date.today().isoformat())
    dataset: str = "fashion-mnist"
    data_root: Path | None = None
    # What to use when the default dataset is not installed: "digits" (with a notice) or "none" (an error).
    fallback: str = Field(default="digits", pattern="^(digits|none)$")
    download: bool = False
    image_size: int = Field(default=64, ge=8, le=512)  # folder datasets are resized to this
    device: Device = Device.auto
    threads: int | None = Field(default=None, ge=1)
    # numpy and scikit-learn take seeds below 2**32
    seed: int = Field(default=0, ge=0, le=2**32 - 1)
    profile: Profile = Profile.standard
    experiments: dict[str, dict[str, Any]] = Field(default_factory=dict)
    # The student's own material, relative to the project folder (the config file's folder).
    writeup: Path = Path("writeup")
    experiments_dir: Path = Path("experiments")
    theme: Path = Path("theme")
    accent: str | None = Field(default=None, pattern=r"^#([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")
    logo: Path | None = None
    institution: str = ""
    deck: DeckConfig = Field(default_factory=DeckConfig)
    report: ReportConfig = Field(default_factory=ReportConfig)
    executor: ExecutorConfig = Field(default_factory=ExecutorConfig)
    # [tasks.1] label = "Part A", title = "Architecture": keys are task numbers or names.
    tasks: dict[str, TaskConfig] = Field(default_factory=dict)
    # Experiment ids that are neither run nor shown (as `[experiments.ID] enabled = false`).
    disabled: list[str] = Field(default_factory=list)
    # Task 1 architecture variants: your own beside (or, with builtin_variants = false, instead of) ours.
    variants: dict[str, VariantConfig] = Field(default_factory=dict)
    builtin_variants: bool = True
    # Where this config was read from (set by load_config): errors name it, paths resolve from it.
    source: Path = Field(default=Path(CONFIG_FILE), exclude=True)

    @property
    def root(self) -> Path:
        """The project folder: where the config file lies."""
        return self.source.parent

    def disabled_ids(self) -> set[str]:
        """Experiments switched off: listed in `disabled` or with `[experiments.ID] enabled = false`."""
        off = set(self.disabled)
        return off | {i for i, o in self.experiments.items() if isinstance(o, dict) and o.get("enabled") is False}

    def resolve(self, path: Path) -> Path:
        """A project path (relative to the config file's folder) as an absolute one."""
        return path if path.is_absolute() else (self.root / path)


def _describe(error: dict[str, Any]) -> str:
    key = ".".join(str(part) for part in error["loc"])
    if error["type"] == "string_pattern_mismatch" and key == "accent":
        return "key 'accent': give a colour as #rrggbb or #rgb"
    if error["type"] == "extra_forbidden":
        return f"unknown key '{key}'"
    return f"key '{key}': {error['msg']}"


def load_config(path: Path | None = None, **overrides: Any) -> Config:
    """Reads and validates the TOML file (defaults when it does not exist), then applies CLI overrides.

    Raises:
        ReportgenError: one line naming the file and the key, exit code 2.
    """
    path = path or Path(CONFIG_FILE)
    data: dict[str, Any] = {}
    if path.exists():
        from reportgen.paths import require

        require(path, "file", "config file", "give the project's reportgen.toml with --config")  # a pipe would hang
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ReportgenError(f"{path}: not valid TOML: {exc}", "fix the file or delete it", 2) from None
        except OSError as exc:
            raise ReportgenError(f"{path}: cannot be read: {exc.strerror}", exit_code=2) from None
    elif path.name != CONFIG_FILE or path.parent != Path("."):
        raise ReportgenError(f"{path}: no such config file", exit_code=2)
    if not isinstance(data, dict):
        raise ReportgenError(f"{path}: expected a TOML table", exit_code=2)
    if "source" in data:
        raise ReportgenError(f"{path}: unknown key 'source'", exit_code=2)
    data.update({k: v for k, v in overrides.items() if v is not None})
    data["source"] = path
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise ReportgenError(f"{path}: {_describe(first)}{more}", exit_code=2) from None
    if config.logo is not None:  # copied into the output and served: the project's own picture only
        from reportgen.pictures import check_picture

        check_picture(config.logo, config.root, "logo", path)
    from reportgen.paths import check_config_paths

    check_config_paths(config)  # a folder key naming a file (or a pipe) is said now, not skipped later
    return config
