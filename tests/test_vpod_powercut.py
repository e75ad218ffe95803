"""Issue 5's power-cut fuzzing with the real firmware: the pod records runs while the
power is cut at random flash writes; it always boots again, the filesystem mounts, and
no session loses more than its last unflushed record (sync finds every session readable,
with at most a torn last record, and its intervals without holes).

POD_FUZZ_CUTS sets the number of cuts (default 100)."""
import os
import random
import sqlite3

from podtools import cli, simulate
from podtools.vpod import VirtualPod


def test_slow_pod_power_cuts_while_recording_lose_at_most_the_last_record(tmp_path, capsys):
    cuts = int(os.environ.get("POD_FUZZ_CUTS", "100"))
    rng = random.Random(2026)
    image = tmp_path / "pod.img"
    with VirtualPod(flash=image, speed=1) as vp:
        assert cli.main(["flash", "--port", vp.port, "--board", "lolin_d32"]) == 0
        assert cli.main(["config", "set", "interval_s", "2", "--port", vp.port]) == 0
    # Flash writes per boot before the cut: a boot writes a few at start-up, then a session
    # header and a record every 2 s. A long run keeps the pod recording through all cuts.
    points = [rng.randint(1, 40) for _ in range(cuts)]
    rec, _ = simulate.simulate("run", seed=4, rate_hz=100, duration=60 + 50 * cuts)
    with VirtualPod(flash=image, recording=rec, speed="max", power_cuts=points) as vp:
        events = vp.wait_for(lambda ev: sum(1 for e in ev if e["ev"] == "power_cut") >= cuts
                             and sum(1 for e in ev if e["ev"] == "boot") > cuts, timeout=60 + 3 * cuts)
    boots = [e for e in events if e["ev"] == "boot"]
    assert sum(1 for e in events if e["ev"] == "power_cut") == cuts
    assert all(b["fs"] == "mounted" for b in boots)  # never reformatted, always mounted
    assert not [e for e in events if e["ev"] == "crash"]
    db = tmp_path / "db.sqlite"
    with VirtualPod(flash=image, speed=1) as vp:
        capsys.readouterr()
        assert cli.main(["sync", "--port", vp.port, "--db", str(db)]) == 0  # no corrupt session
    out = capsys.readouterr().out
    con = sqlite3.connect(db)
    sessions = con.execute("select id, n_intervals from sessions").fetchall()
    assert len(sessions) >= cuts // 3, (len(sessions), out[-2000:])
    for sid, n in sessions:
        offsets = [r[0] for r in con.execute(
            "select t_offset_s from intervals where session_id = ? order by idx", (sid,))]
        assert offsets == [2 * i for i in range(len(offsets))], (sid, offsets)  # no hole
        assert n == len(offsets)
