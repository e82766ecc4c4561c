"""Stale experiments as jobs: worker processes on this machine (local) or Slurm jobs (submitit).

The cache stays the one truth. A job computes one experiment into a scratch folder on the
cache's file system and hands back its result and provenance; only this process, which holds
the build lock, writes them and renames the folder into the cache (file locks are unreliable
across NFS nodes, renames by one writer are not). No scheduling of our own: worker processes come
from concurrent.futures, cluster jobs from submitit; this module only submits an experiment once
what it `needs` is stored, and on Slurm a whole dependency wave at once, as one array job.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import signal
import sys
import time
import traceback
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reportgen.cache import Cache, Entry
from reportgen.config import Config, Device
from reportgen.data.sources import DatasetInfo
from reportgen.errors import ReportgenError
from reportgen.records import Record
from reportgen.results import Section, from_dict

LOCAL_JOBS = 2  # --executor local without --jobs
NODE_LOCAL = (Path("/tmp"), Path("/var/tmp"), Path("/dev/shm"), Path("/run"))
MEMORY_FILESYSTEMS = {"tmpfs", "ramfs"}
# What a scheduler's verdict means for the user (submitit's job.state, i.e. sacct's State).
LIMIT_HINTS = {
    "TIMEOUT": "it ran past its time limit: raise [executor] time_min (now {time_min})",
    "OUT_OF_MEMORY": "it ran out of memory: raise [executor] mem_gb (now {mem_gb})",
    "CANCELLED": "it was cancelled (scancel, or the scheduler ended it)",
    "NODE_FAIL": "its node failed: build again",
    "PREEMPTED": "it was preempted by a higher-priority job: build again",
}


@dataclass
class JobSpec:
    """Everything one job needs, as plain data: the job imports the experiment itself by id."""

    exp_id: str
    key: str
    params: dict[str, Any]
    config: Config
    dataset: DatasetInfo
    cache_root: str  # absolute, like every path here: a Slurm job starts elsewhere
    scratch: str
    needs: dict[str, str]  # experiment id -> key of the stored result it reads
    threads: int | None  # None: the job's allocation decides (SLURM_CPUS_PER_TASK, affinity)
    cwd: str
    job_id: str = ""
    log: str = ""


def allocated_cores() -> int:
    """The cores this process may use: Slurm's allocation, else the CPU affinity mask (physical
    cores at most, as inline builds use), never the host's total when it was given fewer."""
    from reportgen.nn.runtime import physical_cores

    slurm = os.environ.get("SLURM_CPUS_PER_TASK", "")
    if slurm.isdigit() and int(slurm) > 0:
        return int(slurm)
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(affinity, physical_cores()))


def compute_job(spec: JobSpec) -> dict[str, Any]:
    """Runs in the worker process or Slurm job: one experiment into spec.scratch; returns its result
    and provenance as JSON-ready data (the submitting build stores them)."""
    # `python -m` (submitit's job script) puts the working folder first on sys.path, where a
    # project's own experiments/ folder would shadow reportgen's built-in `experiments` package.
    here = {Path.cwd().resolve(), Path(spec.cwd).resolve()}
    sys.path[:] = [p for p in sys.path if p not in ("", ".") and Path(p).resolve() not in here]
    os.chdir(spec.cwd)  # the project's relative paths (config, writeup, images) resolve as at submission
    from reportgen.nn.runtime import prepare
    from reportgen.registry import load_experiments
    from reportgen.runner import compute

    threads = spec.threads or allocated_cores()
    prepare(threads)
    registry = load_experiments(spec.config)
    exp = registry[spec.exp_id]
    cache = Cache(Path(spec.cache_root))
    needs: dict[str, Entry] = {}
    for dep, key in spec.needs.items():
        entry = cache.load(dep, key)
        if entry is None:
            raise RuntimeError(f"the stored result of {dep} ({key}) cannot be read here: is {cache.root} shared?")
        entry.title = registry[dep].title if dep in registry else entry.title  # as the inline planner names it
        needs[dep] = entry
    section, prov = compute(exp, spec.params, spec.config, spec.dataset, Path(spec.scratch), needs)
    import socket

    prov["job"] = {"executor": spec.config.executor.kind.value, "threads": threads, "host": socket.gethostname()}
    return {"result": section.to_dict(), "provenance": prov}


