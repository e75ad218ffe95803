"""pod vpod: a virtual pod (the firmware in MicroPython, simulated hardware) on a serial port, till Ctrl-C.

    pod vpod [--recording REC.csv | --scenario NAME] [--flash IMAGE] [--speed N|max]

Prints the pseudo-terminal to connect to (``mpremote connect /dev/pts/N ls``, or
``pod flash --port /dev/pts/N``) and runs until Ctrl-C (or ``kill``), which powers it off.
The flash image keeps its files between runs; the trace (buzzer, resets, files written,
heap) goes to ``--trace``.
"""

import signal
import time
from pathlib import Path

from .errors import PodError, not_over


def add_arguments(parser):
    src = parser.add_mutually_exclusive_group()
    src.add_argument("--recording", metavar="REC.csv",
                     help="pod-imu recording the IMU plays once (then the foot rests)")
    src.add_argument("--scenario", metavar="NAME", help="simulate this scenario for the IMU (see pod simulate)")
    parser.add_argument("--seed", type=int, help="simulator seed (with --scenario; default 0)")
    parser.add_argument("--rate", type=float, help="simulated IMU rate in Hz (with --scenario; default 200)")
    parser.add_argument("--flash", metavar="IMAGE", default="vpod-flash.img",
                        help="littlefs flash image, created on first use (default: %(default)s)")
    parser.add_argument("--speed", default="1", help="1 = real time, N = sleeps N times faster, max = as fast as possible")
    parser.add_argument("--trace", metavar="PATH", default="vpod-trace.jsonl", help="trace file (JSON lines)")
    parser.add_argument("--board", default="lolin_d32", help="board_configs/ module whose wiring to simulate")
    parser.add_argument("--battery", type=float, metavar="PERCENT", help="battery charge at start (default 90)")


def _speed(text):
    if text == "max":
        return "max"
    try:
        value = float(text)
    except ValueError:
        raise PodError("--speed must be a number or 'max', not %r" % text) from None
    if not 0 < value < float("inf"):  # (NaN fails this too)
        raise PodError("--speed must be a positive number or 'max', not %r" % text)
    return value


def _recording(args):
    if args.recording:
        from . import podcsv

        return podcsv.read(args.recording)
    if args.scenario:
        from .simulate import simulate

        rec, _events = simulate(args.scenario, args.seed or 0, args.rate or 200.0)
        return rec
    return None


def run(args):
    from .vpod import VirtualPod

    speed = _speed(args.speed)
    for given, option in ((args.seed, "--seed"), (args.rate, "--rate")):
        if given is not None and not args.scenario:
            raise PodError("%s is for --scenario (a recording has its own rate)" % option)
    if args.battery is not None and not 0 <= args.battery <= 100:
        raise PodError("--battery is a charge in percent, 0 to 100 (got %g)" % args.battery)
    if args.recording:
        not_over(args.trace, args.recording, "the recording")
    not_over(args.trace, args.flash, "the flash image")
    rec = _recording(args)
    battery = {"soc": args.battery} if args.battery is not None else None
    pod = VirtualPod(flash=Path(args.flash), recording=rec, speed=speed, trace=Path(args.trace),
                     board=args.board, battery=battery)
    pod.start()
    # kill (SIGTERM) powers off as Ctrl-C does, so the pod's temporary folder goes too
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        print("virtual pod on %s (mpremote connect %s ls)" % (pod.port, pod.port), flush=True)
        print("flash %s, trace %s, speed %s; Ctrl-C to power off" % (args.flash, args.trace, args.speed), flush=True)
        while pod.running:
            time.sleep(0.2)
        raise PodError("the virtual pod stopped (%s); its last output:\n%s"
                       % (pod.exits[-1:], pod.output[-2000:].decode(errors="replace")))
    except KeyboardInterrupt:
        print("\nvirtual pod powered off")
        return 0
    finally:
        pod.stop()
