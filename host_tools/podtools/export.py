"""pod export: a synced session as CSV (one row per interval) or as a FIT activity.

    pod export SESSION --format csv|fit [--out PATH] [--db PATH]

CSV columns: ``t_start_s, dur_s, steps, cadence_spm, cadence_min_spm, cadence_max_spm,
strikes_rear, strikes_mid, strikes_fore, strike_angle_deg, contact_ms, overstrides,
target_s, run_s, alerts_low_cadence, alerts_overstride, gap_s``; empty where the pod had no
footfall to measure.

FIT (written with fit-tool): file id (activity), a timer start event, one record per
interval (timestamp at the interval's end) with cadence in FIT's unit, *strides* per
minute: ``cadence`` is the whole part and ``fractional_cadence`` the rest, so 180 steps
per minute is written as 90 (uploads to Strava or Garmin Connect show 180 spm, not 360),
and ``stance_time`` (ms) from the mean ground contact time; a lap, a session (running,
totals, average cadence and stance time, total strides) and the activity message.
Timestamps need a wall clock: a session recorded before the pod's clock was set gets the
time it was imported, minus its duration, and a warning.
"""

import csv
import datetime
import sys
import time
from pathlib import Path

from . import store
from .errors import PodError, not_over, replaceable, writing

CSV_COLUMNS = ("t_start_s", "dur_s", "steps", "cadence_spm", "cadence_min_spm", "cadence_max_spm", "strikes_rear",
               "strikes_mid", "strikes_fore", "strike_angle_deg", "contact_ms", "overstrides", "target_s", "run_s",
               "alerts_low_cadence", "alerts_overstride", "gap_s")

_FIT_EPOCH_S = 631065600  # 1989-12-31 00:00 UTC in Unix seconds


def add_arguments(p):
    p.add_argument("session", help="session id or a unique prefix (pod sessions lists them)")
    p.add_argument("--format", choices=("csv", "fit"), required=True)
    p.add_argument("--out", metavar="PATH", help="output file (default: ID.csv or ID.fit here)")
    p.add_argument("--db", help="session database (default: sessions.sqlite in the user data dir)")


def _x10(v):
    return "" if v is None else "%.1f" % (v / 10.0)


def csv_rows(ivs):
    for iv in ivs:
        yield {"t_start_s": iv["t_offset_s"], "dur_s": "%.1f" % (iv["dur_ms"] / 1000.0), "steps": iv["steps"],
               "cadence_spm": _x10(iv["cadence_mean_x10"]), "cadence_min_spm": _x10(iv["cadence_min_x10"]),
               "cadence_max_spm": _x10(iv["cadence_max_x10"]), "strikes_rear": iv["strikes_rear"],
               "strikes_mid": iv["strikes_mid"], "strikes_fore": iv["strikes_fore"],
               "strike_angle_deg": _x10(iv["angle_mean_x10"]),
               "contact_ms": "" if iv["contact_mean_ms"] is None else iv["contact_mean_ms"],
               "overstrides": iv["overstrides"], "target_s": "%.1f" % (iv["target_ms"] / 1000.0),
               "run_s": "%.1f" % (iv["run_ms"] / 1000.0), "alerts_low_cadence": iv["alerts_low_cadence"],
               "alerts_overstride": iv["alerts_overstride"], "gap_s": "%.1f" % (iv["gap_ms"] / 1000.0)}


def write_csv(path, ivs):
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=CSV_COLUMNS)
        w.writeheader()
        for row in csv_rows(ivs):
            w.writerow(row)


def strides(spm):
    """FIT cadence of a step rate: ``(cadence, fractional_cadence)`` in strides per minute."""
    half = spm / 2.0
    whole = int(half)
    return whole, round(half - whole, 3)


def start_ms(s):
    """Unix milliseconds of the session start; (ms, True) if estimated from the import time."""
    if s["start_epoch"] is not None:
        return s["start_epoch"] * 1000, False
    return (s["imported_utc"] * 1000) - s["duration_ms"], True


