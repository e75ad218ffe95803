"""Session store, sessions table, review report and export, on synthetic sessions (no pod).

Sessions are written with the pod's own ``sessionlog.SessionWriter`` into a temporary
directory, so the bytes are exactly what a pod writes; ``make_session`` is shared with
tests/test_host_tools.py, which puts such files on a virtual pod.
"""

import base64
import csv
import io
import re
import sqlite3
from pathlib import Path

import podconfig
import pytest
import sessionlog

from podtools import cli, export, review, store, sync
from podtools.errors import PodError

EPOCH = 1_750_000_000  # 2025-06-15


def make_session(dirpath, counter, minutes=5, spm=(168, 182), epoch=EPOCH, closed=True, target=180):
    """Write one session file; returns its path. Cadence ramps over ``spm``; every 4th interval
    has an overstride, low-cadence alerts while below target - 5."""
    sid = "S%06d-%04x" % (counter, (0x1a2b + counter) & 0xFFFF)
    cfg = podconfig.defaults()
    cfg["target_spm"] = target
    w = sessionlog.SessionWriter(str(dirpath), sid, {"firmware": "0.test", "config": cfg, "start_epoch": epoch,
                                                     "start_ticks_ms": 1234, "interval_ms": 10000})
    n = minutes * 6
    for k in range(n):
        cad = spm[0] + (spm[1] - spm[0]) * k / max(n - 1, 1)
        steps = int(round(cad / 6))
        foot = steps // 2
        low = cad < target - 5 and k % 6 == 0
        w.interval({"t_offset_s": 10 * k, "dur_ms": 10000, "steps": steps, "cadence_mean_x10": int(cad * 10),
                    "cadence_min_x10": int(cad * 10) - 30, "cadence_max_x10": int(cad * 10) + 30,
                    "strikes_rear": foot // 2, "strikes_mid": foot - foot // 2 - 1, "strikes_fore": 1,
                    "angle_mean_x10": 60 + (k % 5) * 10, "contact_mean_ms": 260 - k % 20,
                    "overstrides": 1 if k % 4 == 0 else 0, "target_ms": 10000 if cad >= target - 5 else 0,
                    "run_ms": 10000, "alerts_low_cadence": int(low), "alerts_overstride": int(k % 12 == 0)})
        if low:
            w.event(10000 * k + 500, "low_cadence", int(cad * 10))
        if k % 12 == 0:
            w.event(10000 * k + 700, "overstride", 180)
    if closed:
        w.close({"reason": "idle"})
    else:
        w.abandon()
    return dirpath / (sid + ".pod")


@pytest.fixture
def db(tmp_path):
    return store.open_db(tmp_path / "db" / "sessions.sqlite")


def test_import_is_idempotent_and_complete(tmp_path, db):
    path = make_session(tmp_path, 1, minutes=5)
    data = path.read_bytes()
    assert store.import_session(db, data, path.name) == "imported"
    assert store.import_session(db, data, path.name) == "unchanged"
    (s,) = store.list_sessions(db)
    assert s["id"] == "S000001-1a2c" and s["closed"] == 1 and s["problem"] is None
    assert s["n_intervals"] == 30 and len(store.intervals(db, s["id"])) == 30
    assert s["steps"] == sum(iv["steps"] for iv in store.intervals(db, s["id"]))
    assert s["start_epoch"] == EPOCH and s["config"]["target_spm"] == 180
    assert 168 <= s["cadence_spm"] <= 182
    assert s["overstride_share"] == pytest.approx(8 / s["footfalls"])
    assert sum(s["strike_mix"]) == pytest.approx(1.0)
    assert store.raw_bytes(db, s["id"]) == data
    kinds = [e["kind"] for e in store.events(db, s["id"])]
    assert "low_cadence" in kinds and "overstride" in kinds
    assert store.get_session(db, "S000001")["id"] == s["id"]  # a prefix is enough


def test_a_session_synced_before_its_footer_is_updated_once_complete(tmp_path, db):
    full = make_session(tmp_path, 2, minutes=2).read_bytes()
    records, _, _ = sessionlog.parse_records(full)
    cut = records[-3]["offset"]  # as if synced while the pod was still recording
    assert store.import_session(db, full[:cut], "x.pod") == "imported"
    assert store.list_sessions(db)[0]["closed"] == 0
    assert store.import_session(db, full, "x.pod") == "updated"
    assert store.import_session(db, full[:cut], "x.pod") == "unchanged"  # never goes back
    (s,) = store.list_sessions(db)
    assert s["closed"] == 1 and s["n_intervals"] == 12
    assert db.execute("SELECT COUNT(*) FROM intervals").fetchone()[0] == 12


