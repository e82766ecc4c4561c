"""Experiments as jobs (issue 18): worker processes here, Slurm through submitit; the same numbers,
failures named with their logs, the cache written only by the build."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

from reportgen.config import load_config
from reportgen.errors import ReportgenError
from tests.conftest import CONFIG, invoke

TIMING = ("time", "seconds", "wall", "/epoch", "ms/image")  # wall-clock measurements ("s/epoch") differ from run to run, by design

BOOM = '''
from reportgen.registry import experiment
from reportgen.results import Metric, Section


@experiment(task=5, id="boom", title="Fails on purpose")
def boom(ctx):
    raise RuntimeError("the boom experiment broke on purpose")


@experiment(task=5, id="after-boom", title="Needs the failing one", needs=("boom",))
def after(ctx):
    return Section(title="after", items=[Metric(title="x", value=1.0)])


@experiment(task=5, id="fine", title="Works")
def fine(ctx):
    return Section(title="fine", items=[Metric(title="seed plus one", value=ctx.seed + 1.0)])
'''


def stored_results(root: Path) -> dict[str, dict[str, Any]]:
    """experiment id -> (result, provenance) of the entry its last build used."""
    cache = root / ".reportgen" / "cache"
    found = {}
    for latest in cache.glob("*/latest.json"):
        entry = latest.parent / json.loads(latest.read_text())["key"]
        found[latest.parent.name] = {
            "result": json.loads((entry / "result.json").read_text()),
            "provenance": json.loads((entry / "provenance.json").read_text()),
        }
    return found


def numbers(result: Any) -> Any:
    """A stored result with the wall-clock measurements left out (metrics, table columns and curves
    whose title says time); every other number and text stays, to be compared exactly."""
    if isinstance(result, list):
        return [numbers(item) for item in result]
    if isinstance(result, str):  # a sentence quoting times ("An epoch took 1.2 s with batch 32 ...")
        # also names the fastest variant by those times: left out whole (its accuracies are in the tables)
        return "<mentions times>" if re.search(r"\d[\d,.]*\s?(s|ms|min)\b", result) else result
    if not isinstance(result, dict):
        return result
    label = f"{result.get('title', '')} {result.get('caption', '')}".lower()
    if result.get("kind") not in ("section", "table", None) and any(word in label for word in TIMING):
        return None  # a metric or figure of times ("epoch time", a cost-against-time chart)
    # A record's fields of times ("epoch time", "wall_s") are left out by name.
    out = {name: numbers(value) for name, value in result.items() if not any(word in name.lower() for word in TIMING)}
    if result.get("kind") == "table":
        keep = [i for i, col in enumerate(result.get("columns", []))
                if not any(w in str(col).lower().replace(" ", "") for w in TIMING)]  # fmt: skip
        out["columns"] = [result["columns"][i] for i in keep]
        out["rows"] = [[row[i] for i in keep] for row in result.get("rows", [])]
    return out


def in_project(root: Path, config: str, *args: str):
    root.mkdir(parents=True, exist_ok=True)
    (root / "reportgen.toml").write_text(config)
    old = Path.cwd()
    os.chdir(root)
    try:
        return invoke(*args)
    finally:
        os.chdir(old)


def test_local_workers_give_the_inline_numbers(built, tmp_path):
    """Tasks 1 and 2 (digits, quick) in two worker processes equal the session's inline build
    number for number. Each worker runs with the inline build's thread count (oneDNN's results
    depend on it) and the same memory layout (a fixed rule per device type)."""
    inline = stored_results(built["root"])
    threads = {r["provenance"]["threads"] for r in inline.values() if "threads" in r["provenance"]}
    assert len(threads) == 1, threads
    result = in_project(tmp_path, CONFIG + f"threads = {threads.pop()}\n", "run", "--task", "1,2", "--executor", "local", "--jobs", "2")
    assert result.exit_code == 0, result.output
    jobs = stored_results(tmp_path)
    assert set(jobs) == set(inline)
    computed = [i for i, r in jobs.items() if r["provenance"].get("job")]
    assert len(computed) == len(inline)  # every one came from a worker
    assert {r["provenance"]["job"]["executor"] for r in jobs.values()} == {"local"}
    for exp_id in inline:
        assert numbers(jobs[exp_id]["result"]) == numbers(inline[exp_id]["result"]), exp_id
        assert jobs[exp_id]["provenance"].get("memory_format") == inline[exp_id]["provenance"].get("memory_format"), exp_id
    output = " ".join(result.output.split())
    for exp_id in ("arch-baseline", "t2-batch-norm"):  # progress names each state with the job id
        for state in ("queued", "running", "done"):
            assert re.search(rf"{state} {exp_id} job local-\d+", output), (state, exp_id)


def test_a_failing_worker_is_named_with_its_log_and_the_others_are_kept(tmp_path):
    (tmp_path / "experiments").mkdir(parents=True)
    (tmp_path / "experiments" / "boom.py").write_text(BOOM)
    result = in_project(tmp_path, CONFIG, "run", "-e", "boom,after-boom,fine", "--executor", "local", "--jobs", "2")
    assert result.exit_code == 1, result.output
    text = " ".join(result.output.split())
    assert "2 experiment(s) failed" in text
    assert "boom (job local-" in text and "RuntimeError: the boom experiment broke on purpose" in text
    assert "after-boom was not run: it needs boom" in text
    log = Path(text.split("log: ")[1].split(";")[0].split()[0])
    assert log.is_file() and "the boom experiment broke on purpose" in log.read_text()
    stored = stored_results(tmp_path)
    assert set(stored) == {"fine"}  # the finished one is stored, nothing of the failed ones
    assert stored["fine"]["result"]["items"][0]["value"] == 1.0
    assert not list((tmp_path / ".reportgen" / "cache").glob(".tmp/*/*"))  # no scratch left behind


def test_executor_table_is_validated(tmp_path):
    (tmp_path / "reportgen.toml").write_text(CONFIG + "\n[executor]\nkind = \"slurm\"\npartiton = \"gpu\"\n")
    with pytest.raises(ReportgenError, match="unknown key 'executor.partiton'"):
        load_config(tmp_path / "reportgen.toml")
    (tmp_path / "reportgen.toml").write_text(CONFIG + "\n[executor]\nkind = \"slurm\"\ntime_min = 0\n")
    with pytest.raises(ReportgenError, match="executor.time_min"):
        load_config(tmp_path / "reportgen.toml")


def test_slurm_refuses_a_node_local_cache(tmp_path):
    from reportgen.executors import check_shared

    with pytest.raises(ReportgenError, match="Slurm jobs on other nodes cannot see"):
        check_shared([Path("/tmp/somewhere/.reportgen/cache")])
    with pytest.raises(ReportgenError, match="under /dev/shm"):
        check_shared([Path("/dev/shm/x")])
    check_shared([Path(__file__).resolve().parent])  # the repository is not on a temporary file system


WAVES = '''
from reportgen.registry import experiment
from reportgen.results import Metric, Section


@experiment(task=5, id="wave-a", title="First wave")
def first(ctx):
    return Section(title="a", items=[Metric(title="seed plus one", value=ctx.seed + 1.0)])


@experiment(task=5, id="wave-b", title="Second wave: reads the first from the cache", needs=("wave-a",))
def second(ctx):
    return Section(title="b", items=[Metric(title="twice a", value=2 * ctx.needed("wave-a").items[0].value)])
'''
SLURM_TABLE = '\n[executor]\npartition = "debug"\ntime_min = 10\ncpus = 1\nmem_gb = 1\n'


def check_slurm_build(root: Path, output: str, inline_theory: dict[str, Any]) -> None:
    """theory and wave-a ran as one array job (wave 1), wave-b after it (wave 2, reading wave-a from
    the cache); theory's numbers are the inline build's."""
    text = " ".join(output.split())
    assert "3 experiment(s) as " in text
    ids = {exp: re.search(rf"queued {exp} job (\S+)", text).group(1) for exp in ("theory", "wave-a", "wave-b")}
    assert text.index("queued wave-b") > text.index("done wave-a")  # the second wave waits for the first
    assert len(set(ids.values())) == 3, ids
    stored = stored_results(root)
    assert stored["wave-b"]["result"]["items"][0]["value"] == 2 * stored["wave-a"]["result"]["items"][0]["value"] == 2.0
    assert numbers(stored["theory"]["result"]) == numbers(inline_theory["result"])
    assert {stored[e]["provenance"]["job"]["id"] for e in ids} == set(ids.values())


def inline_theory(folder: Path) -> dict[str, Any]:
    """The theory experiment's result computed inline (a fraction of a second)."""
    assert in_project(folder, CONFIG, "run", "-e", "theory").exit_code == 0
    return stored_results(folder)["theory"]


