"""Whether a path the project names is what it must be: a regular readable file or a folder.

Checked with stat, which never opens anything, so a named pipe given for a file is an error
instead of a read that waits forever, and a folder given for a file (or a file for a folder) is
said, not silently skipped or replaced by a fallback. The logo has its own check (config.py).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any, Literal

from reportgen.errors import ReportgenError

Kind = Literal["file", "folder"]
KIND_NAMES = {stat.S_IFIFO: "a named pipe", stat.S_IFSOCK: "a socket", stat.S_IFCHR: "a device",
              stat.S_IFBLK: "a device", stat.S_IFDIR: "a folder", stat.S_IFREG: "a file"}  # fmt: skip


def problem(path: Path, want: Kind) -> str | None:
    """Why `path` is not a readable `want` ("does not exist", "is a folder, not a file", ...), or None."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return "does not exist"
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    kind = stat.S_IFMT(mode)
    expected = stat.S_IFREG if want == "file" else stat.S_IFDIR
    if kind != expected:
        return f"is {KIND_NAMES.get(kind, 'not a regular file')}, not a {want}"
    if not os.access(path, os.R_OK | (os.X_OK if want == "folder" else 0)):
        return "cannot be read (permission denied)"
    return None


def require(path: Path, want: Kind, what: str, hint: str = "") -> None:
    """Raises a ReportgenError (exit 2) naming `what` when `path` is not a readable `want`."""
    why = problem(path, want)
    if why is not None:
        raise ReportgenError(f"{what} '{path}' {why}", hint or f"give a {want} that reportgen can read", 2)


def check_config_paths(config: Any) -> None:
    """The folders a config names: each must be a folder when it exists (absent ones are optional)."""
    source = config.source
    for key, path in (("writeup", config.writeup), ("experiments_dir", config.experiments_dir), ("theme", config.theme)):
        resolved = config.resolve(path)
        why = problem(resolved, "folder") if os.path.lexists(resolved) else None
        if why is not None:
            raise ReportgenError(f"{source}: {key} '{path}' {why}", f"{key} names a folder (relative to {config.root.resolve()})", 2)
    if config.data_root is not None:
        root = config.resolve(config.data_root)
        why = problem(root, "folder")
        if why is not None and why != "does not exist":  # a missing one is said by the dataset lookup
            raise ReportgenError(
                f"{source}: data_root '{config.data_root}' {why}",
                "point data_root at the folder that holds the dataset, or remove it to use the installed one",
                2,
            )
