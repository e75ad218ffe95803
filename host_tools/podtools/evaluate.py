"""Replay recordings and score the pod's detections against their ground truth.

Truth is the ``NAME.events.csv`` sidecar. Scores, per file and overall:

* steps: a detection matches one true initial contact within +-60 ms, one to one (closest
  pairs first); precision, recall, F1; IC timing error (median |error|, mean bias);
* contact time and strike angle errors on matched steps, strike-class accuracy;
* cadence: each reported cadence against the truth's over the same strides;
* alerts: truth episodes are derived from the truth with the coach's own rules (runs of
  heel-first overstrides, sustained low cadence while running); an alert is right if it
  falls in an episode (or up to 10 s after it), an episode is found if it got an alert.
  Recall counts only the episodes the coach should cue: one that starts within
  ``alert_gap_s`` of the last cued one of its kind, or a low-cadence spell the runner did
  not recover from (back to half the tolerance below target) since the last cue, gets no
  new alert (the coach does not nag), though an alert in it is still right;
* false footfalls per minute where the truth has no strides at all (standing, fidgeting).

``--suite`` evaluates a generated set of simulated recordings instead of files.
"""

import json
import sys
from pathlib import Path

import numpy as np

from . import podcsv, replay
from .errors import PodError

MATCH_US = 60000
CAD_STRIDES = 4  # the engine's cadence window, in strides
STOPPED_US = 3_000_000  # no footfall this long: the coach no longer counts the runner as running
ALERT_GRACE_US = 10_000_000


def add_arguments(p):
    p.add_argument("recordings", nargs="*", help="pod-imu CSV files with NAME.events.csv beside them")
    p.add_argument("--suite", choices=sorted(SUITES), help="(also) evaluate a generated simulated suite")
    p.add_argument("--seed", type=int, help="base seed for --suite (default 1)")
    p.add_argument("--runtime", choices=("cpython", "micropython"), default="cpython")
    p.add_argument("--config", help="pod config JSON to replay with")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--quiet", action="store_true", help="only the overall line")


# ---------------------------------------------------------------------------- matching
def match(det, truth, tol=MATCH_US):
    """One-to-one matching of detection times to truth times, closest pairs first."""
    det = np.asarray(det, dtype=np.int64)
    truth = np.asarray(truth, dtype=np.int64)
    pairs = []
    if len(det) and len(truth):
        j = np.searchsorted(truth, det)
        for i, d in enumerate(det):
            for k in (j[i] - 1, j[i]):
                if 0 <= k < len(truth) and abs(int(truth[k]) - int(d)) <= tol:
                    pairs.append((abs(int(truth[k]) - int(d)), i, int(k)))
    pairs.sort()
    used_d, used_t, out = set(), set(), []
    for _, i, k in pairs:
        if i not in used_d and k not in used_t:
            used_d.add(i)
            used_t.add(k)
            out.append((i, k))
    out.sort()
    return out


def _truth_contacts(events):
    """contact_ms per truth stride: the sidecar's column, or from the next row's toe-off."""
    out = []
    for i, e in enumerate(events):
        c = e.get("contact_ms")
        if c is None and i + 1 < len(events) and events[i + 1].get("tc_us") is not None:
            c = (events[i + 1]["tc_us"] - e["ic_us"]) / 1000.0
        out.append(c)
    return out


def _truth_cadence(ic, k_idx, n):
    """Truth steps/min at truth IC index k over the n preceding strides (same as the pod)."""
    n = min(n, k_idx)
    if n < 1:
        return None
    span = ic[k_idx] - ic[k_idx - n]
    if span <= 0 or span > n * 2_500_000:
        return None
    return 120_000_000.0 * n / span


