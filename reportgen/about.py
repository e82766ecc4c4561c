"""What the command line says about itself: `--version`, and help that shows flags as flags."""

from __future__ import annotations

from reportgen import __version__


def version_line() -> str:
    """reportgen's version, torch's and the device a build with `--device auto` would use."""
    try:
        import torch
    except ImportError:
        return f"reportgen {__version__} · torch not installed · device cpu"
    if torch.cuda.is_available():
        device = f"cuda ({torch.cuda.get_device_name(0)})"
    elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        device = "mps"
    else:
        device = "cpu"
    return f"reportgen {__version__} · torch {torch.__version__} · device {device}"


def flags_read_as_flags() -> None:
    """Typer's rich help prints a value placeholder (`<bool>`) after every option, flags included,
    although a flag takes no value: show none for flags. Typer without the hook is left as it is."""
    try:
        from typer.core import TyperOption
    except ImportError:  # pragma: no cover - an older Typer
        return
    original = getattr(TyperOption, "display_type_rich", None)
    if original is None or getattr(original, "_flags_as_flags", False):
        return

    def display_type_rich(self, ctx):  # type: ignore[no-untyped-def]
        return None if getattr(self, "is_flag", False) else original(self, ctx)

    display_type_rich._flags_as_flags = True  # type: ignore[attr-defined]
    TyperOption.display_type_rich = display_type_rich
