"""The laptop's session store: one SQLite file, every synced session, its intervals and events.

    db = store.open_db()                    # default: <user data dir>/sessions.sqlite
    result = store.import_session(db, data, file_name="S000003-7f3a.pod")
    # -> "imported", "unchanged" (same id and content: nothing done) or "updated"
    for s in store.list_sessions(db): ...   # dicts, oldest first, with derived stats
    s = store.get_session(db, "S000003")    # a unique prefix of the id is enough
    store.intervals(db, s["id"]); store.events(db, s["id"])

Schema (``PRAGMA user_version`` holds SCHEMA_VERSION; ``open_db`` creates or upgrades)::

    sessions(id TEXT PRIMARY KEY, content_hash TEXT, file_name TEXT, size_bytes INTEGER,
             firmware TEXT, format_version INTEGER, start_epoch INTEGER NULL (NULL: the pod's
             clock was not set), start_ticks_ms INTEGER, interval_ms INTEGER, config_json TEXT,
             closed INTEGER (a FOOTER was found), end_reason TEXT NULL, duration_ms INTEGER,
             steps INTEGER, n_intervals INTEGER, alerts_low_cadence INTEGER,
             alerts_overstride INTEGER, gap_ms INTEGER, problem TEXT NULL (why the tail was
             cut), imported_utc INTEGER, raw BLOB (the file as synced, for re-parsing))
    intervals(session_id, idx, <every INTERVAL field of firmware/sessionlog.py>,
              PRIMARY KEY (session_id, idx))
    events(session_id, idx, t_offset_ms, kind TEXT, value, PRIMARY KEY (session_id, idx))

An import is one transaction (``BEGIN IMMEDIATE`` ... ``COMMIT``): a session is in the
store completely or not at all. It is idempotent by session id + SHA-256 of the bytes: the
same file again changes nothing; a different file with the same id replaces the stored one
only if it holds more good records (a session synced before it was closed, then again).
A database another program holds locked is a PodError, not a traceback.
"""

import hashlib
import json
import sqlite3
import time
from pathlib import Path

from . import paths
from .errors import PodError

SCHEMA_VERSION = 1
DB_NAME = "sessions.sqlite"

INTERVAL_FIELDS = ("t_offset_s", "dur_ms", "steps", "cadence_mean_x10", "cadence_min_x10", "cadence_max_x10",
                   "strikes_rear", "strikes_mid", "strikes_fore", "angle_mean_x10", "contact_mean_ms",
                   "overstrides", "target_ms", "run_ms", "alerts_low_cadence", "alerts_overstride", "flags",
                   "gap_ms")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY,
    content_hash TEXT NOT NULL,
    file_name TEXT,
    size_bytes INTEGER NOT NULL,
    firmware TEXT,
    format_version INTEGER,
    start_epoch INTEGER,
    start_ticks_ms INTEGER,
    interval_ms INTEGER,
    config_json TEXT,
    closed INTEGER NOT NULL,
    end_reason TEXT,
    duration_ms INTEGER NOT NULL,
    steps INTEGER NOT NULL,
    n_intervals INTEGER NOT NULL,
    n_records INTEGER NOT NULL,
    alerts_low_cadence INTEGER NOT NULL,
    alerts_overstride INTEGER NOT NULL,
    gap_ms INTEGER NOT NULL,
    problem TEXT,
    imported_utc INTEGER NOT NULL,
    raw BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS intervals (
    session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    idx INTEGER NOT NULL,
    %s,
    PRIMARY KEY (session_id, idx)
);
CREATE TABLE IF NOT EXISTS events (
    session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    idx INTEGER NOT NULL,
    t_offset_ms INTEGER NOT NULL,
    kind TEXT NOT NULL,
    value INTEGER NOT NULL,
    PRIMARY KEY (session_id, idx)
);
""" % ",\n    ".join("%s INTEGER" % f for f in INTERVAL_FIELDS)


class NotASession(PodError):
    """The bytes hold no valid session header: nothing can be imported."""


class _Db(sqlite3.Connection):
    """A connection that knows its file (for messages)."""

    path = None


def data_dir():
    """The user's data directory for podtools (created)."""
    import platformdirs

    d = Path(platformdirs.user_data_dir("podtools", appauthor=False))
    d.mkdir(parents=True, exist_ok=True)
    return d


def default_db_path():
    return data_dir() / DB_NAME


