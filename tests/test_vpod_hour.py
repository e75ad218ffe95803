"""Issue 5's long run: the real firmware, flashed with `pod flash` onto a virtual pod, runs
a simulated 60-minute run; the session on the flash image is valid and whole, and the
metronome clicks in the trace sit on the configured cadence's grid within +-2 ms with no
drift. (Virtual time at full speed: about a minute of wall time.)"""
import json
import sqlite3

from podtools import cli, simulate
from podtools.vpod import VirtualPod

TARGET = 176
PERIOD_US = 60_000_000 / TARGET


def _asleep(events):
    return any(e.get("ev") == "reset" and e.get("kind") == "deepsleep" for e in events)


def test_slow_pod_a_60_minute_run_on_the_virtual_pod(tmp_path):
    image = tmp_path / "pod.img"
    with VirtualPod(flash=image, speed=1) as vp:
        assert cli.main(["flash", "--port", vp.port, "--board", "lolin_d32"]) == 0
        assert cli.main(["config", "set", "metronome", "always", "--port", vp.port]) == 0
        assert cli.main(["config", "set", "target_spm", str(TARGET), "--port", vp.port]) == 0
    rec, truth = simulate.simulate("run", seed=21, rate_hz=200, duration=3605, cadence=172)
    trace = tmp_path / "trace.jsonl"
    with VirtualPod(flash=image, recording=rec, speed="max", trace=trace) as vp:
        vp.wait_for(_asleep, timeout=600)
    db = tmp_path / "db.sqlite"
    with VirtualPod(flash=image, speed=1) as vp:
        assert cli.main(["sync", "--port", vp.port, "--db", str(db)]) == 0
    con = sqlite3.connect(db)
    rows = con.execute("select closed, end_reason, duration_ms, n_intervals, problem from sessions").fetchall()
    assert len(rows) == 1, rows
    closed, reason, duration_ms, n_intervals, problem = rows[0]
    assert closed == 1 and reason == "idle" and problem is None
    assert duration_ms >= 3590_000 and 358 <= n_intervals <= 375

    # Clicks: the metronome tone (buzzer_hz, 2700 Hz) switched on; alerts use other tones.
    events = [json.loads(line) for line in trace.read_text().splitlines() if '"buzz"' in line]
    onsets = [e["w"] for e in events if e.get("on") and e.get("hz") == 2700]
    assert len(onsets) > 0.9 * 3600 * TARGET / 60
    # Follow the grid from the first click: an onset more than 2 ms off it starts a new
    # grid (a re-phase). Clicks skipped for an alert tone leave the grid intact.
    runs, t0 = [[onsets[0]]], onsets[0]
    for t in onsets[1:]:
        if abs(t - (t0 + round((t - t0) / PERIOD_US) * PERIOD_US)) <= 2000:
            runs[-1].append(t)
        else:
            runs.append([t])
            t0 = t
    assert len(runs) <= 3, [len(r) for r in runs]
    assert max(len(r) for r in runs) > 0.9 * len(onsets)  # one grid, no drift, for the hour
