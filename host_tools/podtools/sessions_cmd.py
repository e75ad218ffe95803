"""pod sessions: the synced sessions as a table, oldest first.

    pod sessions [--db PATH]

Columns: id, date (local time; "clock not set" when the pod's RTC had not been set),
duration, steps, mean cadence (spm, both feet), time in the target zone (share of the
time running), overstride share (of the pod foot's footfalls) and strike mix
(rearfoot/midfoot/forefoot %). A ``*`` after the id: the session has no footer (the pod
lost power or was interrupted) or a damaged tail.
"""

import datetime

from . import store


def add_arguments(p):
    p.add_argument("--db", help="session database (default: sessions.sqlite in the user data dir)")


def fmt_date(epoch):
    if epoch is None:
        return "clock not set"
    return datetime.datetime.fromtimestamp(epoch).strftime("%Y-%m-%d %H:%M")


def fmt_duration(ms):
    s = int(round(ms / 1000.0))
    return "%d:%02d:%02d" % (s // 3600, s // 60 % 60, s % 60)


def pct(x):
    return "-" if x is None else "%.0f%%" % (100 * x)


def fmt_mix(mix):
    return "-" if mix is None else "%.0f/%.0f/%.0f" % tuple(100 * m for m in mix)


def table(sessions):
    head = ("session", "date", "duration", "steps", "cadence", "in zone", "overstride", "strike R/M/F")
    rows = [head]
    for s in sessions:
        flag = "" if s["closed"] and not s["problem"] else "*"
        rows.append((s["id"] + flag, fmt_date(s["start_epoch"]), fmt_duration(s["duration_ms"]), str(s["steps"]),
                     "-" if s["cadence_spm"] is None else "%.0f" % s["cadence_spm"], pct(s["target_share"]),
                     pct(s["overstride_share"]), fmt_mix(s["strike_mix"])))
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = []
    for r in rows:
        lines.append("  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))))
    return "\n".join(lines)


def run(args):
    db = store.open_db(args.db, create=False)
    sessions = store.list_sessions(db)
    if not sessions:
        print("no sessions in %s yet: run pod sync" % db.path)
        return 0
    print(table(sessions))
    if any(not s["closed"] or s["problem"] for s in sessions):
        print("* not closed by the pod (power cut, or still under way at sync) or damaged: "
              "its records up to there are kept; pod review SESSION says which")
    print("%d session(s) in %s" % (len(sessions), db.path))
    return 0
