"""Run the dual-runtime tests under the MicroPython unix port.

    micropython tests/mprun.py [tests/firmware/test_x.py ...]

Every ``test_*`` function in tests/firmware/test_*.py is called with no arguments; an
exception fails it, ``_support.SkipTest`` skips it. The closing line is
``N passed, N failed, N skipped``; the exit status is 1 if anything failed.
"""
import os
import sys

HERE = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."
ROOT = HERE.rsplit("/", 1)[0] if "/" in HERE else "."
sys.path.insert(0, HERE + "/firmware")
sys.path.insert(0, ROOT + "/firmware")

import _support  # noqa: E402


def test_files(args):
    if args:
        return args
    names = sorted(n for n in os.listdir(HERE + "/firmware") if n.startswith("test_") and n.endswith(".py"))
    return [HERE + "/firmware/" + n for n in names]


def run(paths):
    passed = failed = skipped = 0
    for path in paths:
        modname = path.rsplit("/", 1)[-1][:-3]
        try:
            mod = __import__(modname)
        except Exception as e:
            print("FAIL", modname, "(import)", repr(e))
            sys.print_exception(e)
            failed += 1
            continue
        names = sorted(n for n in dir(mod) if n.startswith("test_"))
        for name in names:
            func = getattr(mod, name)
            if not callable(func):
                continue
            label = modname + "::" + name
            try:
                func()
            except _support.SkipTest as e:
                print("SKIP", label, "-", e)
                skipped += 1
            except Exception as e:
                print("FAIL", label)
                sys.print_exception(e)
                failed += 1
            else:
                print("ok  ", label)
                passed += 1
    print("micropython: %d passed, %d failed, %d skipped" % (passed, failed, skipped))
    return failed


if __name__ == "__main__":
    sys.exit(1 if run(test_files(sys.argv[1:])) else 0)
