"""Helpers shared by the dual-runtime tests (plain functions with asserts, no fixtures).

These files run under pytest on CPython and under tests/mprun.py on the MicroPython unix
port. Paths are resolved the same way on both.
"""
import sys

IS_MICROPYTHON = sys.implementation.name == "micropython"


class SkipTest(Exception):
    pass


def skip(reason):
    """Skip the calling test on this runtime, with a reason."""
    if not IS_MICROPYTHON:
        import pytest

        pytest.skip(reason)
    raise SkipTest(reason)


def _dirname(path):
    i = path.rfind("/")
    return path[:i] if i > 0 else "."


TESTS_DIR = _dirname(_dirname(__file__))
ROOT = _dirname(TESTS_DIR)
FIRMWARE_DIR = ROOT + "/firmware"
SHARED_DATA = ROOT + "/../shared/data"  # the shared real recordings, beside the clone
TEST_DATA = TESTS_DIR + "/data"  # the project's own fixtures (tests/data/README.md)


def path_exists(path):
    try:
        import os

        os.stat(path)
        return True
    except OSError:
        return False


def read_recording(path, limit=None):
    """A pod-imu CSV as (array('i') of t_us, array('h') of 6 counts per sample).

    Plain line parsing so it runs on both runtimes; the arrays never grow afterwards.
    """
    from array import array

    t = array("i")
    imu = array("h")
    with open(path) as f:
        for line in f:
            if not line or line[0] in "#t\n":
                continue
            p = line.split(",")
            if len(p) != 7:
                continue
            t.append(int(p[0]))
            for k in range(1, 7):
                imu.append(int(p[k]))
            if limit and len(t) >= limit:
                break
    return t, imu


def read_truth(path, column=0):
    """One column of a NAME.events.csv sidecar: 0 is ic_us, 1 tc_us."""
    out = []
    with open(path) as f:
        f.readline()
        for line in f:
            if line.strip():
                out.append(int(line.split(",")[column]))
    return out
