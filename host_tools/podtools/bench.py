"""``make bench``: the gait engine's speed and accuracy, as figures (not pass/fail tests).

* per-sample cost of the engine under MicroPython (the unix port, @native as on the pod)
  and under CPython, each also as a ratio to an empty loop over the same samples;
* the longest single sample under each (the one that learns the orientation replays the
  history: the FIFO must hold what arrives meanwhile);
* the CPython replay time of a 1-hour 200 Hz recording (read + engine + coach);
* heap taken by the firmware's code (from .mpy files, and in place from a ROMFS image) and
  by the engine's and the pipeline's state, on this 64-bit unix port (the ESP32 is 32-bit:
  roughly half); the whole-firmware hour inside a 64 KB heap is tests/test_firmware_hour.py;
* accuracy on the simulated running suites (with and without lost samples), the walking
  suite (turns too), the idle suite and the real walks.
"""

import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from . import evaluate, flash, mp_bench, mp_mem, paths, podcsv, replay, simulate


def _engine_cost(tmp):
    rec, _ = simulate.simulate("session", seed=5, rate_hz=200, duration=240)
    samples = Path(tmp) / "samples.bin"
    samples.write_bytes(rec.imu.astype("<i2").tobytes())
    period = rec.period_us
    mp = subprocess.run([paths.micropython_exe(), "-X", "heapsize=2M", mp_bench.__file__, str(paths.FIRMWARE_DIR),
                         str(samples), str(period)], capture_output=True, text=True, check=True).stdout.split()
    paths.use_firmware()
    from array import array

    import gait

    cp = mp_bench.bench(gait, array("h", samples.read_bytes()), len(rec.imu), period)
    return len(rec.imu), [float(x) for x in mp[:2]], cp[:2], (int(mp[3]), cp[3])


def _hour_replay(tmp):
    rec, _ = simulate.simulate("session", seed=9, rate_hz=200, duration=3600)
    path = Path(tmp) / "hour.csv"
    podcsv.write(path, rec)
    t0 = time.perf_counter()
    rec2 = podcsv.read(path)
    t1 = time.perf_counter()
    result = replay.replay(rec2)
    t2 = time.perf_counter()
    return rec2.duration_s, t1 - t0, t2 - t1, len(result["steps"])


def _memory(tmp):
    image = Path(tmp) / "pod.romfs"
    image.write_bytes(flash.firmware_romfs("x64", tmp)[0])  # the .mpy files stay in tmp
    out = {}
    for args in ([tmp], [tmp, str(image)]):
        r = subprocess.run([paths.micropython_exe(), "-X", "heapsize=1M", mp_mem.__file__, *args],
                           capture_output=True, text=True, check=True)
        out.update((k, int(v)) for k, v in (w.split("=") for w in r.stdout.split()))
    return out


def _accuracy():
    cfg = evaluate.pod_config()
    rows = []
    for suite in ("running", "lost", "walking", "idle", "session"):
        rows.append((suite, evaluate.suite_overall(suite, 1, cfg)))
    for name in ("gaitmap_walk_left", "gaitmap_walk_right"):
        data = paths.ROOT.parent / "shared" / "data"
        rec = podcsv.read(data / (name + ".csv"))
        s = evaluate.evaluate_one(rec, podcsv.read_events(data / (name + ".events.csv")), cfg)
        rows.append((name, s))
    return rows


def main():
    with tempfile.TemporaryDirectory(prefix="pod-bench-") as tmp:
        n, (mp_us, mp_empty), (cp_us, cp_empty), (mp_worst, cp_worst) = _engine_cost(tmp)
        print("engine per-sample cost over %d samples (200 Hz simulated session):" % n)
        print("  MicroPython unix port: %7.2f us/sample, empty loop %5.2f us -> %5.1f x" % (mp_us, mp_empty, mp_us / mp_empty))
        print("  CPython %s:       %7.2f us/sample, empty loop %5.2f us -> %5.1f x" % (
            sys.version.split()[0], cp_us, cp_empty, cp_us / cp_empty))
        print("  longest single sample (learning the orientation replays the history): MicroPython %d us,"
              " CPython %d us" % (mp_worst, cp_worst))
        dur, t_read, t_run, steps = _hour_replay(tmp)
        print("1-hour 200 Hz replay (CPython): %.0f s of samples, read %.1f s + engine/coach %.1f s = %.1f s (%d steps)"
              % (dur, t_read, t_run, t_read + t_run, steps))
        mem = _memory(tmp)
        print("heap on the 64-bit MicroPython unix port (an ESP32 needs roughly half):")
        print("  firmware code from .mpy files: %5.1f KB; run in place from ROMFS: %5.1f KB"
              % (mem["mpy_code"] / 1024, mem["rom_code"] / 1024))
        print("  gait engine state at 200 Hz:   %5.1f KB; whole pipeline (engine + coach): %5.1f KB"
              % (mem["engine"] / 1024, mem["pipeline"] / 1024))
    print("accuracy (pod evaluate):")
    print("  " + evaluate.HEADER)
    for label, s in _accuracy():
        print("  " + evaluate._row(label, s))
        if s.get("false_steps_per_min") is not None:
            print("    false footfalls while idle: %.2f/min" % s["false_steps_per_min"])
    return 0


if __name__ == "__main__":
    np.seterr(all="ignore")
    sys.exit(main())
