"""Replay a recording through the pod's own gait engine and coach; print what it would do.

``--runtime cpython`` imports the firmware modules here; ``--runtime micropython`` runs the
very same files inside the MicroPython unix port. Both produce identical results.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from . import engine_driver, paths, podcsv
from .errors import PodError

STRIKES = ("rearfoot", "midfoot", "forefoot")
ALERTS = ("", "low_cadence", "overstride")
ACTIVITIES = ("idle", "walk", "run")
NO_VALUE = -32768


def add_arguments(p):
    p.add_argument("recording", help="pod-imu CSV recording")
    p.add_argument("--json", action="store_true", help="print one JSON object (the replay contract)")
    p.add_argument("--runtime", choices=("cpython", "micropython"), default="cpython")
    p.add_argument("--config", help="pod config JSON to replay with (default: the pod's defaults)")
    p.add_argument("--ramp-day", type=int, default=0, metavar="N",
                   help="with a cadence ramp in --config: replay as on day N of it (default 0)")
    p.add_argument("--start-ticks", type=int, default=0, help=argparse.SUPPRESS)  # tests: wrap


def normalised_counts(rec):
    """Counts as the pod configures its MPU6050 (+-16 g, +-2000 dps), whatever was recorded."""
    imu = rec.imu.astype(np.int64)
    if rec.accel_fs_g != 16:
        imu[:, :3] = imu[:, :3] * rec.accel_fs_g // 16
    if rec.gyro_fs_dps != 2000:
        imu[:, 3:] = np.round(imu[:, 3:] * (16.4 / rec.gyro_lsb_per_dps)).astype(np.int64)
    return np.clip(imu, -32768, 32767)


def load_config(path):
    if not path:
        return None
    paths.use_firmware()
    import podconfig

    try:
        with open(path) as f:
            raw = json.load(f)
    except FileNotFoundError:
        raise PodError("%s: no such config file" % path) from None
    except ValueError as e:  # (UnicodeDecodeError too)
        raise PodError("%s: not a JSON config file (%s)" % (path, e)) from None
    try:
        return podconfig.validate(raw)
    except ValueError as e:
        raise PodError("%s: %s" % (path, e)) from None


def on_ramp_day(config, day):
    """``(config, cadence_cues, note)`` as the pod coaches on ``day`` of the config's cadence
    ramp (coach.ramped_target, as the app does): the target from ``baseline_spm``, or with
    no baseline this is the run that learns it, without cadence cues. No ramp: as given."""
    if day < 0:
        raise PodError("--ramp-day: %d is before the ramp starts" % day)
    if not config or not config["ramp_percent"]:
        return config, True, None
    if not config["baseline_spm"]:
        return config, False, ("coach: cadence ramp without a baseline yet: this run learns the runner's "
                               "cadence (no metronome, no low-cadence alert)")
    paths.use_firmware()
    import coach

    cfg = dict(config)
    cfg["target_spm"] = coach.ramped_target(config, day)
    return cfg, True, "coach: cadence ramp day %d: target %d spm (from %d, +%d%% over %d weeks, up to %d)" % (
        day, cfg["target_spm"], config["baseline_spm"], config["ramp_percent"], config["ramp_weeks"],
        config["target_spm"])


def at_recording_rate(config, rec):
    """``config`` (None: the pod's defaults) with ``rate_hz`` set to the recording's rate, as
    a pod recording at that rate is configured: the engine sizes its history and its
    stillness blocks from it."""
    cfg = dict(config or {})
    cfg["rate_hz"] = min(1000, max(100, int(round(rec.rate_hz))))
    return cfg


def replay_lines(rec, runtime="cpython", config=None, start_ticks=0, rec_path=None, cadence_cues=True):
    """Run the pipeline over ``rec``; returns the driver's integer lines."""
    imu = normalised_counts(rec)
    config = at_recording_rate(config, rec)
    if runtime == "cpython":
        paths.use_firmware()
        rows = np.column_stack([rec.t_us.astype(np.int64), imu]).tolist()
        lines = []
        engine_driver.run(rows, lines.append, start_ticks, config, cadence_cues)
        return lines
    return _replay_micropython(rec, imu, config, start_ticks, rec_path, cadence_cues)


def _replay_micropython(rec, imu, config, start_ticks, rec_path, cadence_cues=True):
    exe = paths.micropython_exe()
    with tempfile.TemporaryDirectory(prefix="pod-replay-") as tmp:
        if rec_path is None or not np.array_equal(imu, rec.imu):
            rec_path = os.path.join(tmp, "rec.csv")
            podcsv.write(rec_path, podcsv.Recording(rec.t_us, imu, rec.rate_hz, 16, 2000, rec.source))
        cfg_path = ""
        if config is not None:
            cfg_path = os.path.join(tmp, "config.json")
            with open(cfg_path, "w") as f:
                json.dump(config, f)
        cmd = [exe, "-X", "heapsize=8M", engine_driver.__file__, str(paths.FIRMWARE_DIR), str(rec_path),
               str(start_ticks), cfg_path, "1" if cadence_cues else "0"]
        proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError("MicroPython replay failed:\n" + proc.stdout[-2000:] + proc.stderr[-2000:])
    return proc.stdout.splitlines()


def lines_to_result(lines):
    """The driver's lines -> the published replay JSON contract (plus activity changes)."""
    out = {"steps": [], "cadence": [], "alerts": [], "cues": [], "activity": []}
    for line in lines:
        f = line.split()
        if not f:
            continue
        kind, vals = f[0], [int(v) for v in f[1:]]
        if kind == "S":
            ic, tc, contact, cdeg, strike = vals
            out["steps"].append({
                "ic_us": ic,
                "tc_us": None if tc < 0 else tc,
                "contact_ms": None if contact == NO_VALUE else contact,
                "strike_angle_deg": None if cdeg == NO_VALUE else cdeg / 100.0,
                "strike": STRIKES[strike] if 0 <= strike < 3 else None,
            })
        elif kind == "I":
            if vals[2] > 0:
                out["cadence"].append({"t_us": vals[0], "spm": vals[2] / 10.0})
        elif kind == "A":
            out["alerts"].append({"t_us": vals[0], "kind": ALERTS[vals[1]]})
        elif kind == "C":
            out["cues"].append({"t_us": vals[0]})
        elif kind == "V":
            out["activity"].append({"t_us": vals[0], "activity": ACTIVITIES[vals[1]]})
        else:
            raise RuntimeError("unexpected replay line %r" % line)
    return out


def replay(rec, runtime="cpython", config=None, start_ticks=0, rec_path=None, cadence_cues=True):
    return lines_to_result(replay_lines(rec, runtime, config, start_ticks, rec_path, cadence_cues))


def summary_text(result, rec):
    steps = result["steps"]
    lines = ["%s: %.1f s at %g Hz" % (rec.source or "recording", rec.duration_s, rec.rate_hz)]
    lines.append("footfalls (this foot): %d, steps (both feet): %d" % (len(steps), 2 * len(steps)))
    spm = [c["spm"] for c in result["cadence"]]
    if spm:
        lines.append("cadence: median %.1f steps/min (min %.1f, max %.1f)" % (np.median(spm), min(spm), max(spm)))
    contacts = [s["contact_ms"] for s in steps if s["contact_ms"] is not None]
    if contacts:
        lines.append("contact time: median %d ms" % int(np.median(contacts)))
    angles = [s["strike_angle_deg"] for s in steps if s["strike_angle_deg"] is not None]
    if angles:
        mix = {k: sum(1 for s in steps if s["strike"] == k) for k in STRIKES}
        total = max(1, sum(mix.values()))
        lines.append("strike angle: median %+.1f deg; %s" % (
            np.median(angles), ", ".join("%s %d%%" % (k, round(100 * v / total)) for k, v in mix.items())))
    kinds = {}
    for a in result["alerts"]:
        kinds[a["kind"]] = kinds.get(a["kind"], 0) + 1
    lines.append("alerts: %s" % (", ".join("%s x%d" % kv for kv in kinds.items()) or "none"))
    lines.append("metronome clicks: %d" % len(result["cues"]))
    return "\n".join(lines)


def run(args):
    rec = podcsv.read(args.recording)
    config, cues, note = on_ramp_day(load_config(args.config), args.ramp_day)
    result = replay(rec, args.runtime, config, args.start_ticks, rec_path=Path(args.recording), cadence_cues=cues)
    if args.json:
        json.dump({k: result[k] for k in ("steps", "cadence", "alerts", "cues")}, sys.stdout)
        sys.stdout.write("\n")
    else:
        print(summary_text(result, rec))
        if note:
            print(note)
    return 0
