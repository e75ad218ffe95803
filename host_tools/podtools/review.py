"""pod review: how a session went, in the terminal and as an HTML report that opens offline.

    pod review [SESSION | --last] [--html PATH] [--db PATH]

SESSION is an id from ``pod sessions`` (a unique prefix is enough); without one, or with
``--last``, the latest session. The report (default ``reports/ID.html`` beside the database) is one
self-contained file: the plots are matplotlib PNGs embedded as base64, no script, no CDN.

Plots: cadence over time (interval mean, min-max band, the target zone, every alert as a
marker); the strike angle distribution (the pod records a mean angle per interval, so
this is the footfall-weighted histogram of those means, with the rearfoot / forefoot
thresholds and the overstride angle); the strike mix per interval; contact time; trends
across all sessions in the database (mean cadence against the target, overstride share
and time in the target zone, session by session).
"""

import base64
import datetime
import html
import io
from pathlib import Path

from . import sessions_cmd, store
from .errors import PodError, not_over, replaceable, writing

_DOCTYPE = b"<!DOCTYPE html>"  # a report's first bytes (what --html may write over)
ALERT_STYLE = {"low_cadence": ("tab:red", "v", "low cadence"), "overstride": ("tab:purple", "^", "overstride")}


def add_arguments(p):
    p.add_argument("session", nargs="?", help="session id or a unique prefix (default: the last one)")
    p.add_argument("--last", action="store_true", help="the latest session")
    p.add_argument("--html", metavar="PATH", help="where to write the report (default: reports/ID.html beside the database)")
    p.add_argument("--db", help="session database (default: sessions.sqlite in the user data dir)")


def summary_text(s, evs):
    low, target = store.target_band(s["config"])
    lines = [
        "session %s  %s  %s%s" % (s["id"], sessions_cmd.fmt_date(s["start_epoch"]),
                                  sessions_cmd.fmt_duration(s["duration_ms"]),
                                  "" if s["closed"] else "  (not closed: power cut or interrupted)"),
        "steps %d, running %s, firmware %s" % (s["steps"], sessions_cmd.fmt_duration(s["run_s"] * 1000),
                                               s["firmware"]),
        "cadence %s spm (target %d, alert below %d); in the target zone %s of the running time" % (
            "-" if s["cadence_spm"] is None else "%.1f" % s["cadence_spm"], target, low,
            sessions_cmd.pct(s["target_share"])),
        "strikes (pod foot) %d: rearfoot/midfoot/forefoot %s %%, mean angle %s, overstrides %s" % (
            s["footfalls"], sessions_cmd.fmt_mix(s["strike_mix"]),
            "-" if s["angle_deg"] is None else "%.1f deg" % s["angle_deg"], sessions_cmd.pct(s["overstride_share"])),
        "contact time %s; alerts: %d low cadence, %d overstride%s" % (
            "-" if s["contact_ms"] is None else "%.0f ms" % s["contact_ms"], s["alerts_low_cadence"],
            s["alerts_overstride"], "; %d ms without sensor data" % s["gap_ms"] if s["gap_ms"] else ""),
    ]
    faults = [e for e in evs if e["kind"] not in ALERT_STYLE]
    if faults:
        kinds = sorted({e["kind"] for e in faults})
        # events_lost's value is how many events the pod could not queue: count those, not the record
        lines.append("events: " + ", ".join("%s x%d" % (k, sum(e["value"] if k == "events_lost" else 1
                                                              for e in faults if e["kind"] == k)) for k in kinds))
    if s["problem"]:
        lines.append("note: the file's tail was damaged (%s); good records kept" % s["problem"])
    return "\n".join(lines)


# ---- plots -------------------------------------------------------------------------------

def _png(fig):
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return buf.getvalue()


def _minutes(ivs):
    return [(iv["t_offset_s"] + iv["dur_ms"] / 2000.0) / 60.0 for iv in ivs]