def test_submitit_local_executor_runs_the_slurm_path(tmp_path, monkeypatch):
    """The --executor slurm code path (waves, array jobs, storing here) through submitit's own local
    executor: runs everywhere; the real cluster is the next test."""
    monkeypatch.setenv("REPORTGEN_SUBMITIT_CLUSTER", "local")
    (tmp_path / "experiments").mkdir()
    (tmp_path / "experiments" / "waves.py").write_text(WAVES)
    result = in_project(tmp_path, CONFIG + SLURM_TABLE, "run", "-e", "theory,wave-a,wave-b", "--executor", "slurm")
    assert result.exit_code == 0, result.output
    check_slurm_build(tmp_path, result.output, inline_theory(tmp_path / "inline"))


@pytest.fixture(scope="module")
def slurm_cluster(tmp_path_factory):
    """A one-node Slurm cluster on this machine, or a skip saying why there is none."""
    from tests.one_node_slurm import one_node_cluster, why_not

    reason = why_not()
    if reason:
        pytest.skip(f"no real Slurm here: {reason}; the submitit local-executor test covers the code path")
    cluster = one_node_cluster(tmp_path_factory.mktemp("slurm"))
    try:
        env = cluster.__enter__()
    except (RuntimeError, OSError, subprocess.CalledProcessError) as exc:
        cluster.__exit__(None, None, None)
        pytest.skip(f"the one-node Slurm cluster did not start: {exc}")
    try:
        yield env
    finally:
        cluster.__exit__(None, None, None)