def test_two_sessions_with_one_id_are_both_kept(tmp_path, db):
    # Two pods (or one whose flash was wiped) can both write S000001-1a2c: 16 random bits do
    # not always differ. Neither may replace the other, and a re-sync changes nothing.
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = make_session(tmp_path / "a", 1, minutes=2, epoch=EPOCH)
    b = make_session(tmp_path / "b", 1, minutes=3, epoch=EPOCH + 86400)
    assert a.name == b.name
    assert store.import_session(db, a.read_bytes(), a.name) == "imported"
    assert store.import_session(db, b.read_bytes(), b.name) == "imported"
    assert store.import_session(db, a.read_bytes(), a.name) == "unchanged"
    assert store.import_session(db, b.read_bytes(), b.name) == "unchanged"
    sid = a.name[:-4]
    got = {s["id"]: s["n_intervals"] for s in store.list_sessions(db)}
    assert got == {sid: 12, sid + "~2": 18}
    assert store.get_session(db, sid)["n_intervals"] == 12  # the exact id wins over ~2


def test_verdicts_torn_tail_versus_corruption(tmp_path):
    data = make_session(tmp_path, 3, minutes=1).read_bytes()
    assert sync.verdict(data) == ("ok", None)
    assert sync.verdict(data[:-7])[0] == "torn"
    bad = bytearray(data)
    bad[len(bad) // 2] ^= 0x55
    kind, problem = sync.verdict(bytes(bad))
    assert kind == "corrupt" and "offset" in problem
    assert sync.verdict(b"\x00" * 40)[0] == "corrupt"
    with pytest.raises(PodError, match="not a session"):
        store.import_session(store.open_db(tmp_path / "x.sqlite"), b"\x00" * 40, "junk.pod")


def test_locked_database_is_a_one_line_error(tmp_path, db, capsys):
    other = sqlite3.connect(db.path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(PodError, match="locked by another program"):
            store.import_session(db, make_session(tmp_path, 4, minutes=1).read_bytes())
        assert cli.main(["sessions", "--db", db.path]) == 1
        assert re.match(r"pod: the session database .* is locked", capsys.readouterr().err)
    finally:
        other.execute("ROLLBACK")


def test_a_database_that_is_not_ours_is_left_alone(tmp_path, db, capsys):
    other = tmp_path / "other.sqlite"
    con = sqlite3.connect(str(other))
    con.execute("CREATE TABLE foo (x)")
    con.commit()
    con.close()
    assert cli.main(["sessions", "--db", str(other)]) == 1
    assert capsys.readouterr().err == ("pod: %s is a database of something else, not pod sessions; it is left as "
                                       "it is: give --db another file\n" % other)
    con = sqlite3.connect(str(other))
    assert con.execute("SELECT name FROM sqlite_master").fetchall() == [("foo",)]
    assert con.execute("PRAGMA user_version").fetchone()[0] == 0
    con.close()
    # an empty file: a command that only reads it does not make it a database
    empty = tmp_path / "empty.sqlite"
    empty.write_bytes(b"")
    assert cli.main(["sessions", "--db", str(empty)]) == 1
    assert capsys.readouterr().err == "pod: no session database at %s yet: run pod sync first\n" % empty
    assert empty.read_bytes() == b""
    # ours, with a damaged page: one line, not a traceback
    store.import_session(db, make_session(tmp_path, 1, minutes=30).read_bytes())
    db.close()
    data = bytearray(Path(db.path).read_bytes())
    data[4096:] = b"\x07" * (len(data) - 4096)  # every page after the schema
    Path(db.path).write_bytes(bytes(data))
    assert cli.main(["sessions", "--db", db.path]) == 1
    err = capsys.readouterr().err
    assert err.startswith("pod: ") and err.count("\n") == 1, err
    # a folder for the database that cannot be made
    (tmp_path / "afile").write_text("")
    with pytest.raises(PodError, match="cannot create the folder for the session database"):
        store.open_db(tmp_path / "afile" / "s.sqlite")


def test_sessions_table_and_unknown_session(tmp_path, db, capsys):
    for k in (1, 2):
        store.import_session(db, make_session(tmp_path, k, minutes=3, epoch=EPOCH + k * 86400).read_bytes())
    assert cli.main(["sessions", "--db", db.path]) == 0
    out = capsys.readouterr().out
    assert "S000001-1a2c" in out and "S000002-1a2d" in out and "0:03:00" in out and "2 session(s)" in out
    assert re.search(r"in zone\s+overstride\s+strike R/M/F", out)
    assert cli.main(["review", "S009", "--db", db.path]) == 1
    assert capsys.readouterr().err.strip() == "pod: unknown session 'S009' (pod sessions lists them)"
    assert cli.main(["export", "S00000", "--format", "csv", "--db", db.path]) == 1
    assert "matches 2 sessions" in capsys.readouterr().err
    assert cli.main(["export", "S\udcff", "--format", "csv", "--db", db.path]) == 1  # a non-UTF-8 byte
    assert capsys.readouterr().err.strip() == "pod: unknown session 'S\\udcff' (pod sessions lists them)"
    assert cli.main(["review", "", "--db", db.path]) == 1  # an empty id is not a prefix of all
    assert capsys.readouterr().err.strip() == "pod: give a session id (pod sessions lists them)"


def test_an_output_path_that_cannot_be_written_is_a_one_line_error(tmp_path, db, capsys):
    store.import_session(db, make_session(tmp_path, 1, minutes=3, epoch=EPOCH).read_bytes())
    nowhere = tmp_path / "no" / "such" / "dir"
    for argv in (["export", "S000001", "--format", "csv", "--out", str(nowhere / "x.csv")],
                 ["export", "S000001", "--format", "fit", "--out", str(tmp_path)],  # a directory
                 ["review", "--last", "--html", str(nowhere / "r.html")]):
        capsys.readouterr()
        assert cli.main(argv + ["--db", db.path]) == 1, argv
        err = capsys.readouterr().err
        assert err.startswith("pod: cannot write ") and err.count("\n") == 1, err
    assert not (tmp_path / "no").exists()  # nothing created on the way


def test_an_output_path_that_is_the_database_is_refused(tmp_path, db, capsys):
    # A slip of the keyboard (--out where --db was meant) wrote the report or the export
    # over the session database: every session gone, and the pod had marked them synced.
    store.import_session(db, make_session(tmp_path, 1, minutes=3, epoch=EPOCH).read_bytes())
    kept = Path(db.path).read_bytes()
    for argv in (["export", "S000001", "--format", "csv", "--out", db.path],
                 ["review", "--last", "--html", db.path]):
        capsys.readouterr()
        assert cli.main(argv + ["--db", db.path]) == 1, argv
        err = capsys.readouterr().err
        assert err == "pod: %s is the session database: it would be overwritten; write somewhere else\n" % db.path
    assert Path(db.path).read_bytes() == kept


def test_sync_to_a_database_in_a_folder_that_does_not_exist_is_refused(tmp_path, capsys):
    # A mistyped --db would become a stray database: the sessions would go there and be
    # marked synced on the pod, and the right one would never get them.
    db = tmp_path / "runs" / "sessions.sqlite"
    assert cli.main(["sync", "--db", str(db), "--port", str(tmp_path / "no-pod")]) == 1
    assert capsys.readouterr().err == "pod: --db %s: the folder %s does not exist\n" % (db, db.parent)
    assert not db.parent.exists()
    # a file named as sync's own work folder beside the database is said before the pod is read
    (tmp_path / "partial").write_text("mine")
    assert cli.main(["sync", "--db", str(tmp_path / "s.sqlite"), "--port", str(tmp_path / "no-pod")]) == 1
    assert "partial is a file, where pod sync keeps a folder of its own" in capsys.readouterr().err


def test_an_output_path_holding_another_file_is_refused(tmp_path, db, capsys):
    # Only an earlier output of the same kind is written over: a recording, another
    # database or anyone's notes under that name are kept.
    store.import_session(db, make_session(tmp_path, 1, minutes=3, epoch=EPOCH).read_bytes())
    other_db = tmp_path / "other.sqlite"
    other_db.write_bytes(Path(db.path).read_bytes())
    run = tmp_path / "run.csv"
    run.write_text("# pod-imu 1\n# rate_hz=200 accel_fs_g=16 gyro_fs_dps=2000\nt_us,ax,ay,az,gx,gy,gz\n")
    for argv, out, what in ((["export", "S000001", "--format", "csv", "--out"], run, "a CSV export"),
                            (["export", "S000001", "--format", "fit", "--out"], other_db, "a FIT file"),
                            (["review", "--last", "--html"], other_db, "a pod review report")):
        kept = out.read_bytes()
        capsys.readouterr()
        assert cli.main(argv + [str(out), "--db", db.path]) == 1, argv
        assert capsys.readouterr().err == ("pod: %s exists and is not %s: not overwritten (remove it or write "
                                           "somewhere else)\n" % (out, what))
        assert out.read_bytes() == kept
    assert cli.main(["review", "--last", "--html", "", "--db", db.path]) == 1
    assert capsys.readouterr().err.startswith("pod: --html needs a file name")
    for argv, name in ((["export", "S000001", "--format", "csv", "--out"], "x.csv"),
                       (["export", "S000001", "--format", "fit", "--out"], "x.fit"),
                       (["review", "--last", "--html"], "x.html")):
        for _ in range(2):  # the second time over the first one's output
            assert cli.main(argv + [str(tmp_path / name), "--db", db.path]) == 0, argv


def _pngs(html_text):
    return [base64.b64decode(m) for m in re.findall(r"src='data:image/png;base64,([A-Za-z0-9+/=]+)'", html_text)]


def test_review_writes_an_offline_report_with_images(tmp_path, db, capsys):
    import matplotlib.image

    for k in (1, 2, 3):
        store.import_session(db, make_session(tmp_path, k, minutes=4, spm=(160 + 5 * k, 175 + 3 * k),
                                              epoch=EPOCH + k * 86400).read_bytes())
    out = tmp_path / "report.html"
    assert cli.main(["review", "--last", "--html", str(out), "--db", db.path]) == 0
    text = capsys.readouterr().out
    assert text.startswith("session S000003-1a2e") and "report: %s" % out in text
    page = out.read_text()
    assert "http://" not in page and "https://" not in page and "<script" not in page  # opens offline
    pngs = _pngs(page)
    assert len(pngs) == 4
    for png in pngs:
        img = matplotlib.image.imread(io.BytesIO(png), format="png")
        assert img.shape[0] > 100 and img.shape[1] > 300
    assert "overstride" in page and "Trends" in page


def test_review_of_a_session_without_clock_or_footfalls(tmp_path, db):
    sid = "S000007-0001"
    w = sessionlog.SessionWriter(str(tmp_path), sid, {"firmware": "x", "config": "{bad json", "start_epoch": None})
    w.interval({"t_offset_s": 0, "dur_ms": 10000})  # no footfall: every measure is None
    w.abandon()
    store.import_session(db, (tmp_path / (sid + ".pod")).read_bytes())
    s = store.get_session(db, sid)
    assert s["cadence_spm"] is None and s["strike_mix"] is None and s["start_epoch"] is None
    page = review.report_html(s, store.intervals(db, sid), store.events(db, sid), store.list_sessions(db))
    assert len(_pngs(page)) == 4 and "clock not set" in page
    assert review.summary_text(s, []).count("\n") >= 4


def test_export_csv_per_interval(tmp_path, db):
    store.import_session(db, make_session(tmp_path, 5, minutes=2).read_bytes())
    out = tmp_path / "s.csv"
    assert cli.main(["export", "S000005", "--format", "csv", "--out", str(out), "--db", db.path]) == 0
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 12 and list(rows[0]) == list(export.CSV_COLUMNS)
    assert rows[0]["cadence_spm"] == "168.0" and rows[0]["t_start_s"] == "0" and rows[1]["t_start_s"] == "10"


def test_export_refuses_an_out_name_of_the_other_format(tmp_path, db, capsys):
    store.import_session(db, make_session(tmp_path, 7, minutes=1).read_bytes())
    for fmt, name in (("fit", "s.csv"), ("csv", "s.FIT")):
        assert cli.main(["export", "S000007", "--format", fmt, "--out", str(tmp_path / name), "--db", db.path]) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "but --format is %s" % fmt in err
        assert not (tmp_path / name).exists()


def test_review_names_the_file_in_the_way_of_its_reports_folder(tmp_path, db, capsys):
    store.import_session(db, make_session(tmp_path, 8, minutes=1).read_bytes())
    blocker = Path(db.path).parent / "reports"
    blocker.write_text("not a folder")
    assert cli.main(["review", "--last", "--db", db.path]) == 1
    err = capsys.readouterr().err
    assert err.startswith("pod: cannot write ") and "(%s: " % blocker in err and err.count("\n") == 1
    assert blocker.read_text() == "not a folder"  # nothing stored is touched


def test_fit_export_decodes_with_cadence_in_strides(tmp_path, db):
    from garmin_fit_sdk import Decoder, Stream

    store.import_session(db, make_session(tmp_path, 6, minutes=2, spm=(180, 181)).read_bytes())
    out = tmp_path / "s.fit"
    assert cli.main(["export", "S000006", "--format", "fit", "--out", str(out), "--db", db.path]) == 0
    data = bytearray(out.read_bytes())
    assert Decoder(Stream.from_byte_array(data)).check_integrity()
    messages, errors = Decoder(Stream.from_byte_array(data)).read()
    assert errors == []
    records = messages["record_mesgs"]
    assert len(records) == 12
    assert records[0]["cadence"] == 90 and records[0]["fractional_cadence"] == 0  # 180 spm = 90 strides/min
    assert records[-1]["cadence"] == 90 and records[-1]["fractional_cadence"] == pytest.approx(0.5, abs=0.01)
    assert records[0]["stance_time"] == pytest.approx(260)
    (ses,) = messages["session_mesgs"]
    assert ses["sport"] == "running" and ses["avg_cadence"] == 90 and ses["total_elapsed_time"] == 120
    assert ses["start_time"].timestamp() == EPOCH
    assert messages["file_id_mesgs"][0]["type"] == "activity"
    assert len(messages["activity_mesgs"]) == 1 and len(messages["lap_mesgs"]) == 1


def test_the_form_figures_are_the_runs_not_the_cool_down_walks(tmp_path, db):
    sid = "S000009-0009"
    w = sessionlog.SessionWriter(str(tmp_path), sid, {"firmware": "0.test", "config": podconfig.defaults(),
                                                      "start_epoch": EPOCH, "start_ticks_ms": 0, "interval_ms": 10000})
    for k in range(12):
        run = k < 6  # a minute of running at 176 spm, then a minute of walking at 110
        w.interval({"t_offset_s": 10 * k, "dur_ms": 10000, "steps": 29 if run else 18,
                    "cadence_mean_x10": 1760 if run else 1100, "cadence_min_x10": 1700, "cadence_max_x10": 1800,
                    "strikes_rear": 2 if run else 9, "strikes_mid": 12 if run else 0, "strikes_fore": 0,
                    "angle_mean_x10": 30 if run else 180, "contact_mean_ms": 250 if run else 650,
                    "overstrides": 0 if run else 9, "target_ms": 10000 if run else 0,
                    "run_ms": 10000 if run else 0})
    w.close({"reason": "idle"})
    store.import_session(db, (tmp_path / (sid + ".pod")).read_bytes())
    s = store.get_session(db, sid)
    assert s["cadence_spm"] == pytest.approx(176) and s["overstride_share"] == 0
    assert s["contact_ms"] == pytest.approx(250) and s["strike_mix"][1] == pytest.approx(12 / 14)
    assert s["run_s"] == 60 and s["target_share"] == 1


def test_a_session_stopped_for_idleness_ends_at_its_last_footfall(tmp_path, db, capsys):
    # The pod waited 20 s for another footfall before it stopped the session: the two
    # intervals of that wait were written (empty) but lie past the footer's duration.
    from garmin_fit_sdk import Decoder, Stream

    sid = "S000010-000a"
    w = sessionlog.SessionWriter(str(tmp_path), sid, {"firmware": "0.test", "config": podconfig.defaults(),
                                                      "start_epoch": EPOCH, "start_ticks_ms": 0, "interval_ms": 10000})
    for k in range(5):
        run = k < 3
        w.interval({"t_offset_s": 10 * k, "dur_ms": 10000, "steps": 29 if run else 0,
                    "cadence_mean_x10": 1760 if run else None, "strikes_mid": 14 if run else 0,
                    "run_ms": 10000 if k < 2 else (5000 if run else 0)})
    w.close({"reason": "idle", "duration_ms": 25000})
    store.import_session(db, (tmp_path / (sid + ".pod")).read_bytes())
    assert [iv["t_offset_s"] for iv in store.intervals(db, sid)] == [0, 10, 20]
    s = store.get_session(db, sid)
    assert s["duration_ms"] == 25000 and s["run_s"] == 25 and s["steps"] == 87
    out = tmp_path / "s.fit"
    assert cli.main(["export", sid, "--format", "fit", "--out", str(out), "--db", db.path]) == 0
    messages, errors = Decoder(Stream.from_byte_array(bytearray(out.read_bytes()))).read()
    assert errors == [] and len(messages["record_mesgs"]) == 3
    assert messages["session_mesgs"][0]["total_elapsed_time"] == 25
    assert max(r["timestamp"] for r in messages["record_mesgs"]) <= messages["session_mesgs"][0]["timestamp"]
    assert cli.main(["sessions", "--db", db.path]) == 0
    assert "0:25" in capsys.readouterr().out