def plot_cadence(s, ivs, evs):
    import matplotlib.pyplot as plt

    low, target = store.target_band(s["config"])
    fig, ax = plt.subplots(figsize=(9, 3.2))
    pts = [(m, iv) for m, iv in zip(_minutes(ivs), ivs) if iv["cadence_mean_x10"] is not None]
    # The zone is what the pod counts (and alerts on): from the allowed shortfall up, no cap.
    top = max([target + (target - low) + 8] + [iv["cadence_max_x10"] / 10 + 4 for _, iv in pts
                                                if iv["cadence_max_x10"] is not None])
    ax.axhspan(low, top, color="tab:green", alpha=0.15, label="target zone (%g spm and up)" % low)
    ax.axhline(target, color="tab:green", lw=1)
    if pts:
        xs = [m for m, _ in pts]
        nan = float("nan")
        ax.fill_between(xs, [iv["cadence_min_x10"] / 10 if iv["cadence_min_x10"] is not None else nan
                             for _, iv in pts],
                        [iv["cadence_max_x10"] / 10 if iv["cadence_max_x10"] is not None else nan for _, iv in pts],
                        color="tab:blue", alpha=0.2, label="min-max")
        ax.plot(xs, [iv["cadence_mean_x10"] / 10 for _, iv in pts], color="tab:blue", lw=1.5, label="cadence")
    for kind, (color, marker, label) in ALERT_STYLE.items():
        ts = [e["t_offset_ms"] / 60000.0 for e in evs if e["kind"] == kind]
        if ts:
            y = target + (target - low) + 4 if kind == "overstride" else low - 4
            ax.scatter(ts, [y] * len(ts), color=color, marker=marker, zorder=3, label="%s alert" % label)
            for t in ts:
                ax.axvline(t, color=color, alpha=0.25, lw=1)
    ax.set_ylim(top=top)
    ax.set_xlabel("minutes")
    ax.set_ylabel("steps per minute")
    ax.set_title("Cadence")
    ax.legend(loc="lower right", fontsize=8)
    return _png(fig)


def plot_strikes(s, ivs):
    import matplotlib.pyplot as plt

    cfg = s["config"] or {}
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.2), gridspec_kw={"width_ratios": [1, 1.6]})
    angles = [iv["angle_mean_x10"] / 10 for iv in ivs if iv["angle_mean_x10"] is not None]
    weights = [iv["strikes_rear"] + iv["strikes_mid"] + iv["strikes_fore"] for iv in ivs
               if iv["angle_mean_x10"] is not None]
    if angles:
        a1.hist(angles, bins=20, weights=weights, color="tab:orange")
    a1.axvline(cfg.get("strike_rear_deg_x10", 80) / 10, color="k", ls="--", lw=1, label="rearfoot above")
    a1.axvline(cfg.get("strike_fore_deg_x10", -16) / 10, color="k", ls=":", lw=1, label="forefoot below")
    a1.axvline(cfg.get("overstride_angle_deg", 15), color="tab:purple", lw=1, label="overstride")
    a1.set_xlabel("strike angle, deg (toe up +)")
    a1.set_ylabel("footfalls")
    a1.set_title("Strike angle (interval means)")
    a1.legend(fontsize=7)
    xs = _minutes(ivs)
    width = (ivs[0]["dur_ms"] / 60000.0) * 0.9 if ivs else 0.15
    bottom = [0.0] * len(ivs)
    for key, color, label in (("strikes_rear", "tab:red", "rearfoot"), ("strikes_mid", "tab:olive", "midfoot"),
                              ("strikes_fore", "tab:cyan", "forefoot")):
        share = []
        for iv in ivs:
            n = iv["strikes_rear"] + iv["strikes_mid"] + iv["strikes_fore"]
            share.append(iv[key] / n if n else 0.0)
        a2.bar(xs, share, width=width, bottom=bottom, color=color, label=label)
        bottom = [b + v for b, v in zip(bottom, share)]
    a2.set_ylim(0, 1)
    a2.set_xlabel("minutes")
    a2.set_ylabel("share of footfalls")
    a2.set_title("Strike mix per interval")
    a2.legend(fontsize=7, loc="upper right")
    return _png(fig)


def plot_contact(ivs):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 2.6))
    pts = [(m, iv["contact_mean_ms"]) for m, iv in zip(_minutes(ivs), ivs) if iv["contact_mean_ms"] is not None]
    if pts:
        ax.plot([p[0] for p in pts], [p[1] for p in pts], color="tab:brown", marker=".", lw=1)
    ax.set_xlabel("minutes")
    ax.set_ylabel("ms")
    ax.set_title("Ground contact time")
    return _png(fig)