def test_slurm_jobs_on_a_one_node_cluster_build_the_deck(slurm_cluster, tmp_path, monkeypatch):
    """A real sbatch/array job round trip. The project lies outside /tmp: the executor refuses a
    node-local folder (here the one node would see it, a real cluster's nodes would not)."""
    monkeypatch.setenv("SLURM_CONF", slurm_cluster["SLURM_CONF"])
    root = Path(tempfile.mkdtemp(prefix="reportgen-slurm-test-", dir=Path.home()))
    try:
        (root / "experiments").mkdir()
        (root / "experiments" / "waves.py").write_text(WAVES)
        result = in_project(root, CONFIG + SLURM_TABLE, "build", "-e", "theory,wave-a,wave-b", "--executor", "slurm",
                            "--only", "deck", "--format", "html")  # fmt: skip
        assert result.exit_code == 0, result.output
        check_slurm_build(root, result.output, inline_theory(tmp_path / "inline"))
        text = " ".join(result.output.split())
        first = {re.search(rf"queued {exp} job (\d+)_\d+", text).group(1) for exp in ("theory", "wave-a")}
        assert len(first) == 1, text  # the first wave was one array job (JOBID_INDEX)
        assert "Worked theory" in (root / "output" / "deck.html").read_text()
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_a_job_killed_by_the_scheduler_names_the_limit_to_raise():
    """submitit reports a job Slurm ended as UncompletedJobError; job.state says which limit."""
    from submitit.core.utils import UncompletedJobError

    from reportgen.config import ExecutorConfig
    from reportgen.executors import Running, SubmititBackend

    class Killed:
        def __init__(self, state: str) -> None:
            self.state = state

        def result(self):
            raise UncompletedJobError("job 17 has not produced any output")

    backend = SubmititBackend.__new__(SubmititBackend)  # no executor needed to read an outcome
    backend.settings = ExecutorConfig(kind="slurm", time_min=30, mem_gb=4)
    assert backend.outcome(Running(None, Killed("TIMEOUT")))[1] == "TIMEOUT: it ran past its time limit: raise [executor] time_min (now 30)"
    assert "raise [executor] mem_gb (now 4)" in backend.outcome(Running(None, Killed("OUT_OF_MEMORY")))[1]


