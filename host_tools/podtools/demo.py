"""The newcomer's journey without hardware, with the same commands as with a real pod.

1. a fresh virtual pod (the firmware's MicroPython on simulated hardware, on a pty);
2. ``pod flash`` onto it, exactly as onto an ESP32;
3. a simulated session played to its IMU: warm-up walk, run with an overstride and a
   low-cadence episode, a traffic-light stop, cool-down walk;
4. ``pod sync`` into a local database, ``pod sessions``, ``pod review`` with the HTML report;
5. the same recording replayed on the laptop through the same gait engine, for comparison.
"""

import time
from pathlib import Path

from .errors import PodError


def add_arguments(p):
    p.add_argument("--out", default="out/demo", help="where the demo writes its files (default out/demo)")
    p.add_argument("--minutes", type=float, default=10.0, help="length of the simulated session")
    p.add_argument("--seed", type=int, default=7)


_MARK = ".pod-demo"  # in a folder the demo made: its files may be replaced by the next demo
_DEMO_FILES = {"pod.img", "sessions.sqlite", "report.html", "session.csv", "session.events.csv",
               "trace.jsonl", "partial", "quarantine"}


def _made_by_demo(out):
    """Marked, or (made before the mark) holding the demo's trace and nothing but demo files."""
    if (out / _MARK).exists():
        return True
    names = {p.name for p in out.iterdir()}
    return "trace.jsonl" in names and names <= _DEMO_FILES


def _demo_folder(out):
    """``out``, created if missing, or a previous demo's folder; never someone's files
    (the demo replaces its pod image, database and report there)."""
    if out.exists() and not out.is_dir():
        raise PodError("--out %s: not a folder" % out)
    if out.is_dir() and any(out.iterdir()) and not _made_by_demo(out):
        raise PodError("--out %s: the folder holds files that are not a previous demo's; "
                       "give a new or empty folder (the demo would replace sessions.sqlite, pod.img "
                       "and report.html there)" % out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / _MARK).write_text("made by pod demo: its files here are replaced by the next demo\n")
    except OSError as e:
        raise PodError("--out %s: %s" % (out, e.strerror or e)) from None
    return out


def _step(text):
    print("\n== %s" % text, flush=True)


def run(args):
    from . import cli, podcsv, replay, simulate
    from .vpod import VirtualPod

    if not 2 <= args.minutes <= 360:
        raise PodError("--minutes: a session of 2 to 360 minutes (got %g)" % args.minutes)
    simulate.check_seed(args.seed)  # before any pod is made
    out = _demo_folder(Path(args.out))
    image, db, report = out / "pod.img", out / "sessions.sqlite", out / "report.html"
    for old in (image, db):
        if old.exists():
            old.unlink()
    t0 = time.monotonic()

    def pod(*argv):
        code = cli.main([str(a) for a in argv])
        if code:
            raise PodError("demo: 'pod %s' failed" % " ".join(str(a) for a in argv))

    _step("1. a fresh virtual pod, and pod flash onto it")
    with VirtualPod(flash=image, speed=1) as vp:
        print("virtual pod on %s" % vp.port)
        pod("flash", "--port", vp.port, "--board", "lolin_d32")

    _step("2. a simulated %.0f-minute session played to the pod's IMU" % args.minutes)
    rec, events = simulate.simulate("session", seed=args.seed, rate_hz=200, duration=args.minutes * 60)
    rec_path = out / "session.csv"
    podcsv.write(rec_path, rec)
    podcsv.write_events(podcsv.events_path(rec_path), events)
    print("%s: %.0f s, %d true strides of the instrumented foot" % (rec_path, rec.duration_s, len(events)))
    # The pod stays on its battery from now on: its clock keeps the time pod flash set.
    with VirtualPod(flash=image, recording=rec, speed="max", trace=out / "trace.jsonl", clock=time.time()) as vp:
        # The pod closes the session auto_stop_idle_s (120 s) after the last footfall, then
        # deep-sleeps when nothing moves: the run is on its flash by then.
        def asleep(events):
            return any(e.get("kind") == "deepsleep" for e in events if e.get("ev") == "reset")

        events = vp.wait_for(asleep, timeout=240)
        tones = sum(1 for e in events if e.get("ev") == "buzz" and e.get("on"))
        slept = next(e["w"] for e in events if e.get("ev") == "reset" and e.get("kind") == "deepsleep")
        print("the pod ran %.0f virtual seconds, buzzed %d tones (clicks and cues), then went to sleep"
              % (slept / 1e6, tones))

    _step("3. plug it in: pod sync, pod sessions")
    with VirtualPod(flash=image, speed=1, clock=time.time()) as vp:
        pod("sync", "--port", vp.port, "--db", db)
    pod("sessions", "--db", db)

    _step("4. pod review")
    pod("review", "--last", "--db", db, "--html", report)

    _step("5. the same recording replayed on the laptop through the same engine")
    result = replay.replay(rec)
    print(replay.summary_text(result, rec))
    run = [a["t_us"] for a in result["activity"] if a["activity"] == "run"]
    if run:  # the pod's session starts when it sees running: the same span, for comparison
        n = sum(1 for s in result["steps"] if s["ic_us"] >= run[0])
        print("from the first running (%.0f s in), the span of the pod's session: %d steps (both feet)"
              % (run[0] / 1e6, 2 * n))

    print("\nDone in %.0f s. The review report is %s" % (time.monotonic() - t0, report.resolve()))
    return 0