def _episodes(events, truth_ic, cfg):
    """Alert-worthy episodes in the truth, by the coach's rules: [(kind, start, end, fresh)].

    ``fresh``: the runner got back on target since the last episode of that kind (the coach
    re-arms its low-cadence alert only then; an overstride run is always fresh)."""
    eps = []
    m, n = cfg["overstride_m"], cfg["overstride_n"]
    window = []
    start = None
    for e in events:
        running = e.get("activity") == "run"
        window.append(1 if (running and e.get("overstride")) else 0)
        window = window[-n:]
        if sum(window) >= m:
            start = e["ic_us"] if start is None else start
            end = e["ic_us"]
        elif start is not None and sum(window) == 0:
            eps.append(("overstride", start, end, True))
            start = None
    if start is not None:
        eps.append(("overstride", start, end, True))
    low = (cfg["target_spm"] - cfg["cadence_tolerance_spm"])
    rearm = low + cfg["cadence_tolerance_spm"] / 2
    hold = cfg["low_cadence_after_s"] * 1_000_000
    since = None
    fresh = True
    for k in range(1, len(events)):
        t = truth_ic[k]
        if since is not None and t - truth_ic[k - 1] > STOPPED_US:
            # The runner stopped (a traffic light): the spell ended once the coach no longer
            # counted them as running, however long the stop and whatever came after.
            stop = truth_ic[k - 1] + STOPPED_US
            if stop - since >= hold:
                eps.append(("low_cadence", since + hold, stop, fresh))
                fresh = False
            since = None
        spm = _truth_cadence(truth_ic, k, CAD_STRIDES)
        running = events[k].get("activity") == "run"
        if running and spm is not None and spm >= rearm:
            fresh = True
        if running and spm is not None and spm < low:
            since = t if since is None else since
        else:
            if since is not None and t - since >= hold:
                eps.append(("low_cadence", since + hold, t, fresh))
                fresh = False
            since = None
    if since is not None and truth_ic[-1] - since >= hold:
        eps.append(("low_cadence", since + hold, truth_ic[-1], fresh))
    return eps


def annotated_span(events):
    """The time span the truth annotates: from its earliest event to its last contact.

    Motion-capture truth covers only the capture volume (the real walks start and end
    with strides it did not see); detections outside the span are neither right nor
    wrong. Simulated truth covers the whole recording, so nothing is left out there."""
    if not events:
        return None
    first = min([e["ic_us"] for e in events] + [e["tc_us"] for e in events if e.get("tc_us") is not None])
    last = events[-1]["ic_us"]
    return first - MATCH_US, last + MATCH_US


def score(result, events, duration_s, cfg):
    """Scores of one replay against its truth rows (dict of numbers / None)."""
    span = annotated_span(events)
    if span is not None:
        steps = [s for s in result["steps"] if span[0] <= s["ic_us"] <= span[1]]
        result = dict(result, steps=steps)
    det_ic = [s["ic_us"] for s in result["steps"]]
    truth_ic = [e["ic_us"] for e in events]
    pairs = match(det_ic, truth_ic)
    tp = len(pairs)
    precision = tp / len(det_ic) if det_ic else (1.0 if not truth_ic else 0.0)
    recall = tp / len(truth_ic) if truth_ic else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    ic_err = [(det_ic[i] - truth_ic[k]) / 1000.0 for i, k in pairs]
    contacts = _truth_contacts(events)
    ct_err, sa_err, cls_ok, cls_n = [], [], 0, 0
    for i, k in pairs:
        s, e = result["steps"][i], events[k]
        if s["contact_ms"] is not None and contacts[k] is not None:
            ct_err.append(s["contact_ms"] - contacts[k])
        if s["strike_angle_deg"] is not None and e.get("strike_angle_deg") is not None:
            sa_err.append(s["strike_angle_deg"] - e["strike_angle_deg"])
        if e.get("strike"):
            cls_n += 1
            cls_ok += s["strike"] == e["strike"]
    # Cadence: each report against the truth over the same strides ending at the matched IC.
    by_det = dict(pairs)
    cad_err = []
    ic_index = {t: i for i, t in enumerate(det_ic)}
    truth_arr = np.asarray(truth_ic, dtype=np.int64)
    for c in result["cadence"]:
        i = ic_index.get(c["t_us"])
        if i is None or i not in by_det:
            continue
        truth_spm = _truth_cadence(truth_arr, by_det[i], CAD_STRIDES)
        if truth_spm is not None:
            cad_err.append(c["spm"] - truth_spm)
    out = {
        "duration_s": round(duration_s, 1),
        "truth_steps": len(truth_ic), "detected_steps": len(det_ic), "matched": tp,
        "precision": precision, "recall": recall, "f1": f1,
        "ic_median_abs_ms": _med_abs(ic_err), "ic_bias_ms": _mean(ic_err),
        "contact_median_abs_ms": _med_abs(ct_err), "contact_bias_ms": _mean(ct_err),
        "strike_angle_mean_abs_deg": _mean_abs(sa_err), "strike_angle_bias_deg": _mean(sa_err),
        "strike_class_accuracy": cls_ok / cls_n if cls_n else None,
        "cadence_median_abs_spm": _med_abs(cad_err),
        "false_steps_per_min": (len(det_ic) / (duration_s / 60.0)) if not truth_ic and duration_s > 0 else None,
        "_ic_err": ic_err, "_ct_err": ct_err, "_sa_err": sa_err, "_cad_err": cad_err,
        "_cls": (cls_ok, cls_n),
    }
    out.update(_score_alerts(result, events, truth_arr, cfg))
    return out


