"""Every pod subcommand against the virtual pod, through the real mpremote transport.

Each test starts its own virtual pod (a MicroPython unix-port process behind a pty) and
flashes the real firmware onto it with ``pod flash``: as x64 .mpy, since the unix port
cannot load the ESP32's xtensawin code. Session files are written on the host with the
pod's own SessionWriter (tests/test_host_store.make_session) and copied to the pod's
/sessions, so these tests do not depend on the main loop producing a run.

The slow ones (several pod boots, a cut connection) are marked ``slow_pod`` in their name.
"""

import hashlib
import json
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import serial
from test_host_store import make_session

from podtools import capture, cli, device, store
from podtools.errors import PodError
from podtools.vpod import VirtualPod

POD = str(Path(sys.executable).with_name("pod"))


@pytest.fixture(autouse=True)
def _no_env_port(monkeypatch):
    monkeypatch.delenv("POD_PORT", raising=False)


def flash(vp, capsys=None):
    assert cli.main(["flash", "--port", vp.port, "--board", "lolin_d32"]) == 0


def put_sessions(vp, files):
    with device.connect(vp.port) as pod:
        pod.mkdir("/sessions")
        for f in files:
            pod.write_file("/sessions/" + f.name, f.read_bytes())


def pod_names(vp):
    with device.connect(vp.port) as pod:
        return sorted(n for n, _, _ in pod.listdir("/sessions"))


def test_flash_then_check_reports_nothing_to_do(tmp_path, capsys):
    with VirtualPod(speed=1) as vp:
        flash(vp)
        out = capsys.readouterr().out
        assert "board lolin_d32, mpy-x64" in out and "verified" in out
        assert cli.main(["flash", "--port", vp.port, "--check"]) == 0
        assert "is up to date" in capsys.readouterr().out
        with device.connect(vp.port) as pod:
            names = {n for n, _, _ in pod.listdir("/")}
            assert {"main.py", "boot.py", "board.py", "gait.mpy", "app.mpy", "pod_version.json"} <= names
            assert "gait.py" not in names
            assert pod.stamp["protocol"] == device.PROTOCOL and pod.stamp["board"] == "lolin_d32"
            # the compiled firmware imports on the pod, and the pod's clock was set (UTC)
            assert pod.exec("import app, board; print(board.NAME)").strip() == b"lolin-d32"
            pod.write_file("/gait.py", b"# an old source copy shadows gait.mpy\n")
            pod.write_file("/board.py", b"NAME = 'edited'\n")
        assert cli.main(["flash", "--port", vp.port, "--check"]) == 1
        out = capsys.readouterr().out
        assert "differs: /board.py" in out and "stale:   /gait.py" in out
        # counted as pod flash counts them (the stamp is not one of the firmware's files)
        assert re.search(r"^1 of \d+ file\(s\) changed, 1 stale on ", out, re.M), out
        flash(vp)
        assert re.search(r"^flashing .*, 1 of \d+ file\(s\) changed$", capsys.readouterr().out, re.M)
        assert cli.main(["flash", "--port", vp.port, "--check"]) == 0
        # A flash cut short leaves no stamp: the board is the one whose config the pod holds,
        # not the default (a LOLIN's config must not silently become a DevKitC's).
        with device.connect(vp.port) as pod:
            pod.remove("/pod_version.json")
        capsys.readouterr()
        assert cli.main(["flash", "--port", vp.port, "--check"]) == 1
        assert "(board lolin_d32, mpy-x64): run pod flash" in capsys.readouterr().out
        with device.connect(vp.port, require_firmware=False) as pod:
            pod.write_file("/board.py", b"NAME = 'edited'\n")
        assert cli.main(["flash", "--port", vp.port, "--check"]) == 1
        assert "is none of board_configs/ and its version stamp is gone: give --board" in capsys.readouterr().err


