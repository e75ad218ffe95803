"""Feed a recording sample by sample through the pod's own gait modules.

The same file runs under CPython (imported by ``pod replay``) and as a script inside the
MicroPython unix port (``micropython engine_driver.py FIRMWARE_DIR REC.csv [START_TICKS [CONFIG [CUES]]]``),
so both runtimes execute the exact code of the pod and print the same integer-only lines:

    I <ic_us> <stride_ms> <cadence_x10>                  a footfall, as the pod sees it live
    S <ic_us> <tc_us|-1> <contact_ms|-32768> <strike_cdeg|-32768> <strike|-1>   a step
    V <t_us> <activity>                                  activity changed (0 idle 1 walk 2 run)
    A <t_us> <kind>                                      an alert (1 low cadence, 2 overstride)
    C <t_us>                                             a metronome click

Times are on the recording's clock: the engine keeps its own 2**30-wrapping ticks
(START_TICKS lets tests start it just before a wrap) and each event's age is mapped back
onto the sample's ``t_us``.
"""

import sys


def run(rows, emit, start_ticks=0, config=None, cadence_cues=True):
    """rows: iterable of (t_us, ax, ay, az, gx, gy, gz); emit(str) receives the lines.
    cadence_cues=False: the run a cadence ramp learns the runner's baseline from (the app's
    ``learning``: no metronome, no low-cadence alert)."""
    import pipeline

    pipe = pipeline.Pipeline(config, start_ticks)
    pipe.coach.cadence_cues = cadence_cues
    t_prev = None
    t = 0
    for row in rows:
        t, ax, ay, az, gx, gy, gz = row
        dt = pipe.period_us if t_prev is None else t - t_prev
        t_prev = t
        if pipe.update(ax, ay, az, gx, gy, gz, dt):  # a method call, as on the pod
            _drain(pipe, t, emit)
    if pipe.finish():
        _drain(pipe, t, emit)


def _drain(pipe, t, emit):
    import gait
    import pipeline
    from compat import ticks_diff

    eng = pipe.engine
    coach = pipe.coach
    now = eng.now
    while True:
        ev = pipe.pop()
        if not ev:
            return
        if ev == gait.EV_IC:
            emit("I %d %d %d" % (t - ticks_diff(now, eng.ic_t), eng.stride_ms, eng.cadence_x10))
        elif ev == gait.EV_STEP:
            tc = -1 if eng.step_tc_t < 0 else t - ticks_diff(now, eng.step_tc_t)
            emit("S %d %d %d %d %d" % (t - ticks_diff(now, eng.step_ic_t), tc, eng.contact_ms,
                                       eng.strike_cdeg, eng.strike))
        elif ev == gait.EV_ACTIVITY:
            emit("V %d %d" % (t, eng.activity))
        elif ev == pipeline.EV_ALERT:
            emit("A %d %d" % (t - ticks_diff(now, coach.alert_t), coach.alert_kind))
        elif ev == pipeline.EV_CLICK:
            emit("C %d" % (t - ticks_diff(now, coach.click_t)))


def _read_csv_rows(path):
    """pod-imu CSV rows as tuples of ints (MicroPython side; the host parses with numpy)."""
    with open(path) as f:
        for line in f:
            if not line or line[0] in "#t\n":
                continue
            parts = line.split(",")
            if len(parts) == 7:
                yield (int(parts[0]), int(parts[1]), int(parts[2]), int(parts[3]),
                       int(parts[4]), int(parts[5]), int(parts[6]))


def _read_config(path):
    import json

    with open(path) as f:
        return json.load(f)


def main(argv):
    firmware_dir, rec_path = argv[1], argv[2]
    start_ticks = int(argv[3]) if len(argv) > 3 else 0
    config = _read_config(argv[4]) if len(argv) > 4 and argv[4] else None
    cadence_cues = argv[5] != "0" if len(argv) > 5 else True
    sys.path.insert(0, firmware_dir)
    run(_read_csv_rows(rec_path), print, start_ticks, config, cadence_cues)


if __name__ == "__main__":
    main(sys.argv)