def _score_alerts(result, events, truth_ic, cfg):
    if not len(truth_ic) or not any("activity" in e for e in events):
        return {"alert_precision": None, "alert_recall": None, "_alerts": (0, 0, 0, 0)}
    eps = _episodes(events, truth_ic, cfg)
    alerts = result["alerts"]
    good = 0
    found = set()
    for a in alerts:
        hit = [j for j, (kind, s, e, _) in enumerate(eps)
               if kind == a["kind"] and s - ALERT_GRACE_US <= a["t_us"] <= e + ALERT_GRACE_US]
        if hit:
            good += 1
            found.update(hit)
    due = _cued_episodes(eps, cfg["alert_gap_s"] * 1_000_000)
    return {
        "alert_precision": good / len(alerts) if alerts else (None if not eps else 0.0),
        "alert_recall": len(found & due) / len(due) if due else None,
        "alert_episodes": len(due), "alerts": len(alerts),
        "_alerts": (good, len(alerts), len(found & due), len(due)),
    }


def _cued_episodes(eps, gap_us):
    """Indices of the episodes the coach should cue: it is armed (no cue of that kind yet,
    or the runner got back on target since the last one) and ``gap_us`` has passed since
    the start of the last cued episode of the same kind."""
    last = {}
    armed = {}
    due = set()
    for j in sorted(range(len(eps)), key=lambda j: eps[j][1]):
        kind, start, _, fresh = eps[j]
        if fresh:
            armed[kind] = True
        if armed.get(kind, True) and (kind not in last or start - last[kind] >= gap_us):
            last[kind] = start
            armed[kind] = False
            due.add(j)
    return due


def _med_abs(v):
    return float(np.median(np.abs(v))) if len(v) else None


def _mean_abs(v):
    return float(np.mean(np.abs(v))) if len(v) else None


def _mean(v):
    return float(np.mean(v)) if len(v) else None


def overall(scores):
    """Pool the per-file scores (steps and errors pooled, not averaged)."""
    tp = sum(s["matched"] for s in scores)
    nd = sum(s["detected_steps"] for s in scores)
    nt = sum(s["truth_steps"] for s in scores)
    precision = tp / nd if nd else 1.0
    recall = tp / nt if nt else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0

    def pool(key):
        return [x for s in scores for x in s[key]]

    cls_ok = sum(s["_cls"][0] for s in scores)
    cls_n = sum(s["_cls"][1] for s in scores)
    a = [s.get("_alerts", (0, 0, 0, 0)) for s in scores]
    idle = [s for s in scores if s["false_steps_per_min"] is not None]
    idle_min = sum(s["duration_s"] for s in idle) / 60.0
    return {
        "files": len(scores), "truth_steps": nt, "detected_steps": nd, "matched": tp,
        "precision": precision, "recall": recall, "f1": f1,
        "ic_median_abs_ms": _med_abs(pool("_ic_err")), "ic_bias_ms": _mean(pool("_ic_err")),
        "contact_median_abs_ms": _med_abs(pool("_ct_err")), "contact_bias_ms": _mean(pool("_ct_err")),
        "strike_angle_mean_abs_deg": _mean_abs(pool("_sa_err")), "strike_angle_bias_deg": _mean(pool("_sa_err")),
        "strike_class_accuracy": cls_ok / cls_n if cls_n else None,
        "cadence_median_abs_spm": _med_abs(pool("_cad_err")),
        "alert_precision": (sum(x[0] for x in a) / sum(x[1] for x in a)) if sum(x[1] for x in a) else None,
        "alert_recall": (sum(x[2] for x in a) / sum(x[3] for x in a)) if sum(x[3] for x in a) else None,
        "false_steps_per_min": (sum(s["detected_steps"] for s in idle) / idle_min) if idle_min else None,
    }