def plot_trends(sessions, current_id):
    import matplotlib.pyplot as plt

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.2))
    # The date, and the time of day where another session shares the date.
    dates = [sessions_cmd.fmt_date(s["start_epoch"]) if s["start_epoch"] else s["id"][:7] for s in sessions]
    days = [d.split(" ")[0] for d in dates]
    labels = [d if days.count(day) > 1 else day for d, day in zip(dates, days)]
    xs = list(range(len(sessions)))
    cad = [s["cadence_spm"] for s in sessions]
    tgt = [store.target_band(s["config"])[1] for s in sessions]
    a1.plot(xs, tgt, color="tab:green", ls="--", label="target")
    a1.plot([x for x, c in zip(xs, cad) if c is not None], [c for c in cad if c is not None], marker="o",
            color="tab:blue", label="mean cadence")
    a1.set_title("Cadence across sessions")
    a1.set_ylabel("spm")
    over = [s["overstride_share"] for s in sessions]
    zone = [s["target_share"] for s in sessions]
    a2.plot([x for x, v in zip(xs, over) if v is not None], [100 * v for v in over if v is not None], marker="o",
            color="tab:purple", label="overstride %")
    a2.plot([x for x, v in zip(xs, zone) if v is not None], [100 * v for v in zone if v is not None], marker="s",
            color="tab:green", label="in target zone %")
    a2.set_ylim(0, 100)
    a2.set_title("Overstriding and time in zone")
    for ax in (a1, a2):
        ax.set_xticks(xs)
        ax.set_xticklabels(labels, rotation=45, ha="right", fontsize=7)
        if current_id in [s["id"] for s in sessions]:
            ax.axvline([s["id"] for s in sessions].index(current_id), color="grey", alpha=0.3, lw=6)
        ax.legend(fontsize=7)
    return _png(fig)


def report_html(s, ivs, evs, sessions):
    """The report as one HTML string; the images are ``data:image/png;base64`` URIs."""
    import matplotlib

    matplotlib.use("Agg")
    figures = [("Cadence", plot_cadence(s, ivs, evs)), ("Strikes", plot_strikes(s, ivs)),
               ("Contact time", plot_contact(ivs)), ("Trends", plot_trends(sessions, s["id"]))]
    alerts = [e for e in evs if e["kind"] in ALERT_STYLE]
    rows = "".join("<tr><td>%s</td><td>%s</td><td>%s</td></tr>" % (
        sessions_cmd.fmt_duration(e["t_offset_ms"]), html.escape(e["kind"]),
        "%.1f spm" % (e["value"] / 10) if e["kind"] == "low_cadence" else "%.1f deg" % (e["value"] / 10)
        if e["kind"] == "overstride" else e["value"]) for e in evs)
    parts = [
        _DOCTYPE.decode() + "<html><head><meta charset='utf-8'><title>Session %s</title>" % html.escape(s["id"]),
        "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto;color:#222}"
        "pre{background:#f4f4f4;padding:1em}img{max-width:100%}td{padding:0 1em}</style></head><body>",
        "<h1>Session %s</h1>" % html.escape(s["id"]),
        "<pre>%s</pre>" % html.escape(summary_text(s, evs)),
    ]
    for title, png in figures:
        parts.append("<h2>%s</h2><img alt='%s' src='data:image/png;base64,%s'>"
                     % (title, title, base64.b64encode(png).decode()))
    parts.append("<h2>Events (%d alerts)</h2><table><tr><th>time</th><th>kind</th><th>value</th></tr>%s</table>"
                 % (len(alerts), rows))
    parts.append("<p><small>written by pod review on %s</small></p></body></html>"
                 % datetime.datetime.now().strftime("%Y-%m-%d %H:%M"))
    return "\n".join(parts)


def run(args):
    if args.html is not None and not args.html.strip():
        raise PodError("--html needs a file name (or leave it out: reports/ID.html beside the database)")
    db = store.open_db(args.db, create=False)
    if args.session is not None and args.last:
        raise PodError("give a session or --last, not both")
    s = store.get_session(db, args.session) if args.session is not None else store.last_session(db)
    ivs = store.intervals(db, s["id"])
    evs = store.events(db, s["id"])
    print(summary_text(s, evs))
    out = Path(args.html) if args.html is not None else Path(db.path).parent / "reports" / ("%s.html" % s["id"])
    not_over(out, db.path, "the session database")
    replaceable(out, "a pod review report", lambda head: head.startswith(_DOCTYPE) and b"<title>Session " in head)
    with writing(out):
        if not args.html:  # the reports folder beside the database; a path given must exist
            out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(report_html(s, ivs, evs, store.list_sessions(db)))
    print("report: %s" % out)
    return 0