SLOW = '''
import os
import time

from reportgen.registry import experiment
from reportgen.results import Metric, Section


@experiment(task=5, id="quick-one", title="Quick")
def quick(ctx):
    return Section(title="q", items=[Metric(title="x", value=1.0)])


@experiment(task=5, id="slow-one", title="Slow: waits to be interrupted")
def slow(ctx):
    (ctx.root / "slow.pid").write_text(str(os.getpid()))
    for _ in range(3000):  # five minutes at most, should the interrupt not arrive
        time.sleep(0.1)
    return Section(title="s", items=[Metric(title="x", value=2.0)])
'''


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] not in "ZX"
    except (OSError, IndexError):
        return False


def test_ctrl_c_stops_the_workers_and_keeps_finished_results(tmp_path):
    import signal
    import sys

    (tmp_path / "experiments").mkdir()
    (tmp_path / "experiments" / "slow.py").write_text(SLOW)
    (tmp_path / "reportgen.toml").write_text(CONFIG)
    build = subprocess.Popen([sys.executable, "-m", "reportgen.cli", "run", "-e", "quick-one,slow-one", "--executor", "local"],
                             cwd=tmp_path, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)  # fmt: skip
    seen = []
    for line in build.stderr:
        seen.append(line)
        if "done" in line and "quick-one" in line:
            break
    while not (tmp_path / "slow.pid").exists():  # the slow one has started in its worker
        assert build.poll() is None, "".join(seen)
        time.sleep(0.1)
    worker = int((tmp_path / "slow.pid").read_text())
    build.send_signal(signal.SIGINT)
    rest = build.stderr.read()
    assert build.wait() == 130, "".join(seen) + rest
    assert "cancelled 1 job(s); 1 finished result(s) are stored" in " ".join(rest.split())
    assert set(stored_results(tmp_path)) == {"quick-one"}
    for _ in range(50):  # the terminated worker may take a moment to go
        if not alive(worker):
            break
        time.sleep(0.1)
    assert not alive(worker)
    assert not list((tmp_path / ".reportgen" / "cache").glob(".tmp/*/*"))


def test_a_cuda_build_asks_slurm_for_one_gpu_per_job(tmp_path):
    """--device cuda: each job asks for a GPU (unless [executor] gpus says otherwise); the table's
    resources become the job's sbatch options."""
    from reportgen.config import Config
    from reportgen.executors import SubmititBackend

    table = {"kind": "slurm", "partition": "gpu", "time_min": 90, "cpus": 8, "mem_gb": 16}
    cuda = SubmititBackend(Config(device="cuda", executor=table), tmp_path, "slurm").executor._executor.parameters
    assert cuda["gpus_per_node"] == 1
    assert (cuda["partition"], cuda["time"], cuda["cpus_per_task"], cuda["mem"]) == ("gpu", 90, 8, "16GB")
    cpu = SubmititBackend(Config(device="cpu", executor=table), tmp_path, "slurm").executor._executor.parameters
    assert "gpus_per_node" not in cpu
    two = SubmititBackend(Config(device="cuda", executor={**table, "gpus": 2}), tmp_path, "slurm").executor._executor.parameters
    assert two["gpus_per_node"] == 2


def test_slurm_without_submitit_says_what_to_install(tmp_path, monkeypatch):
    import sys

    from reportgen.config import Config
    from reportgen.executors import SubmititBackend

    monkeypatch.setitem(sys.modules, "submitit", None)  # as if the extra were not installed
    with pytest.raises(ReportgenError, match="needs submitit") as raised:
        SubmititBackend(Config(executor={"kind": "slurm"}), tmp_path, "slurm")
    assert raised.value.hint == "pip install 'reportgen[slurm]'"


def test_jobs_alone_means_local_workers_and_the_options_override_the_table():
    from reportgen.cli import _use_executor
    from reportgen.config import Config, ExecutorKind

    cfg = Config()
    _use_executor(cfg, None, 2)
    assert (cfg.executor.kind, cfg.executor.jobs) == (ExecutorKind.local, 2)
    cfg = Config(executor={"kind": "slurm", "jobs": 8})
    _use_executor(cfg, None, 4)
    assert (cfg.executor.kind, cfg.executor.jobs) == (ExecutorKind.slurm, 4)
    _use_executor(cfg, ExecutorKind.inline, None)
    assert cfg.executor.kind == ExecutorKind.inline