# ---------------------------------------------------------------------------- suites
def _suite_running(seed):
    """The issue's running grid: strikes x speeds x cadences x mountings x rates."""
    rng = np.random.default_rng(seed)
    items = []
    for strike in ("rearfoot", "midfoot", "forefoot"):
        for speed, cadence in ((2.0, 150), (3.0, 165), (4.0, 175), (5.0, 185), (6.0, 200)):
            for rate in (100, 200, 400):
                s = int(rng.integers(1 << 30))
                items.append(("run", s, rate, dict(strike=strike, speed=speed, cadence=cadence,
                                                     mount="random", duration=40)))
    return items


def _suite_lost(seed):
    """Running with samples lost at random (5 and 10 %): every strike, 100 to 1000 Hz."""
    rng = np.random.default_rng(seed)
    items = []
    for strike in ("rearfoot", "midfoot", "forefoot"):
        for rate in (100, 125, 200, 400, 1000):
            for drop in (0.05, 0.1):
                s = int(rng.integers(1 << 30))
                speed = round(float(rng.uniform(2, 6)), 2)
                cadence = int(rng.integers(150, 201))
                items.append(("run", s, rate, dict(strike=strike, speed=speed, cadence=cadence, mount="random",
                                                     drop=drop, duration=30)))
    return items


def _suite_walking(seed):
    """Walking straight, and in 10-20 m laps that turn round at each end (turning steps that
    swivel the foot and barely pitch it), at any pace, 100 to 400 Hz, random mountings."""
    rng = np.random.default_rng(seed)
    items = []
    for rate in (100, 200, 400):
        for scenario in ("walk", "laps", "laps"):
            s = int(rng.integers(1 << 30))
            speed = round(float(rng.uniform(1.0, 1.6)), 2)
            cadence = int(rng.integers(95, 126))
            items.append((scenario, s, rate, dict(speed=speed, cadence=cadence, mount="random",
                                                  duration=60 if scenario == "walk" else 90)))
    return items


def _suite_idle(seed):
    return [(sc, seed + i, rate, dict(duration=60)) for i, sc in enumerate(("stand", "fidget", "tap"))
            for rate in (100, 200, 400)]


def _suite_session(seed):
    return [("session", seed, 200, dict(duration=300))]


SUITES = {"running": _suite_running, "lost": _suite_lost, "walking": _suite_walking, "idle": _suite_idle,
          "session": _suite_session}


def suite_items(name, seed):
    return SUITES[name](seed)


def simulate_item(item):
    from . import simulate

    scenario, seed, rate, opts = item
    rec, events = simulate.simulate(scenario, seed=seed, rate_hz=rate, **opts)
    return suite_label(item), rec, events


_UNITS = (("strike", "%s"), ("speed", "%gm/s"), ("cadence", "%dspm"), ("drop", "%s lost"), ("mount", "%s mount"))


def suite_label(item):
    """``run 200Hz forefoot 3.5m/s 172spm seed=7``: what ``pod simulate`` takes (mounted at
    random unless it says otherwise)."""
    scenario, seed, rate, opts = item
    parts = [scenario, "%gHz" % rate]
    for key, fmt in _UNITS:
        if key in opts and not (key == "mount" and opts[key] == "random"):
            v = opts[key]
            parts.append(fmt % ("%g%%" % (100 * v) if key == "drop" else v))
    return " ".join(parts + ["seed=%d" % seed])


