"""The gait simulator: determinism, file round trip, physics and truth (host only)."""
import numpy as np
import pytest

from podtools import cli, podcsv
from podtools.errors import PodError
from podtools.simulate import MOUNTS, SCENARIOS, foot_pitch, simulate

G_COUNTS = 2048.0       # counts per g at +-16 g
DPS_COUNTS = 16.4       # counts per deg/s at +-2000 dps


def _accel_g(rec):
    return rec.imu[:, :3].astype(float) / G_COUNTS


def _at(rec, t_us):
    """Sample indices nearest to the times t_us."""
    return np.clip(np.searchsorted(rec.t_us, t_us), 0, len(rec) - 1)


def _spm(events):
    ic = np.array([e["ic_us"] for e in events], dtype=float)
    return 120e6 / np.diff(ic)


def test_deterministic_for_a_seed():
    a, ea = simulate("run", seed=3, duration=20)
    b, eb = simulate("run", seed=3, duration=20)
    c, ec = simulate("run", seed=4, duration=20)
    assert np.array_equal(a.t_us, b.t_us) and np.array_equal(a.imu, b.imu)
    assert ea == eb
    assert not np.array_equal(a.imu, c.imu)
    assert [e["ic_us"] for e in ea] != [e["ic_us"] for e in ec]


def test_file_round_trip(tmp_path):
    rec, events = simulate("walk", seed=1, duration=20, rate_hz=204.8)
    path = tmp_path / "walk.csv"
    podcsv.write(path, rec)
    podcsv.write_events(podcsv.events_path(path), events)
    back = podcsv.read(path)
    assert np.array_equal(back.t_us, rec.t_us) and np.array_equal(back.imu, rec.imu)
    assert back.rate_hz == pytest.approx(204.8) and back.accel_fs_g == 16 and back.gyro_fs_dps == 2000
    truth = podcsv.read_events(podcsv.events_path(path))
    assert [e["ic_us"] for e in truth] == [e["ic_us"] for e in events]
    for got, want in zip(truth, events, strict=True):
        assert got["tc_us"] == want["tc_us"] and got["contact_ms"] == want["contact_ms"]
        assert got["strike_angle_deg"] == pytest.approx(want["strike_angle_deg"], abs=0.006)
        assert (got["overstride"], got["activity"]) == (want["overstride"], want["activity"])


@pytest.mark.parametrize("mount", MOUNTS)
def test_one_g_when_the_foot_is_flat(mount):
    # walking: the foot is flat from ~20 % to ~55 % of the stance; take 25-50 %
    rec, events = simulate("walk", seed=2, duration=20, mount=mount, bias_scale=0.0)
    a = np.linalg.norm(_accel_g(rec), axis=1)
    flat = [e for e in events if e["contact_ms"]]
    assert len(flat) >= 8
    for e in flat:
        lo, hi = _at(rec, [e["ic_us"] + 250 * e["contact_ms"], e["ic_us"] + 500 * e["contact_ms"]])
        assert abs(np.mean(a[lo:hi]) - 1.0) < 0.03
    # and standing still
    rec, _ = simulate("stand", seed=2, duration=10, mount=mount, bias_scale=0.0)
    assert abs(np.median(np.linalg.norm(_accel_g(rec), axis=1)) - 1.0) < 0.03


def test_mounting_only_rotates():
    # same seed = same motion and the same spot on the instep; only the rotation differs
    # ("heel" also moves the sensor to another lever arm, so it is not compared here)
    # Away from saturation: the sensor clips each axis before its low-pass filter, so a
    # clipped impact comes out below full scale, and around it the vectors differ.
    def unsaturated(rec):
        near = np.any(np.abs(rec.imu[:, :3].astype(int)) > 0.6 * 32767, axis=1)
        return ~np.convolve(near, np.ones(11), mode="same").astype(bool)

    ref, _ = simulate("run", seed=5, duration=15, mount="laces", ideal=True)
    ok = unsaturated(ref)
    for mount in ("random", "upside-down"):
        rec, _ = simulate("run", seed=5, duration=15, mount=mount, ideal=True)
        keep = ok & unsaturated(rec)
        assert keep.mean() > 0.9
        for axes in (slice(0, 3), slice(3, 6)):
            n0 = np.linalg.norm(ref.imu[keep, axes].astype(float), axis=1)
            n1 = np.linalg.norm(rec.imu[keep, axes].astype(float), axis=1)
            assert np.max(np.abs(n0 - n1)) < 1.5      # quantization only (counts)
        assert not np.array_equal(rec.imu, ref.imu)