def test_sync_twice_imports_once_and_marks_synced(tmp_path, capsys):
    files = [make_session(tmp_path, k, minutes=3) for k in (1, 2)]
    db_path = tmp_path / "db.sqlite"
    with VirtualPod(speed=1) as vp:
        flash(vp)
        put_sessions(vp, files)
        capsys.readouterr()
        assert cli.main(["sync", "--port", vp.port, "--db", str(db_path)]) == 0
        out = capsys.readouterr().out
        assert out.count(".pod       imported\n") == 2 and "synced 2 session(s)" in out
        assert pod_names(vp) == ["S000001-1a2c.synced", "S000002-1a2d.synced"]
        assert cli.main(["sync", "--port", vp.port, "--db", str(db_path)]) == 0
        assert "nothing new on the pod" in capsys.readouterr().out
        # the same file again (a pod that lost the rename): recognised, not duplicated
        put_sessions(vp, files[:1])
        assert cli.main(["sync", "--port", vp.port, "--db", str(db_path)]) == 0
        assert "unchanged" in capsys.readouterr().out
    db = store.open_db(db_path)
    assert [s["id"] for s in store.list_sessions(db)] == ["S000001-1a2c", "S000002-1a2d"]
    assert db.execute("SELECT COUNT(*) FROM intervals").fetchone()[0] == 36
    assert store.raw_bytes(db, "S000001-1a2c") == files[0].read_bytes()
    # and the rest of the loop on what was synced
    assert cli.main(["sessions", "--db", str(db_path)]) == 0
    assert "2 session(s)" in capsys.readouterr().out
    assert cli.main(["review", "--last", "--db", str(db_path), "--html", str(tmp_path / "r.html")]) == 0
    assert (tmp_path / "r.html").stat().st_size > 10000


def test_slow_pod_cut_mid_sync_then_sync_again_loses_nothing(tmp_path, monkeypatch):
    from podtools import sync

    monkeypatch.setattr(device, "CHUNK", 512)  # more chunks: a cut lands inside a file
    files = [make_session(tmp_path, k, minutes=6) for k in (1, 2, 3)]
    image = tmp_path / "pod.img"
    db = store.open_db(tmp_path / "db.sqlite")
    seen = []

    with VirtualPod(flash=image, speed=1) as vp:
        flash(vp)
        put_sessions(vp, files)

        def pull_the_cable(name, n):
            seen.append(name)
            if name.startswith("S000002") and seen.count(name) == 3:
                vp.stop()  # the pod disappears in the middle of the second file

        with pytest.raises(PodError, match="transfer interrupted"):
            with device.connect(vp.port) as pod:
                sync.sync_pod(pod, db, hook=pull_the_cable)
    assert [s["id"] for s in store.list_sessions(db)] == ["S000001-1a2c"]  # nothing half-imported
    part = tmp_path / "partial" / "S000002-1a2d.pod.part"
    assert 0 < part.stat().st_size < files[1].stat().st_size
    with VirtualPod(flash=image, speed=1) as vp:
        assert pod_names(vp) == ["S000001-1a2c.synced", "S000002-1a2d.pod", "S000003-1a2e.pod"]
        with device.connect(vp.port) as pod:
            results = sync.sync_pod(pod, db)
        assert [r[:2] for r in results] == [("S000002-1a2d.pod", "imported"), ("S000003-1a2e.pod", "imported")]
        assert not part.exists()
    ids = [s["id"] for s in store.list_sessions(db)]
    assert ids == ["S000001-1a2c", "S000002-1a2d", "S000003-1a2e"]
    for f in files:
        sid = f.name[:-4]
        assert store.raw_bytes(db, sid) == f.read_bytes()
        assert db.execute("SELECT COUNT(*) FROM intervals WHERE session_id = ?", (sid,)).fetchone()[0] == 36