def _init_worker() -> None:
    """Worker processes leave Ctrl-C to the build, which cancels what is queued and stops them."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def local_job(spec: JobSpec) -> dict[str, Any]:
    """compute_job in a worker process, its output and any traceback going to spec.log."""
    log = Path(spec.log)
    log.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(log, "w", encoding="utf-8") as handle:
        os.dup2(handle.fileno(), 1)  # C libraries (oneDNN warnings) write to the descriptors, not sys.std*
        os.dup2(handle.fileno(), 2)
        try:
            print(f"reportgen job {spec.job_id}: {spec.exp_id}, process {os.getpid()}, {spec.threads} threads", flush=True)
            return {"payload": compute_job(spec)}
        except Exception as exc:
            traceback.print_exc()
            return {"error": exc.message if isinstance(exc, ReportgenError) else f"{type(exc).__name__}: {exc}"}
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)


@dataclass
class Running:
    """A submitted job: its spec and the engine's handle (a Future or a submitit Job)."""

    spec: JobSpec
    handle: Any
    state: str = "queued"


class LocalBackend:
    """Up to `jobs` experiments at once in worker processes (forkserver, else spawn: a fresh
    interpreter, no forked torch threads)."""

    waves = False
    name = "local"
    poll_s = 0.2  # how often the futures are looked at

    def __init__(self, config: Config, logs: Path) -> None:
        self.jobs = config.executor.jobs or LOCAL_JOBS
        self.threads = config.threads or max(1, allocated_cores() // self.jobs)
        self.logs = logs
        methods = multiprocessing.get_all_start_methods()
        context = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
        self.pool = ProcessPoolExecutor(self.jobs, mp_context=context, initializer=_init_worker)
        self.count = 0
        self.cancelled = False

    def submit(self, specs: list[JobSpec]) -> list[Running]:
        submitted = []
        for spec in specs:
            self.count += 1
            spec.job_id = f"local-{self.count}"
            spec.log = str(self.logs / f"{spec.exp_id}.{spec.job_id}.log")
            spec.threads = self.threads
            submitted.append(Running(spec, self.pool.submit(local_job, spec)))
        return submitted

    def state(self, job: Running) -> str:
        future: Future = job.handle
        if future.done():
            return "finished"
        # The pool marks a future running as soon as it is handed to a worker's queue; the log
        # file appears when a worker really starts it.
        return "running" if Path(job.spec.log).exists() else "queued"

    def outcome(self, job: Running) -> tuple[dict[str, Any] | None, str]:
        try:
            answer = job.handle.result()
        except Exception as exc:  # the worker died (killed, out of memory): the pool says so
            return None, f"its worker process died ({type(exc).__name__}: {exc})"
        return answer.get("payload"), answer.get("error", "")

    def cancel(self, jobs: list[Running]) -> None:
        # No public way to stop running workers before Python 3.14 (terminate_workers): take them
        # from the pool before shutdown forgets them.
        processes = list((getattr(self.pool, "_processes", None) or {}).values())
        for process in processes:
            process.terminate()
        self.pool.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            process.join(timeout=10)
        self.cancelled = True

    def close(self) -> None:
        if not self.cancelled:
            self.pool.shutdown(wait=True)


class SubmititBackend:
    """Each experiment as a Slurm job through submitit; a wave of several is one array job.
    cluster="local" is submitit's own local executor (tests where no Slurm can be started)."""

    waves = True

    def __init__(self, config: Config, logs: Path, cluster: str) -> None:
        try:
            import submitit
        except ImportError:
            raise ReportgenError("--executor slurm needs submitit", "pip install 'reportgen[slurm]'", 2) from None
        self.name = cluster
        self.poll_s = 5.0 if cluster == "slurm" else 0.5  # each look at a Slurm job's state runs sacct
        settings = config.executor
        gpus = settings.gpus if settings.gpus is not None else int(config.device == Device.cuda)
        self.executor = submitit.AutoExecutor(folder=logs / "%j", cluster=cluster)
        params: dict[str, Any] = {"name": "reportgen", "timeout_min": settings.time_min, "nodes": 1, "tasks_per_node": 1,
                                  "cpus_per_task": settings.cpus, "mem_gb": settings.mem_gb}  # fmt: skip
        if gpus:
            params["gpus_per_node"] = gpus
        if settings.partition:
            params["slurm_partition"] = settings.partition
        if settings.account:
            params["slurm_account"] = settings.account
        if settings.jobs:
            params["slurm_array_parallelism"] = settings.jobs
        self.executor.update_parameters(**params)
        self.settings = settings
        self.threads = config.threads  # None: each job uses what Slurm allocated

    def submit(self, specs: list[JobSpec]) -> list[Running]:
        for spec in specs:
            spec.threads = self.threads
        with self.executor.batch():  # one sbatch --array for the whole wave
            handles = [self.executor.submit(compute_job, spec) for spec in specs]
        submitted = []
        for spec, job in zip(specs, handles):
            spec.job_id = str(job.job_id)
            spec.log = str(job.paths.stderr)
            submitted.append(Running(spec, job))
        return submitted

    def state(self, job: Running) -> str:
        if job.handle.done():
            return "finished"
        return "running" if job.handle.state in ("RUNNING", "COMPLETING") else "queued"

    def outcome(self, job: Running) -> tuple[dict[str, Any] | None, str]:
        from submitit.core.utils import FailedJobError, UncompletedJobError

        try:
            return job.handle.result(), ""
        except FailedJobError as exc:  # the experiment raised: the trace's last "Type: message" line
            import re

            raised = re.findall(r"^([A-Za-z_][\w.]*(?:Error|Exception|Interrupt|Exit)\b.*)$", str(exc), re.MULTILINE)
            return None, raised[-1].strip() if raised else "the job failed"
        except UncompletedJobError:
            state = str(job.handle.state)
            hint = LIMIT_HINTS.get(state.split()[0], "the scheduler ended it")
            return None, f"{state}: {hint.format(time_min=self.settings.time_min, mem_gb=self.settings.mem_gb)}"

    def cancel(self, jobs: list[Running]) -> None:
        for job in jobs:
            if not job.handle.done():
                job.handle.cancel(check=False)

    def close(self) -> None:
        pass


def submitit_cluster() -> str:
    """Slurm, or submitit's local executor where REPORTGEN_SUBMITIT_CLUSTER=local (tests, a trial
    on one machine): the same code path without a scheduler."""
    return os.environ.get("REPORTGEN_SUBMITIT_CLUSTER", "slurm")


def check_shared(paths: list[Path]) -> None:
    """Slurm jobs run on other nodes: the cache, its scratch and the job logs must be on a shared
    file system, never a node's own temporary folder or memory file system."""
    mounts: list[tuple[Path, str]] = []
    try:
        for line in Path("/proc/mounts").read_text().splitlines():
            fields = line.split()
            if len(fields) >= 3:
                mounts.append((Path(fields[1].replace("\\040", " ")), fields[2]))
    except OSError:
        pass
    for path in paths:
        path = path.resolve()
        mount = max((m for m in mounts if m[0] == path or m[0] in path.parents), key=lambda m: len(m[0].parts), default=None)
        local = next((d for d in NODE_LOCAL if d == path or d in path.parents), None)
        if local is not None or (mount is not None and mount[1] in MEMORY_FILESYSTEMS):
            where = f"under {local}" if local is not None else f"on a {mount[1]} file system"
            raise ReportgenError(
                f"{path} is {where}, which Slurm jobs on other nodes cannot see",
                "put the project (or --cache-dir) on a shared file system such as your home or project folder",
                2,
            )


def run_as_jobs(
    planned: list[Any],
    config: Config,
    dataset: DatasetInfo,
    cache: Cache,
    *,
    rerun: bool = False,
    on_event: Callable[[str, Any, float], None] | None = None,
    board: Any = None,
) -> dict[str, Entry]:
    """runner.run_planned's job path: stale experiments as jobs, each stored here as it finishes.

    Raises:
        ReportgenError: naming every failed experiment with its job id and log (the others are stored).
        KeyboardInterrupt: after cancelling what was submitted; finished results stay stored.
    """
    from reportgen.progress import JobBoard

    board = board or JobBoard()
    entries: dict[str, Entry] = {}
    stale = []
    for item in planned:
        if item.entry is not None and not rerun:
            cache.mark_latest(item.exp.id, item.key)
            entries[item.exp.id] = item.entry
            if on_event:
                on_event("cached", item, 0.0)
        else:
            stale.append(item)
    logs = (cache.root.parent / "jobs" / cache.build_id).resolve()
    backend = _backend(config, cache, logs)
    board.note(f"{len(stale)} experiment(s) as {backend.name} jobs; logs in {logs}")
    failed = _drive(backend, stale, entries, config, dataset, cache, board)
    if failed:
        raise ReportgenError(
            f"{len(failed)} experiment(s) failed: " + "; ".join(failed),
            "the other results are stored; read the log, fix the experiment and build again",
            1,
        )
    shutil.rmtree(logs, ignore_errors=True)  # kept only when a job failed
    return entries


def _backend(config: Config, cache: Cache, logs: Path) -> LocalBackend | SubmititBackend:
    if config.executor.kind.value == "local":
        return LocalBackend(config, logs)
    cluster = submitit_cluster()
    if cluster == "slurm":
        check_shared([cache.root, cache.root / ".tmp", logs])
    return SubmititBackend(config, logs, cluster)


def _drive(backend, stale, entries, config, dataset, cache, board) -> list[str]:
    """Submits what is ready (all of one wave at a time on Slurm), stores what finishes; returns
    one line per failed (or never started, because of a failure) experiment."""
    waiting = list(stale)
    active: list[Running] = []
    failed: dict[str, str] = {}
    items = {item.exp.id: item for item in stale}
    try:
        while waiting or active:
            for item in [i for i in waiting if any(dep in failed for dep in i.exp.needs)]:
                waiting.remove(item)
                failed[item.exp.id] = f"{item.exp.id} was not run: it needs {', '.join(d for d in item.exp.needs if d in failed)}"
                board.update(item.exp.id, "skipped")
            ready = [i for i in waiting if all(dep in entries for dep in i.exp.needs)]
            if ready and not (backend.waves and active):
                specs = [_spec(item, config, dataset, cache, entries) for item in ready]
                for job in backend.submit(specs):
                    board.update(job.spec.exp_id, "queued", job.spec.job_id)
                    active.append(job)
                waiting = [i for i in waiting if i not in ready]
            elif not active:  # what waits needs a result that no job will bring: say so below
                break
            time.sleep(backend.poll_s)
            for job in list(active):
                state = backend.state(job)
                if state != "finished":
                    if state != job.state:
                        job.state = state
                        board.update(job.spec.exp_id, state, job.spec.job_id)
                    continue
                active.remove(job)
                problem = _finish(backend, job, items[job.spec.exp_id], cache, entries)
                if problem:
                    failed[job.spec.exp_id] = f"{job.spec.exp_id} (job {job.spec.job_id}): {problem}; log: {job.spec.log}"
                    board.update(job.spec.exp_id, "failed", job.spec.job_id, problem)
                else:
                    wall = entries[job.spec.exp_id].provenance.get("wall_s", 0.0)
                    board.update(job.spec.exp_id, "done", job.spec.job_id, f"{wall:.1f} s")
    except KeyboardInterrupt:
        backend.cancel(active)
        board.note(f"cancelled {len(active)} job(s); {len(entries)} finished result(s) are stored")
        raise
    finally:
        backend.close()
    for item in waiting:
        failed[item.exp.id] = f"{item.exp.id} was not run: what it needs has no result"
    return list(failed.values())


def _spec(item: Any, config: Config, dataset: DatasetInfo, cache: Cache, entries: dict[str, Entry]) -> JobSpec:
    return JobSpec(
        exp_id=item.exp.id, key=item.key, params=item.params, config=config, dataset=dataset,
        cache_root=str(cache.root.resolve()), scratch=str(cache.scratch().resolve()),
        needs={dep: entries[dep].key for dep in item.exp.needs}, threads=None, cwd=os.getcwd(),
    )  # fmt: skip


def _finish(backend, job: Running, item: Any, cache: Cache, entries: dict[str, Entry]) -> str:
    """Stores a finished job's result (the rename into the cache happens only here); returns why it
    failed, or "" when it is stored."""
    payload, problem = backend.outcome(job)
    if payload is None:
        shutil.rmtree(job.spec.scratch, ignore_errors=True)
        return problem or "the job ended without a result"
    try:  # a record (numbers a presenter shows) or a finished Section
        result = payload["result"]
        section = Record.from_dict(result) if result.get("kind") == Record.kind else from_dict(result)
    except (ValueError, TypeError, KeyError) as exc:
        return f"the job returned a result that cannot be read: {exc}"
    if not isinstance(section, (Section, Record)):
        return f"the job returned {type(section).__name__}, not a Section or a Record"
    prov = payload["provenance"]
    prov.setdefault("job", {})["id"] = job.spec.job_id
    from reportgen.runner import store_result

    try:
        entries[item.exp.id] = store_result(item, cache, Path(job.spec.scratch), section, prov)
    except ReportgenError as exc:  # a result that cannot be stored: named like any failed job
        shutil.rmtree(job.spec.scratch, ignore_errors=True)
        return exc.message
    return ""