def _locked(path, exc):
    return PodError("the session database %s is locked by another program (another pod sync?): "
                    "try again when it has finished (%s)" % (path, exc))


def open_db(path=None, create=True):
    """Open (and create or upgrade) the store at ``path`` (default: the user data dir)."""
    path = Path(path) if path else default_db_path()
    if not create and (not path.exists() or (path.is_file() and path.stat().st_size == 0)):
        # (an empty file is left as it is: a command that only reads writes no schema into it)
        raise PodError("no session database at %s yet: run pod sync first" % path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise PodError("cannot create the folder for the session database %s (%s)" % (path, e.strerror)) from None
    try:
        db = sqlite3.connect(str(path), timeout=2.0, isolation_level=None, factory=_Db)  # explicit transactions
        db.path = str(path)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA foreign_keys = ON")
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version == 0 and db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
            raise PodError("%s is a database of something else, not pod sessions; it is left as it is: "
                           "give --db another file" % path)
        if version > SCHEMA_VERSION:
            raise PodError("the session database %s was written by newer podtools (schema %d > %d): update podtools"
                           % (path, version, SCHEMA_VERSION))
        if version < SCHEMA_VERSION:
            db.execute("BEGIN IMMEDIATE")
            for stmt in _SCHEMA.split(";"):
                if stmt.strip():
                    db.execute(stmt)
            db.execute("PRAGMA user_version = %d" % SCHEMA_VERSION)
            db.execute("COMMIT")
    except sqlite3.OperationalError as e:
        if "locked" in str(e) or "busy" in str(e):
            raise _locked(path, e) from None
        raise PodError("cannot open the session database %s: %s" % (path, e)) from None
    except sqlite3.DatabaseError as e:
        raise PodError("%s is not a session database (%s)" % (path, e)) from None
    return db


def parse(data):
    """``(header, intervals, events, footer, n_records, problem)`` of a session file's bytes."""
    paths.use_firmware()
    import sessionlog

    records, end, problem = sessionlog.parse_records(bytes(data))
    if problem is None and not records:
        problem = "empty file"
    if records and records[0]["type"] != "header":
        problem = "first record is not a header"
    if not records or records[0]["type"] != "header":
        return None, [], [], None, len(records), problem
    header = records[0]
    ivs = [r for r in records if r["type"] == "interval"]
    evs = [r for r in records if r["type"] == "event"]
    footer = next((r for r in records if r["type"] == "footer"), None)
    return header, ivs, evs, footer, len(records), problem


def import_session(db, data, file_name=None):
    """Import one session file's bytes in one transaction: "imported", "unchanged" or "updated".

    A session already stored is recognised by its id and its header record; a different
    session with the same id is stored beside it as ``ID~2`` (``~3``...).

    PodError if the file has no valid header (nothing is imported then). A file whose tail
    is damaged is imported up to the last good record, with ``problem`` set.
    """
    header, ivs, evs, footer, n_records, problem = parse(data)
    if header is None:
        raise NotASession("%s: not a session (%s)" % (file_name or "file", problem))
    sid = header["session_id"]
    digest = hashlib.sha256(data).hexdigest()
    try:
        db.execute("BEGIN IMMEDIATE")
        try:
            # The same id may come from another session: another pod, or a pod whose flash
            # was wiped (its counter starts again; 16 random bits do not always differ). The
            # same session starts with the same header record; another is kept beside it.
            rows = db.execute("SELECT id, content_hash, n_records, raw FROM sessions WHERE id = ? OR id LIKE ?",
                              (sid, sid + "~%")).fetchall()
            row = next((r for r in rows if parse(r["raw"])[0] == header), None)
            if row is not None:
                sid = row["id"]
            elif rows:
                sid = "%s~%d" % (sid, len(rows) + 1)
            if row is not None and (row["content_hash"] == digest or row["n_records"] >= n_records):
                db.execute("ROLLBACK")
                return "unchanged"
            if row is not None:
                db.execute("DELETE FROM sessions WHERE id = ?", (sid,))
            _insert(db, sid, digest, data, file_name, header, ivs, evs, footer, n_records, problem)
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
    except sqlite3.OperationalError as e:
        if "locked" in str(e) or "busy" in str(e):
            raise _locked(db.path, e) from None
        raise
    return "updated" if row is not None else "imported"


def _insert(db, sid, digest, data, file_name, header, ivs, evs, footer, n_records, problem):
    dur = footer["duration_ms"] if footer else (ivs[-1]["t_offset_s"] * 1000 + ivs[-1]["dur_ms"] if ivs else 0)
    steps = footer["steps"] if footer else sum(i["steps"] for i in ivs)
    low = footer["alerts_low_cadence"] if footer else sum(i["alerts_low_cadence"] for i in ivs)
    over = footer["alerts_overstride"] if footer else sum(i["alerts_overstride"] for i in ivs)
    gap = footer["gap_ms"] if footer else sum(i["gap_ms"] for i in ivs)
    cfg = header["config"] if header["config"] is not None else header.get("config_raw")
    db.execute(
        "INSERT INTO sessions (id, content_hash, file_name, size_bytes, firmware, format_version, start_epoch,"
        " start_ticks_ms, interval_ms, config_json, closed, end_reason, duration_ms, steps, n_intervals,"
        " n_records, alerts_low_cadence, alerts_overstride, gap_ms, problem, imported_utc, raw)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (sid, digest, file_name, len(data), header["firmware"], header["version"], header["start_epoch"],
         header["start_ticks_ms"], header["interval_ms"], json.dumps(cfg), int(footer is not None),
         footer["reason"] if footer else None, dur, steps, len(ivs), n_records, low, over, gap, problem,
         int(time.time()), sqlite3.Binary(bytes(data))))
    cols = ", ".join(INTERVAL_FIELDS)
    marks = ", ".join("?" for _ in INTERVAL_FIELDS)
    db.executemany("INSERT INTO intervals (session_id, idx, %s) VALUES (?, ?, %s)" % (cols, marks),
                   [(sid, k) + tuple(iv[f] for f in INTERVAL_FIELDS) for k, iv in enumerate(ivs)])
    db.executemany("INSERT INTO events (session_id, idx, t_offset_ms, kind, value) VALUES (?, ?, ?, ?, ?)",
                   [(sid, k, e["t_offset_ms"], e["kind"], e["value"]) for k, e in enumerate(evs)])