def test_corrupt_session_is_reported_kept_aside_and_the_rest_imported(tmp_path, capsys):
    files = [make_session(tmp_path, k, minutes=2) for k in (1, 2, 3)]
    bad = bytearray(files[1].read_bytes())
    bad[len(bad) // 2] ^= 0xFF
    files[1].write_bytes(bytes(bad))
    torn = files[2].read_bytes()[:-5]  # power cut during the last write: normal, imported
    files[2].write_bytes(torn)
    db_path = tmp_path / "db" / "sessions.sqlite"  # (quarantine/ goes beside it)
    db_path.parent.mkdir()
    with VirtualPod(speed=1) as vp:
        flash(vp)
        put_sessions(vp, files)
        capsys.readouterr()
        assert cli.main(["sync", "--port", vp.port, "--db", str(db_path)]) == 1
        cap = capsys.readouterr()
        assert "damaged session file" in cap.err
        line = [ln for ln in cap.out.splitlines() if ln.startswith("S000002")][0]
        assert "corrupt" in line and "CRC mismatch" in line and "quarantine" in line
        assert "last record cut" in [ln for ln in cap.out.splitlines() if ln.startswith("S000003")][0]
        assert pod_names(vp) == ["S000001-1a2c.synced", "S000002-1a2d.synced", "S000003-1a2e.synced"]
    assert (db_path.parent / "quarantine" / "S000002-1a2d.pod").read_bytes() == bytes(bad)
    db = store.open_db(db_path)
    sessions = {s["id"]: s for s in store.list_sessions(db)}
    assert sessions["S000001-1a2c"]["problem"] is None and sessions["S000001-1a2c"]["n_intervals"] == 12
    assert sessions["S000002-1a2d"]["problem"].startswith("CRC mismatch")  # its good prefix is kept
    assert sessions["S000003-1a2e"]["closed"] == 0 and sessions["S000003-1a2e"]["n_intervals"] == 12
    capsys.readouterr()
    assert cli.main(["sessions", "--db", str(db_path)]) == 0
    out = capsys.readouterr().out
    assert "S000002-1a2d*" in out and "S000003-1a2e*" in out and "S000001-1a2c " in out
    assert "* not closed by the pod (power cut, or still under way at sync) or damaged" in out


def test_config_get_set_and_a_bad_value_is_refused(tmp_path, capsys):
    with VirtualPod(speed=1) as vp:
        flash(vp)
        capsys.readouterr()
        assert cli.main(["config", "get", "target_spm", "--port", vp.port]) == 0
        assert capsys.readouterr().out.split()[:2] == ["target_spm", "180"]
        assert cli.main(["config", "set", "target_spm", "175", "--port", vp.port]) == 0
        with device.connect(vp.port) as pod:
            saved = pod.read_file("/config.json")
            assert json.loads(saved)["target_spm"] == 175
            assert not pod.exists("/config.json.tmp")
        capsys.readouterr()
        assert cli.main(["config", "get", "--json", "--port", vp.port]) == 0  # a file for replay --config
        assert json.loads(capsys.readouterr().out) == json.loads(saved)
        for args, msg in ((["target_spm", "250"], "pod: target_spm: 250 is out of range 140..210"),
                          (["metronome", "loud"], "pod: metronome: \"loud\" is not one of off, always, below, fade"),
                          (["overstride_m", "9"], "pod: overstride_m: 9 must not exceed overstride_n (5)"),
                          (["colour", "red"], "pod: colour: unknown key")):
            assert cli.main(["config", "set", *args, "--port", vp.port]) == 1
            assert capsys.readouterr().err.startswith(msg)
        with device.connect(vp.port) as pod:
            assert pod.read_file("/config.json") == saved  # nothing written
            pod.write_file("/config.json", b"{not json")
        assert cli.main(["config", "get", "--port", vp.port]) == 0
        out = capsys.readouterr().out
        assert "not valid" in out and "target_spm               180" in out
        # one bad value in a file the runner edited: changing another key keeps the good ones
        with device.connect(vp.port) as pod:
            pod.write_file("/config.json", b'{"version": 1, "target_spm": 999, "metronome": "fade"}')
        assert cli.main(["config", "set", "buzzer_volume", "20", "--port", vp.port]) == 0
        out = capsys.readouterr().out
        assert "keeping its valid settings (metronome); back to the default: target_spm" in out
        assert "the file as it was is kept on the pod as /config.json.bad" in out
        with device.connect(vp.port) as pod:
            fixed = json.loads(pod.read_file("/config.json"))
            assert pod.read_file("/config.json.bad") == b'{"version": 1, "target_spm": 999, "metronome": "fade"}'
        assert (fixed["metronome"], fixed["target_spm"], fixed["buzzer_volume"]) == ("fade", 180, 20)
        # a config from newer firmware is not replaced by these tools' defaults
        newer = json.loads(saved)
        newer["version"] = 99
        with device.connect(vp.port) as pod:
            pod.write_file("/config.json", json.dumps(newer).encode())
        assert cli.main(["config", "set", "target_spm", "176", "--port", vp.port]) == 1
        assert "written by newer firmware than these tools know" in capsys.readouterr().err
        with device.connect(vp.port) as pod:
            assert json.loads(pod.read_file("/config.json")) == newer


CAPTURE = device.POD_PATHS["CAPTURE_PATH"]  # where the app writes its capture
CAPTURE_MAIN = """
import podconfig, rawcapture
cfg, _ = podconfig.load('/config.json')
if cfg['raw_capture_s']:
    cap = rawcapture.RawCapture(%r, 5000, cfg['raw_capture_s'], clock=lambda: 0)
    n = 0
    while cap.active:
        cap.add_sample((n, 0, 2048, 0, n %% 100, 0), n * 5000)
        n += 1
    print('captured', n)
""" % CAPTURE


def test_capture_arms_waits_downloads_and_converts(tmp_path, capsys):
    from podtools import podcsv

    main = tmp_path / "main.py"
    main.write_text(CAPTURE_MAIN)  # a stand-in main loop that captures as the app does
    out = tmp_path / "rec.csv"
    with VirtualPod(speed=1) as vp:
        flash(vp)
        # armed, but no session has started (the pod stands still): --download says so
        with device.connect(vp.port) as pod:
            capture.set_capture(pod, 2)
        assert cli.main(["capture", "--download", "--out", str(out), "--port", vp.port]) == 1
        assert "no capture yet: the pod is armed for 2 s" in capsys.readouterr().err
        with device.connect(vp.port) as pod:
            capture.set_capture(pod, 0)
            pod.write_file("/main.py", main.read_bytes())
        # the stand-in main captures as soon as the pod restarts; 3 s leave room on a busy machine
        assert cli.main(["capture", "--seconds", "2", "--wait", "3", "--out", str(out), "--port", vp.port]) == 0
        rec = podcsv.read(out)
        assert len(rec) == 400 and rec.rate_hz == pytest.approx(200)
        with device.connect(vp.port) as pod:
            assert not pod.exists(CAPTURE)
            assert json.loads(pod.read_file("/config.json"))["raw_capture_s"] == 0  # disarmed
        assert cli.main(["capture", "--download", "--out", str(out), "--port", vp.port]) == 1
        assert "no raw capture on the pod" in capsys.readouterr().err
        # a capture not downloaded yet is not replaced by arming another
        with device.connect(vp.port) as pod:
            pod.write_file(CAPTURE, b"kept")
        assert cli.main(["capture", "--seconds", "5", "--out", str(out), "--port", vp.port]) == 1
        assert "holds a capture not downloaded yet" in capsys.readouterr().err
        with device.connect(vp.port) as pod:
            assert pod.read_file(CAPTURE) == b"kept"
            assert json.loads(pod.read_file("/config.json"))["raw_capture_s"] == 0
        # that one is no capture at all (a power cut as it was created, say): downloading it
        # keeps its bytes beside --out and takes it off the pod, which then arms again
        assert cli.main(["capture", "--download", "--out", str(out), "--port", vp.port]) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "the pod's capture %s cannot be converted (not a pod raw capture" % CAPTURE in err
        assert (tmp_path / "rec.raw").read_bytes() == b"kept"
        with device.connect(vp.port) as pod:
            assert not pod.exists(CAPTURE)


def test_capture_mistakes_are_said_before_the_pod_is_armed(tmp_path, capsys):
    port = str(tmp_path / "no-such-port")  # reaching the pod would be another error
    out = str(tmp_path / "c.csv")
    (tmp_path / "notes.csv").write_text("my splits\n")
    for argv, msg in (
        (["--seconds", "0", "--out", out], "--seconds: 0 is out of range 1..600"),
        (["--seconds", "-5", "--out", out], "--seconds: -5 is out of range 1..600"),
        (["--seconds", "10", "--wait", "-1", "--out", out], "--wait: -1 is not a number of seconds from 0 to 86400"),
        (["--seconds", "10", "--wait", "nan", "--out", out], "--wait: nan is not a number of seconds"),
        (["--seconds", "10", "--wait", "inf", "--out", out], "--wait: inf is not a number of seconds"),
        (["--seconds", "10", "--out", str(tmp_path)], "is a folder (give REC.csv)"),
        (["--seconds", "10", "--out", str(tmp_path / "nope" / "c.csv")], "does not exist"),
        (["--seconds", "10", "--out", str(tmp_path / "c.txt")], "give REC.csv (a pod-imu CSV recording)"),
        (["--seconds", "10", "--out", str(tmp_path / "notes.csv")], "exists and is not a pod-imu recording"),
    ):
        assert cli.main(["capture", "--port", port] + argv) == 1, argv
        err = capsys.readouterr().err
        assert err.startswith("pod: ") and msg in err and err.count("\n") == 1, (argv, err)


def test_capture_by_the_app_itself_downloads_slow_pod(tmp_path, capsys):
    # the real main loop: armed, a run played to the IMU, the session's first 3 s captured
    from podtools import podcsv, simulate

    image, out = tmp_path / "pod.img", tmp_path / "cap.csv"
    with VirtualPod(flash=image, speed=1) as vp:
        flash(vp)
        assert cli.main(["config", "set", "raw_capture_s", "3", "--port", vp.port]) == 0
    rec, _ = simulate.simulate("run", seed=5, rate_hz=200, duration=40)
    with VirtualPod(flash=image, recording=rec, speed="max") as vp:
        vp.wait_for(lambda ev: any(e.get("ev") == "reset" and e.get("kind") == "deepsleep" for e in ev), timeout=120)
    capsys.readouterr()
    with VirtualPod(flash=image, speed=1) as vp:
        assert cli.main(["capture", "--download", "--out", str(out), "--port", vp.port]) == 0
        with device.connect(vp.port) as pod:
            assert not pod.exists(CAPTURE)
            assert json.loads(pod.read_file("/config.json"))["raw_capture_s"] == 0
    cap = podcsv.read(out)
    assert cap.duration_s == pytest.approx(3, abs=0.1)
    assert cap.rate_hz == pytest.approx(200)


def test_user_errors_are_one_line(tmp_path, capsys, monkeypatch):
    # no pod: no port given and no USB serial device
    monkeypatch.setattr("serial.tools.list_ports.comports", lambda: [])
    assert cli.main(["sync", "--db", str(tmp_path / "db.sqlite")]) == 1
    assert capsys.readouterr().err == "pod: no pod connected (plug it in over USB, or give --port)\n"
    assert cli.main(["config", "get", "--port", "/dev/ttyUSB_nothing"]) == 1
    assert capsys.readouterr().err == "pod: no pod connected at /dev/ttyUSB_nothing (no such port)\n"
    with VirtualPod(speed=1) as vp:
        # MicroPython but never flashed: not a pod yet
        assert cli.main(["sync", "--port", vp.port, "--db", str(tmp_path / "db.sqlite")]) == 1
        assert "no pod firmware" in capsys.readouterr().err
        flash(vp)
        # database locked by another program: one line, and nothing is marked synced on the pod
        put_sessions(vp, [make_session(tmp_path, 1, minutes=1)])
        db_path = tmp_path / "locked.sqlite"
        store.open_db(db_path).close()
        other = sqlite3.connect(str(db_path), isolation_level=None)
        other.execute("BEGIN EXCLUSIVE")
        capsys.readouterr()
        assert cli.main(["sync", "--port", vp.port, "--db", str(db_path)]) == 1
        assert re.match(r"pod: the session database .* is locked by another program", capsys.readouterr().err)
        other.execute("ROLLBACK")
        assert pod_names(vp) == ["S000001-1a2c.pod"]
        # firmware older than the tools: an old stamp
        with device.connect(vp.port) as pod:
            stamp = dict(pod.stamp, protocol=0, firmware="0.0.1")
            pod.write_file("/pod_version.json", json.dumps(stamp).encode())
        assert cli.main(["config", "get", "--port", vp.port]) == 1
        assert capsys.readouterr().err.startswith("pod: the pod's firmware (0.0.1, protocol 0) is older than these "
                                                  "tools (protocol 1): run `pod flash`")
        # port busy: another program holds it
        with serial.Serial(vp.port, 115200, exclusive=True):
            assert cli.main(["config", "get", "--port", vp.port]) == 1
            assert "is busy" in capsys.readouterr().err
    # the real console script: one line, no traceback
    r = subprocess.run([POD, "review", "--last", "--db", str(tmp_path / "db.sqlite")], capture_output=True,
                       text=True, env=dict(os.environ, POD_PORT=""), timeout=60)
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    assert r.stderr.startswith("pod: no sessions in")


def test_device_file_transfer_round_trip():
    data = bytes(range(256)) * 13 + b"tail"
    with VirtualPod(speed=1) as vp:
        with device.connect(vp.port, require_firmware=False) as pod:
            assert pod.stamp is None and pod.info["arch"] == "x64"
            pod.write_file_atomic("/blob.bin", data)
            assert pod.read_file("/blob.bin") == data
            assert pod.read_file("/blob.bin", have=data[:1000]) == data  # resumed
            assert pod.sha256("/blob.bin") == hashlib.sha256(data).hexdigest()
            assert pod.stat("/blob.bin") == (len(data), False) and pod.stat("/none") is None
            with pytest.raises(PodError, match="no such file"):
                pod.read_file("/none")


def test_slow_pod_the_firmware_records_a_run_then_sync_review_export(tmp_path, capsys):
    """The whole loop with the real firmware: flash, a simulated run played to the IMU at
    maximum speed, the app records a session, sync imports it, review and FIT export work."""
    from garmin_fit_sdk import Decoder, Stream

    from podtools import simulate

    image = tmp_path / "pod.img"
    db = str(tmp_path / "db.sqlite")
    with VirtualPod(flash=image, speed=1) as vp:
        flash(vp)
        assert cli.main(["config", "set", "auto_stop_idle_s", "10", "--port", vp.port]) == 0
    rec, _ = simulate.simulate("run", seed=3, duration=80.0)
    with VirtualPod(flash=image, recording=rec, speed="max") as vp:
        # the recording ends at 80 s; 10 s without a footfall later the session is closed,
        # and a minute later the pod deep-sleeps (its USB port then answers nothing: a sync
        # racing it at maximum speed failed now and then). Wait for the sleep, then plug in.
        vp.wait_for(lambda ev: any(e.get("ev") == "reset" and e.get("kind") == "deepsleep" for e in ev),
                    timeout=60)
        assert any(e["path"].startswith("/sessions/S") for e in vp.trace_events("file_open"))
    capsys.readouterr()
    with VirtualPod(flash=image, speed=1) as vp:
        assert cli.main(["sync", "--port", vp.port, "--db", db]) == 0
        assert "1 imported" in capsys.readouterr().out
    (s,) = store.list_sessions(store.open_db(db))
    assert s["closed"] == 1 and s["end_reason"] == "idle" and s["steps"] > 100
    assert 150 < s["cadence_spm"] < 195 and s["config"]["auto_stop_idle_s"] == 10
    assert cli.main(["review", s["id"], "--db", db, "--html", str(tmp_path / "r.html")]) == 0
    assert cli.main(["export", s["id"], "--format", "fit", "--out", str(tmp_path / "s.fit"), "--db", db]) == 0
    messages, errors = Decoder(Stream.from_byte_array(bytearray((tmp_path / "s.fit").read_bytes()))).read()
    assert errors == [] and messages["session_mesgs"][0]["avg_cadence"] == int(s["cadence_spm"] / 2)


def test_romfs_image_holds_the_compiled_firmware_and_imports_in_place(tmp_path, capsys):
    img = tmp_path / "pod.romfs"
    assert cli.main(["flash", "--romfs-image", str(img), "--arch", "x64"]) == 0
    assert "11 modules compiled for x64" in capsys.readouterr().out
    # MicroPython mounts it as a ROMFS (here from a bytes object in its heap) and imports
    # the app and the gait engine (with its @native code) from it
    code = ("import vfs, sys, os; vfs.mount(vfs.VfsRom(open(%r, 'rb').read()), '/rom'); sys.path.insert(0, '/rom');"
            " import app, gait; print(sorted(os.listdir('/rom')), app.__file__, gait.GaitEngine(5000).steps)"
            % str(img))
    out = subprocess.run([str(Path(sys.executable).with_name("micropython")), "-c", code],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "'gait.mpy'" in out.stdout and "'main.mpy'" not in out.stdout and "/rom/app.mpy 0" in out.stdout


def test_a_device_that_keeps_printing_is_an_error_not_a_hang(monkeypatch):
    # A pod rebooting in a loop prints without pause: mpremote's overall timeout is only
    # checked while nothing arrives, so the handshake needs its own deadline.
    import pty
    import threading
    import time

    monkeypatch.setattr(device, "_HANDSHAKE_S", 2)
    master, slave = pty.openpty()
    stop = threading.Event()

    def chatter():
        while not stop.is_set():
            try:
                os.write(master, b"battery low (3000 mV): sleeping\r\n")
            except OSError:
                return
            time.sleep(0.005)

    t = threading.Thread(target=chatter, daemon=True)
    t.start()
    start = time.monotonic()
    try:
        with pytest.raises(PodError, match="rebooting in a loop"):
            device.Pod(os.ttyname(slave))
        assert time.monotonic() - start < 10
    finally:
        stop.set()
        t.join(2)
        os.close(master)
        os.close(slave)