def fit_bytes(s, ivs):
    from fit_tool.fit_file_builder import FitFileBuilder
    from fit_tool.profile.messages.activity_message import ActivityMessage
    from fit_tool.profile.messages.event_message import EventMessage
    from fit_tool.profile.messages.file_id_message import FileIdMessage
    from fit_tool.profile.messages.lap_message import LapMessage
    from fit_tool.profile.messages.record_message import RecordMessage
    from fit_tool.profile.messages.session_message import SessionMessage
    from fit_tool.profile.profile_type import (
        Activity,
        Event,
        EventType,
        FileType,
        Manufacturer,
        Sport,
        SubSport,
    )

    t0, _ = start_ms(s)
    end = t0 + s["duration_ms"]
    b = FitFileBuilder(auto_define=True, min_string_size=50)
    fid = FileIdMessage()
    fid.type = FileType.ACTIVITY
    fid.manufacturer = Manufacturer.DEVELOPMENT.value
    fid.product = 1
    fid.time_created = t0
    fid.serial_number = int(s["id"][1:7]) if s["id"][1:7].isdigit() else 1
    b.add(fid)
    def timer(event_type, timestamp):
        ev = EventMessage()
        ev.event = Event.TIMER
        ev.event_type = event_type
        ev.timestamp = timestamp
        b.add(ev)

    timer(EventType.START, t0)
    for iv in ivs:
        rec = RecordMessage()
        # at the interval's end (store.intervals cuts the last one at the session's end)
        rec.timestamp = t0 + iv["t_offset_s"] * 1000 + iv["dur_ms"]
        if iv["cadence_mean_x10"] is not None:
            rec.cadence, rec.fractional_cadence = strides(iv["cadence_mean_x10"] / 10.0)
        if iv["contact_mean_ms"] is not None:
            rec.stance_time = float(iv["contact_mean_ms"])
        b.add(rec)
    timer(EventType.STOP_ALL, end)
    elapsed = s["duration_ms"] / 1000.0
    cad = s["cadence_spm"]
    lap = LapMessage()
    lap.timestamp = end
    lap.start_time = t0
    lap.total_elapsed_time = elapsed
    lap.total_timer_time = elapsed
    if cad is not None:
        lap.avg_cadence, lap.avg_fractional_cadence = strides(cad)
    b.add(lap)
    ses = SessionMessage()
    ses.timestamp = end
    ses.start_time = t0
    ses.sport = Sport.RUNNING
    ses.sub_sport = SubSport.GENERIC
    ses.total_elapsed_time = elapsed
    ses.total_timer_time = elapsed
    ses.total_strides = s["steps"] // 2
    if cad is not None:
        ses.avg_cadence, ses.avg_fractional_cadence = strides(cad)
    if s["contact_ms"] is not None:
        ses.avg_stance_time = float(s["contact_ms"])
    ses.first_lap_index = 0
    ses.num_laps = 1
    b.add(ses)
    act = ActivityMessage()
    act.timestamp = end
    act.total_timer_time = elapsed
    act.num_sessions = 1
    act.type = Activity.MANUAL
    act.event = Event.ACTIVITY
    act.event_type = EventType.STOP
    # local_timestamp is a FIT local_date_time: seconds since 1989-12-31 00:00 in local time
    offset_s = int(datetime.datetime.fromtimestamp(end / 1000).astimezone().utcoffset().total_seconds())
    act.local_timestamp = end // 1000 + offset_s - _FIT_EPOCH_S
    b.add(act)
    return b.build().to_bytes()


def run(args):
    db = store.open_db(args.db, create=False)
    s = store.get_session(db, args.session)
    ivs = store.intervals(db, s["id"])
    out = Path(args.out) if args.out else Path("%s.%s" % (s["id"], args.format))
    other = {"csv": ".fit", "fit": ".csv"}[args.format]
    if out.suffix.lower() == other:  # most likely a forgotten --format: refuse before writing
        raise PodError("--out %s ends in %s but --format is %s" % (out, other, args.format))
    if args.format == "fit" and start_ms(s)[1]:
        print("warning: the pod's clock was not set during %s; times are estimated from when it was "
              "synced (%s)" % (s["id"], time.strftime("%Y-%m-%d %H:%M", time.localtime(s["imported_utc"]))),
              file=sys.stderr)
    not_over(out, db.path, "the session database")
    if args.format == "csv":
        replaceable(out, "a CSV export", lambda head: head.startswith(",".join(CSV_COLUMNS).encode()))
    else:
        replaceable(out, "a FIT file", lambda head: head[8:12] == b".FIT")
    with writing(out):
        if args.format == "csv":
            write_csv(out, ivs)
        else:
            out.write_bytes(fit_bytes(s, ivs))
    print("%s: %d interval(s) of %s" % (out, len(ivs), s["id"]))
    return 0
