"""Write a simulated foot-IMU stream as raw int16 little-endian (ax ay az gx gy gz per sample).

    python tests/simstream.py SCENARIO SEED DURATION_S RATE_HZ OUT.bin [key=value ...]

For the firmware tests that run under MicroPython (which cannot run the numpy simulator):
tests/firmware/test_app.py calls this through the venv's python once and caches the file;
tests/test_firmware_hour.py uses ``write_stream`` directly. Samples are on a uniform grid at
RATE_HZ (the simulator's own clock); dropped samples are not simulated here.
"""
import os
import sys


def write_stream(path, scenario, seed, duration, rate_hz=200, **options):
    import numpy as np

    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, os.path.join(os.path.dirname(here), "host_tools"))
    from podtools.simulate import simulate

    rec, truth = simulate(scenario, seed=seed, rate_hz=rate_hz, duration=duration, **options)
    tmp = "%s.%d.tmp" % (path, os.getpid())
    np.ascontiguousarray(np.asarray(rec.imu, dtype="<i2")).tofile(tmp)
    os.replace(tmp, path)  # atomic: parallel test runs never see half a file
    return rec, truth


def _value(text):
    try:
        return float(text)
    except ValueError:
        return text


if __name__ == "__main__":
    scenario, seed, duration, rate, out = sys.argv[1:6]
    opts = dict(a.split("=", 1) for a in sys.argv[6:])
    write_stream(out, scenario, int(seed), float(duration), float(rate), **{k: _value(v) for k, v in opts.items()})
