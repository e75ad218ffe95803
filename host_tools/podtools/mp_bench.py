"""Per-sample cost of the gait engine, run inside MicroPython or CPython (same file).

    micropython mp_bench.py FIRMWARE_DIR SAMPLES.bin PERIOD_US

SAMPLES.bin holds int16 little-endian sextets. Prints ``engine_us empty_us steps worst_us``:
the average time per sample of the engine's update()+pop() and of an empty loop that calls
a function with the same arguments over the same samples, the footfalls found, and the
longest single update()+pop() (timed one by one in a third pass through a new engine: the
sample that learns the orientation replays the history, and the pod's FIFO must hold the
samples that arrive meanwhile).
"""

import sys

try:
    from time import ticks_diff, ticks_us
except ImportError:  # CPython
    from time import perf_counter_ns

    def ticks_us():
        return perf_counter_ns() // 1000

    def ticks_diff(a, b):
        return a - b


def _empty(ax, ay, az, gx, gy, gz, dt):
    return 0


def bench(gait, buf, n, period):
    eng = gait.GaitEngine(period_us=period)
    update = eng.update
    pop = eng.pop
    t0 = ticks_us()
    i = 0
    while i < n:
        j = 6 * i
        if update(buf[j], buf[j + 1], buf[j + 2], buf[j + 3], buf[j + 4], buf[j + 5], period):
            while pop():
                pass
        i += 1
    t1 = ticks_us()
    i = 0
    while i < n:
        j = 6 * i
        if _empty(buf[j], buf[j + 1], buf[j + 2], buf[j + 3], buf[j + 4], buf[j + 5], period):
            pass
        i += 1
    t2 = ticks_us()
    engine_us = ticks_diff(t1, t0) / n
    empty_us = ticks_diff(t2, t1) / n
    steps = eng.steps
    eng = gait.GaitEngine(period_us=period)
    update = eng.update
    pop = eng.pop
    worst = 0
    i = 0
    while i < n:
        j = 6 * i
        t = ticks_us()
        if update(buf[j], buf[j + 1], buf[j + 2], buf[j + 3], buf[j + 4], buf[j + 5], period):
            while pop():
                pass
        d = ticks_diff(ticks_us(), t)
        if d > worst:
            worst = d
        i += 1
    return engine_us, empty_us, steps, worst


def main(argv):
    from array import array

    sys.path.insert(0, argv[1])
    import gait

    with open(argv[2], "rb") as f:
        data = f.read()
    buf = array("h", data)
    n = len(buf) // 6
    engine_us, empty_us, steps, worst_us = bench(gait, buf, n, int(argv[3]))
    print("%.3f %.3f %d %d" % (engine_us, empty_us, steps, worst_us))


if __name__ == "__main__":
    main(sys.argv)