def test_gyro_integrated_over_a_stride_returns_near_zero():
    rec, events = simulate("run", seed=6, duration=20, ideal=True, mount="random")
    w = rec.imu[:, 3:].astype(float) / DPS_COUNTS
    dt = np.diff(rec.t_us, prepend=rec.t_us[0]) / 1e6
    for e0, e1 in zip(events[1:], events[2:]):
        i0, i1 = _at(rec, [e0["ic_us"] - 50000, e1["ic_us"] - 50000])   # late swing to late swing
        turned = np.sum(w[i0:i1] * dt[i0:i1, None], axis=0)
        travelled = np.sum(np.linalg.norm(w[i0:i1], axis=1) * dt[i0:i1])
        assert travelled > 100.0
        assert np.linalg.norm(turned) < 12.0


def test_hard_heel_strikes_saturate():
    def saturated(rate):
        rec, events = simulate("overstride", seed=7, duration=20, speed=5.0, rate_hz=rate)
        counts = rec.imu[:, :3].astype(int)
        clipped = np.any((counts == 32767) | (counts == -32768), axis=1)
        ic = _at(rec, [e["ic_us"] for e in events])
        return sum(bool(np.any(clipped[i:i + rate // 20])) for i in ic) / len(events), events

    share, events = saturated(1000)
    assert share >= 0.8
    # at 200 Hz the sensor's 94 Hz filter blunts the impact, yet some still reach full scale
    assert 0.2 <= saturated(200)[0] < share
    assert all(e["overstride"] == 1 and e["strike"] == "rearfoot" for e in events)
    # a soft forefoot landing stays well inside the range
    rec, events = simulate("forefoot", seed=7, duration=20, speed=3.0)
    assert np.abs(rec.imu[:, :3].astype(int)).max() < 32767
    assert all(e["strike"] == "forefoot" and e["overstride"] == 0 for e in events)


def test_the_sensor_filter_blunts_impacts_at_low_rates():
    # The same run read at 1000 Hz (184 Hz filter) and at 100 Hz (44 Hz filter): the
    # impact's peak within 40 ms of each contact. Sampling alone would keep ~3/4 of it.
    peak = {}
    for rate in (1000, 100):
        rec, events = simulate("run", seed=4, duration=20, rate_hz=rate, ideal=True)
        a = np.linalg.norm(_accel_g(rec), axis=1)
        peak[rate] = np.median([a[i:i + rate // 25].max() for i in _at(rec, [e["ic_us"] for e in events])])
    assert peak[100] < 0.65 * peak[1000]


@pytest.mark.parametrize("cadence", [150, 172, 200])
def test_truth_cadence_matches_request(cadence):
    rec, events = simulate("run", seed=8, duration=40, cadence=cadence, speed=4.0)
    spm = _spm(events)
    assert abs(np.median(spm) - cadence) < 1.5
    assert 0.005 < np.std(spm) / cadence < 0.04      # stride-to-stride variability ~1-2 %
    running = rec.duration_s - 5.0                   # 3 s standing before, 2 s after
    assert abs(len(events) - running * cadence / 120) <= 3


def test_contact_times_consistent_and_shorter_when_faster():
    means = []
    for speed in (2.0, 6.0):
        _, events = simulate("run", seed=9, duration=30, speed=speed, cadence=180)
        for e, nxt in zip(events, events[1:]):
            assert e["contact_ms"] is not None
            assert abs(e["contact_ms"] - (nxt["tc_us"] - e["ic_us"]) / 1000) <= 1
            assert nxt["tc_us"] > e["ic_us"]
        assert events[0]["tc_us"] < events[0]["ic_us"]
        means.append(np.mean([e["contact_ms"] for e in events if e["contact_ms"]]))
    assert 270 < means[0] < 330 and 150 < means[1] < 190


def test_strike_classes_follow_the_angles():
    _, events = simulate("run", seed=10, duration=60, strike="mixed")
    for e in events:
        a = e["strike_angle_deg"]
        want = "rearfoot" if a > 8.0 else "forefoot" if a < -1.6 else "midfoot"
        assert e["strike"] == want
        assert e["overstride"] == int(a > 15.0)
    assert {e["strike"] for e in events} == {"rearfoot", "midfoot", "forefoot"}


@pytest.mark.parametrize("scenario", ["stand", "fidget", "tap"])
def test_no_strides_when_not_walking(scenario):
    rec, events = simulate(scenario, seed=11, duration=30)
    assert events == []
    if scenario != "stand":       # but the foot does move
        assert np.abs(rec.imu[:, 3:].astype(float) / DPS_COUNTS).max() > 30


def test_session_has_its_episodes():
    _, events = simulate("session", seed=12, duration=600)
    acts = [e["activity"] for e in events]
    assert acts[0] == "walk" and acts[-1] == "walk" and "run" in acts
    run = [e for e in events if e["activity"] == "run"]
    assert any(e["overstride"] for e in run)
    assert np.min(_spm(run)) < 165
    gaps = np.diff([e["ic_us"] for e in run]) / 1e6
    assert np.max(gaps) > 25                        # the traffic light


def test_cadence_drifts_below_target():
    _, events = simulate("cadence_drift", seed=13)
    spm = _spm(events)
    assert np.median(spm[:20]) > 175 and np.median(spm[-20:]) < 165


@pytest.mark.parametrize("rate", [100, 204.8, 400, 1000])
def test_rates(rate):
    rec, events = simulate("run", seed=14, duration=15, rate_hz=rate)
    assert rec.rate_hz == rate
    assert abs(len(rec) - 15 * rate) <= 2
    assert np.allclose(np.diff(rec.t_us), 1e6 / rate, atol=1)
    assert len(events) >= 12            # 10 s of running at 172 spm = 14 strides


def test_drop_keeps_real_time():
    full, ev_full = simulate("run", seed=15, duration=20)
    rec, events = simulate("run", seed=15, duration=20, drop=0.1)
    assert 0.85 * len(full) < len(rec) < 0.95 * len(full)
    assert np.all(np.diff(rec.t_us) > 0)
    assert np.all(np.isin(rec.t_us, full.t_us))
    assert events == ev_full


@pytest.mark.parametrize("opts", [dict(speed=9.0), dict(cadence=120), dict(mount="belt"), dict(strike="toe"),
                                  dict(drop=0.9), dict(colour="red")])
def test_bad_options(opts):
    with pytest.raises(PodError):
        simulate("run", **opts)
    with pytest.raises(PodError):
        simulate("run", rate_hz=50)


def test_cli_writes_recording_and_truth(tmp_path, capsys):
    out = tmp_path / "r.csv"
    assert cli.main(["simulate", "--scenario", "walk", "--out", str(out), "--duration", "20", "--seed", "2"]) == 0
    rec = podcsv.read(out)
    events = podcsv.read_events(tmp_path / "r.events.csv")
    assert len(rec) > 3000 and len(events) > 5
    assert list(events[0]) == list(podcsv.EVENT_COLUMNS)
    capsys.readouterr()
    assert cli.main(["simulate", "--list"]) == 0
    listing = capsys.readouterr().out
    assert all(name in listing for name in SCENARIOS)


def test_cli_bad_scenario(tmp_path, capsys):
    assert cli.main(["simulate", "--scenario", "moonwalk", "--out", str(tmp_path / "x.csv")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("pod: ") and "moonwalk" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x.csv").exists()
    assert cli.main(["simulate", "--scenario", "run", "--out", str(tmp_path / "x.csv"), "--speed", "12"]) == 1


@pytest.mark.parametrize("scenario,opts", [("walk", {}), ("rearfoot", dict(speed=4.5)),
                                           ("forefoot", dict(speed=3.0, cadence=185))])
def test_pitch_through_the_gait_cycle(scenario, opts):
    t_us, theta, rate = foot_pitch(scenario, seed=16, rate_hz=1000, duration=20, **opts)
    _, events = simulate(scenario, seed=16, rate_hz=1000, duration=20, **opts)
    run = scenario != "walk"
    for e in events[1:-1]:
        ic = int(np.argmin(np.abs(t_us - e["ic_us"])))
        tc = int(np.argmin(np.abs(t_us - e["tc_us"])))
        assert theta[ic] == pytest.approx(e["strike_angle_deg"], abs=0.2)
        a = e["strike_angle_deg"]
        # IC is an extremum: toe-up rotation reverses (heel strike) or the heel drops (forefoot)
        if a > 8:
            assert theta[ic] >= theta[ic - 15:ic + 15].max() - 0.05
            assert rate[ic:ic + 60].min() < -150            # slaps down to flat
        elif a < -1.6:
            assert theta[ic] <= theta[ic - 15:ic + 15].min() + 0.05
            assert rate[ic:ic + 60].max() > 60              # heel drops
        # foot flat in mid-stance
        mid = ic + int(e["contact_ms"] * (0.37 if run else 0.4))
        assert abs(theta[mid]) < 0.01 and abs(rate[mid]) < 0.01
        # toe-off: steep, at the peak toe-down rate, which reverses within 40 ms
        assert (-72 if run else -68) < theta[tc] < -28
        assert rate[tc] <= 0.98 * rate[tc - 60:tc + 60].min()      # 1 ms grid
        assert rate[tc + 41] > 0
        swing_peak = rate[tc:ic].max()
        assert (550 if run else 280) < swing_peak < (1150 if run else 480)


def _laps(seed, duration):
    """A laps recording (ideal sensor, on the laces) and its scene's heading knots."""
    from podtools import simulate as sim

    rec, events = simulate("laps", seed=seed, rate_hz=200, duration=duration, ideal=True)
    scene = sim.Scene(np.random.default_rng(np.random.SeedSequence(seed).spawn(3)[0]))
    sim._build(scene, "laps", duration, {})
    return rec, events, scene.heading


def test_laps_turn_the_foot_round_in_two_steps_it_feels():
    rec, events, heading = _laps(seed=7, duration=90)
    # knots: 0, then a hold and a swivel for each turning step; every two steps make 180 deg
    t, y = np.array(heading.t[1:]), np.array(heading.y[1:])
    assert len(t) >= 16
    t, y = t[:len(t) // 4 * 4], y[:len(y) // 4 * 4]  # (the walk may end mid-turn)
    assert np.allclose(np.abs(y[3::4] - y[0::4]), 180.0)
    # the sensor feels each swivel: the gyro about the vertical (gravity at the stance
    # before) integrates to the heading's change
    g = _accel_g(rec)
    w = rec.imu[:, 3:].astype(float) / DPS_COUNTS
    dt = 1 / 200
    for t0, t1, y0, y1 in zip(t[0::2], t[1::2], y[0::2], y[1::2]):
        i0, i1 = _at(rec, [t0 * 1e6 - 150_000, t1 * 1e6 + 150_000])
        up = g[_at(rec, [t0 * 1e6 - 300_000])[0]]
        up /= np.linalg.norm(up)
        assert abs(abs(np.sum(w[i0:i1] @ up) * dt) - abs(y1 - y0)) < 0.1 * abs(y1 - y0) + 5
    # and walks on the new way as it did the old: a straight stride looks the same to the
    # sensor before the first turn and after it (a foot walking backwards would not)
    def profile(e0, e1):
        i0, i1 = _at(rec, [e0["ic_us"], e1["ic_us"]])
        u = np.linspace(0, 1, 200)
        return np.concatenate([np.interp(u, np.linspace(0, 1, i1 - i0), g[i0:i1, k]) for k in range(3)])

    before = [profile(a, b) for a, b in zip(events[1:4], events[2:5])]
    after = [profile(a, b) for a, b in zip(events, events[1:]) if t[3] + 2 < a["ic_us"] / 1e6 < t[4] - 2][:3]
    assert len(after) == 3
    assert np.corrcoef(np.mean(before, axis=0), np.mean(after, axis=0))[0, 1] > 0.8  # backwards: -0.27
