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


def path_exists(path):
    try:
        import os

        os.stat(path)
        return True
    except OSError:
        return False
