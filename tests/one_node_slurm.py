"""A one-node Slurm cluster on this machine for the executor tests: munged with its own key and
socket, slurmctld and slurmd with a generated slurm.conf, all in one folder and stopped afterwards.
Debian's slurm-wlm and munge come from scripts/install-system.sh; the daemons run as root."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

DAEMONS = ("munged", "mungekey", "slurmctld", "slurmd", "sbatch", "sinfo")
READY_S = 90  # how long the daemons may take to come up on a loaded machine before we give up (skip)


def why_not() -> str:
    """Why no cluster can be started here, or "" when it can be tried."""
    missing = [name for name in DAEMONS if shutil.which(name) is None and not Path(f"/usr/sbin/{name}").exists()]
    if missing:
        return f"Slurm/munge not installed ({', '.join(missing)} missing; scripts/install-system.sh installs slurm-wlm and munge as root)"
    if os.geteuid() != 0:
        return "the one-node Slurm cluster needs root (slurmd starts jobs as their user)"
    return ""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _conf(folder: Path, host: str, cpus: int, mem_mb: int) -> str:
    return f"""ClusterName=reportgentest
SlurmctldHost={host}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket={folder}/munge.socket
CredType=cred/munge
SlurmctldPort={_free_port()}
SlurmdPort={_free_port()}
StateSaveLocation={folder}/state
SlurmdSpoolDir={folder}/spool
SlurmctldPidFile={folder}/slurmctld.pid
SlurmdPidFile={folder}/slurmd.pid
SlurmctldLogFile={folder}/slurmctld.log
SlurmdLogFile={folder}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
NodeName={host} CPUs={cpus} RealMemory={mem_mb} State=UNKNOWN
PartitionName=debug Nodes={host} Default=YES MaxTime=INFINITE State=UP
"""


@contextmanager
def one_node_cluster(folder: Path) -> Iterator[dict[str, str]]:
    """Starts the daemons; yields the environment (SLURM_CONF) that sbatch and submitit need.

    Raises:
        RuntimeError: when a daemon does not come up, with the end of its log.
    """
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    for sub in ("state", "spool"):
        (folder / sub).mkdir(exist_ok=True)
    host = socket.gethostname()
    mem_mb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20 // 2
    (folder / "slurm.conf").write_text(_conf(folder, host, os.cpu_count() or 1, mem_mb))
    env = {**os.environ, "SLURM_CONF": str(folder / "slurm.conf")}
    started: list[subprocess.Popen] = []
    try:
        subprocess.run(["mungekey", "--create", "--keyfile", str(folder / "munge.key")], check=True, capture_output=True)
        os.chmod(folder / "munge.key", 0o600)
        started.append(subprocess.Popen(
            ["munged", "--foreground", "--force", "--socket", str(folder / "munge.socket"), "--key-file", str(folder / "munge.key"),
             "--pid-file", str(folder / "munged.pid"), "--log-file", str(folder / "munged.log"), "--seed-file", str(folder / "munged.seed")],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
        ))  # fmt: skip
        _wait(lambda: (folder / "munge.socket").exists(), "munged", folder / "munged.log")
        started.append(subprocess.Popen(["slurmctld", "-D", "-i", "-f", str(folder / "slurm.conf")], env=env,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT))  # fmt: skip
        started.append(subprocess.Popen(["slurmd", "-D", "-f", str(folder / "slurm.conf")], env=env,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT))  # fmt: skip
        _wait(lambda: _node_idle(env), "slurmctld/slurmd", folder / "slurmd.log")
        yield {"SLURM_CONF": env["SLURM_CONF"]}
    finally:
        for process in reversed(started):
            process.terminate()
        for process in reversed(started):
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


def _node_idle(env: dict[str, str]) -> bool:
    answer = subprocess.run(["sinfo", "-h", "-o", "%T"], env=env, capture_output=True, text=True)
    return answer.returncode == 0 and answer.stdout.strip().startswith("idle")


def _wait(ready, what: str, log: Path) -> None:
    deadline = time.monotonic() + READY_S
    while time.monotonic() < deadline:
        if ready():
            return
        time.sleep(1)
    tail = log.read_text(errors="replace").splitlines()[-5:] if log.exists() else ["(no log)"]
    raise RuntimeError(f"{what} did not start within {READY_S} s: {' | '.join(tail)}")