# ---- reading -----------------------------------------------------------------------------

_LIST_COLS = ("id, file_name, size_bytes, firmware, start_epoch, interval_ms, config_json, closed, end_reason,"
              " duration_ms, steps, n_intervals, n_records, alerts_low_cadence, alerts_overstride, gap_ms, problem,"
              " imported_utc, content_hash")


def _session_dict(db, row):
    s = dict(row)
    try:
        cfg = json.loads(s.pop("config_json") or "null")
    except ValueError:
        cfg = None
    s["config"] = cfg if isinstance(cfg, dict) else {}
    s.update(stats(intervals(db, s["id"]), s))
    return s


def _order_key(s):
    # sessions with a clock first by time; the id's counter orders the rest
    return (s["start_epoch"] if s["start_epoch"] is not None else s["imported_utc"], s["id"])


def list_sessions(db):
    """Every stored session as a dict (the sessions columns, ``config`` and ``stats``), oldest first."""
    rows = db.execute("SELECT %s FROM sessions" % _LIST_COLS).fetchall()
    return sorted((_session_dict(db, r) for r in rows), key=_order_key)


def get_session(db, ref):
    """The session whose id is ``ref`` or starts with it; PodError if none or several."""
    ref = ref.strip()
    if not ref:
        raise PodError("give a session id (pod sessions lists them)")
    try:
        ref.encode()
    except UnicodeEncodeError:  # bytes that are not UTF-8 on the command line: no id has them
        raise PodError("unknown session %r (pod sessions lists them)" % ref) from None
    rows = db.execute("SELECT %s FROM sessions WHERE id = ? OR id LIKE ? ESCAPE '\\'" % _LIST_COLS,
                      (ref, ref.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%")).fetchall()
    exact = [r for r in rows if r["id"] == ref]
    if exact:
        rows = exact
    if not rows:
        raise PodError("unknown session %r (pod sessions lists them)" % ref)
    if len(rows) > 1:
        raise PodError("%r matches %d sessions (%s): give more of the id"
                       % (ref, len(rows), ", ".join(r["id"] for r in rows[:5])))
    return _session_dict(db, rows[0])


def last_session(db):
    sessions = list_sessions(db)
    if not sessions:
        raise PodError("no sessions in %s yet: run pod sync" % db.path)
    return sessions[-1]


def intervals(db, sid):
    """The session's intervals, in order, up to its end.

    A session ends at its last footfall, whatever stopped it; the intervals written while
    the pod waited for another (empty) start at or after that end, and stay in the store
    (and its ``raw`` bytes) without being part of the run. The last one is cut at the end,
    and no interval runs, or is on target, longer than it lasts (the pod counts a burst of
    samples in the interval it is read in: up to 0.1 s past a boundary)."""
    rows = db.execute("SELECT %s, s.duration_ms AS session_ms FROM intervals AS i"
                      " JOIN sessions AS s ON s.id = i.session_id"
                      " WHERE i.session_id = ? AND i.t_offset_s * 1000 < s.duration_ms"
                      " ORDER BY i.idx" % ", ".join("i." + f for f in INTERVAL_FIELDS), (sid,)).fetchall()
    out = []
    for r in rows:
        iv = dict(r)
        left = iv.pop("session_ms") - iv["t_offset_s"] * 1000
        iv["dur_ms"] = min(iv["dur_ms"], left)
        iv["run_ms"] = min(iv["run_ms"], iv["dur_ms"])
        iv["target_ms"] = min(iv["target_ms"], iv["run_ms"])
        out.append(iv)
    return out


def events(db, sid):
    rows = db.execute("SELECT t_offset_ms, kind, value FROM events WHERE session_id = ? ORDER BY idx",
                      (sid,)).fetchall()
    return [dict(r) for r in rows]


def raw_bytes(db, sid):
    row = db.execute("SELECT raw FROM sessions WHERE id = ?", (sid,)).fetchone()
    return bytes(row[0]) if row else None


def stats(ivs, session=None):
    """Derived numbers of a session from its intervals (all None-safe):

    ``cadence_spm`` step-weighted mean cadence over intervals that have one; ``run_s``;
    ``target_share`` time in the target zone / time running; ``overstride_share``
    overstrides / footfalls of the pod's foot; ``strike_mix`` (rear, mid, fore) shares;
    ``angle_deg`` footfall-weighted mean strike angle; ``contact_ms`` mean contact time.

    The form figures are the run's: taken over the intervals spent mostly running (a
    warm-up or cool-down walk has its own cadence, heel strikes and long contacts), or
    over all of them when none was.
    """
    w_sum = c_sum = 0
    run_ms = target_ms = 0
    rear = mid = fore = over = 0
    a_sum = a_w = 0
    ct_sum = ct_w = 0
    for iv in ivs:
        run_ms += iv["run_ms"]
        target_ms += iv["target_ms"]
    running = [iv for iv in ivs if iv["run_ms"] * 2 >= iv["dur_ms"] > 0]
    for iv in running or ivs:
        if iv["cadence_mean_x10"] is not None and iv["steps"]:
            w_sum += iv["steps"]
            c_sum += iv["steps"] * iv["cadence_mean_x10"] / 10.0
        n = iv["strikes_rear"] + iv["strikes_mid"] + iv["strikes_fore"]
        rear += iv["strikes_rear"]
        mid += iv["strikes_mid"]
        fore += iv["strikes_fore"]
        over += iv["overstrides"]
        if iv["angle_mean_x10"] is not None and n:
            a_sum += n * iv["angle_mean_x10"] / 10.0
            a_w += n
        if iv["contact_mean_ms"] is not None and n:
            ct_sum += n * iv["contact_mean_ms"]
            ct_w += n
    foot = rear + mid + fore
    return {
        "cadence_spm": c_sum / w_sum if w_sum else None,
        "run_s": run_ms / 1000.0,
        "target_share": target_ms / run_ms if run_ms else None,
        "footfalls": foot,
        "overstride_share": over / foot if foot else None,
        "strike_mix": (rear / foot, mid / foot, fore / foot) if foot else None,
        "angle_deg": a_sum / a_w if a_w else None,
        "contact_ms": ct_sum / ct_w if ct_w else None,
    }


def target_band(config):
    """``(low, target)`` spm of a session's config snapshot (defaults when it has none)."""
    paths.use_firmware()
    import podconfig

    d = podconfig.defaults()
    target = config.get("target_spm", d["target_spm"]) if config else d["target_spm"]
    tol = config.get("cadence_tolerance_spm", d["cadence_tolerance_spm"]) if config else d["cadence_tolerance_spm"]
    return target - tol, target
