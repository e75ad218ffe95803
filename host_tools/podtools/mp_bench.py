"""Per-sample cost of the gait engine, run inside MicroPython or CPython (same file).

    micropython mp_bench.py FIRMWARE_DIR SAMPLES.bin PERIOD_US

SAMPLES.bin holds int16 little-endian sextets. Prints ``engine_us empty_us steps``: the
average time per sample of the engine's update()+pop() and of an empty loop that calls a
function with the same arguments over the same samples.
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
    return ticks_diff(t1, t0) / n, ticks_diff(t2, t1) / n, eng.steps


def main(argv):
    from array import array

    sys.path.insert(0, argv[1])
    import gait

    with open(argv[2], "rb") as f:
        data = f.read()
    buf = array("h", data)
    n = len(buf) // 6
    engine_us, empty_us, steps = bench(gait, buf, n, int(argv[3]))
    print("%.3f %.3f %d" % (engine_us, empty_us, steps))


if __name__ == "__main__":
    main(sys.argv)