def suite_overall(name, seed=1, cfg=None):
    """Simulate a whole suite, replay and score every file; the pooled scores."""
    cfg = cfg or pod_config()
    scores = []
    for item in suite_items(name, seed):
        _, rec, events = simulate_item(item)
        scores.append(evaluate_one(rec, events, cfg))
    return overall(scores)


# ---------------------------------------------------------------------------- command
def pod_config(path=None):
    """The config replays are scored with: the file at ``path``, else the pod's defaults."""
    if path:
        return replay.load_config(path)
    from . import paths

    paths.use_firmware()
    import podconfig

    return podconfig.defaults()


def evaluate_one(rec, events, cfg, runtime="cpython", rec_path=None):
    result = replay.replay(rec, runtime, cfg, rec_path=rec_path)
    return score(result, events, rec.duration_s, cfg)


def _fmt(v, pct=False, digits=1):
    if v is None:
        return "-"
    return ("%.1f%%" % (100 * v)) if pct else ("%.*f" % (digits, v))


HEADER = ("%-60s %5s %5s %6s %6s %6s %6s %6s %6s %6s %6s" %
          ("recording", "true", "det", "F1", "IC ms", "CT ms", "SA deg", "class", "spm", "alertP", "alertR"))


def _row(label, s):
    return "%-60s %5d %5d %6s %6s %6s %6s %6s %6s %6s %6s" % (
        label[:60], s["truth_steps"], s["detected_steps"], _fmt(s["f1"], digits=3), _fmt(s["ic_median_abs_ms"]),
        _fmt(s["contact_median_abs_ms"]), _fmt(s["strike_angle_mean_abs_deg"]),
        _fmt(s["strike_class_accuracy"], pct=True), _fmt(s["cadence_median_abs_spm"], digits=2),
        _fmt(s.get("alert_precision"), pct=True), _fmt(s.get("alert_recall"), pct=True))


def run(args):
    cfg = pod_config(args.config)
    if not args.recordings and not args.suite:
        raise PodError("give recordings to evaluate, or --suite NAME")
    if args.seed is not None and not args.suite:
        raise PodError("--seed is the base seed of a --suite (recordings have no seed)")
    jobs = []
    for path in args.recordings:
        if str(path).endswith(".events.csv"):
            continue  # a sidecar given by a glob: it is read beside its recording
        rec = podcsv.read(path)
        ev_path = podcsv.events_path(path)
        if not Path(ev_path).exists():
            raise PodError("%s: no ground truth (%s) beside it" % (path, ev_path.name))
        jobs.append((Path(path).name, rec, podcsv.read_events(ev_path), Path(path)))
    if args.recordings and not jobs and not args.suite:
        raise PodError("only ground-truth files given: name the recordings (REC.csv; REC.events.csv is read "
                       "beside each)")
    if args.suite:
        for item in suite_items(args.suite, 1 if args.seed is None else args.seed):
            label, rec, events = simulate_item(item)
            jobs.append((label, rec, events, None))
    scores = []
    if not args.json and not args.quiet:
        print(HEADER)
    for label, rec, events, path in jobs:
        s = evaluate_one(rec, events, cfg, args.runtime, path)
        s["label"] = label
        scores.append(s)
        if not args.json and not args.quiet:
            print(_row(label, s))
            sys.stdout.flush()
    total = overall(scores)
    if args.json:
        files = [{k: v for k, v in s.items() if not k.startswith("_")} for s in scores]
        json.dump({"files": files, "overall": total}, sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        print(_row("OVERALL (%d files)" % len(scores), total))
        extra = []
        if total["ic_bias_ms"] is not None:
            extra.append("IC bias %+.1f ms" % total["ic_bias_ms"])
        if total["contact_bias_ms"] is not None:
            extra.append("contact bias %+.1f ms" % total["contact_bias_ms"])
        if total["strike_angle_bias_deg"] is not None:
            extra.append("strike bias %+.2f deg" % total["strike_angle_bias_deg"])
        if total["false_steps_per_min"] is not None:
            extra.append("false footfalls while idle %.2f/min" % total["false_steps_per_min"])
        if extra:
            print("  " + "; ".join(extra))
    return 0
