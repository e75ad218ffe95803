"""The newcomer's journey without hardware (grows as the virtual pod and sync land)."""


def add_arguments(p):
    p.add_argument("--out", default="out/demo", help="where the demo writes its files")


def run(args):
    from pathlib import Path

    from . import podcsv, replay, simulate

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rec_path = out / "session.csv"
    print("1. simulating a session (warm-up walk, run with episodes, a stop, cool-down) ...")
    rec, events = simulate.simulate("session", seed=7, rate_hz=200)
    podcsv.write(rec_path, rec)
    podcsv.write_events(podcsv.events_path(rec_path), events)
    print("   %s: %.0f s, %d true strides" % (rec_path, rec.duration_s, len(events)))
    print("2. replaying it through the pod's own gait engine and coach ...")
    result = replay.replay(rec)
    print("   " + replay.summary_text(result, rec).replace("\n", "\n   "))
    return 0
