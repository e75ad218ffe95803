"""pod replay / pod evaluate: the JSON contract, runtime parity, and accuracy regressions.

Accuracy thresholds are on fixed seeds and the shared real recordings (not timing)."""
import json
from pathlib import Path

import numpy as np
import pytest

from podtools import cli, demo, evaluate, podcsv, replay, simulate

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SHARED = sorted(p for p in DATA.glob("*.csv") if not p.name.endswith(".events.csv"))
FIXTURES = Path(__file__).resolve().parent / "data"


def _cli_json(capsys, *argv):
    assert cli.main(list(argv)) == 0
    return json.loads(capsys.readouterr().out)


def test_replay_json_contract(capsys):
    out = _cli_json(capsys, "replay", str(DATA / "gaitmap_walk_right.csv"), "--json")
    assert set(out) == {"steps", "cadence", "alerts", "cues"}
    assert len(out["steps"]) >= 29
    for s in out["steps"]:
        assert set(s) == {"ic_us", "tc_us", "contact_ms", "strike_angle_deg", "strike"}
        assert isinstance(s["ic_us"], int)
        assert s["tc_us"] is None or (isinstance(s["tc_us"], int) and s["tc_us"] > s["ic_us"])
        assert s["contact_ms"] is None or isinstance(s["contact_ms"], int)
        assert s["strike"] in (None, "rearfoot", "midfoot", "forefoot")
    for c in out["cadence"]:
        assert isinstance(c["t_us"], int) and 80 <= c["spm"] <= 140  # a walk, both feet
    for a in out["alerts"]:
        assert a["kind"] in ("low_cadence", "overstride")


FIXED = [FIXTURES / n for n in ("flatfoot_walk_100hz.csv", "flatfoot_walk_205hz.csv", "fastrun_100hz.csv",
                                 "midfoot_run_100hz.csv", "heelrun_200hz.csv", "walkstart_400hz.csv",
                                 "heelwalk_200hz.csv", "midrun_200hz.csv",
                                 "midrun_100hz.csv", "shortheel_walk_200hz.csv",
                                 "heelrun_wobble_200hz.csv", "runstart_200hz.csv",
                                 "swingrest_200hz.csv", "sprintstart_100hz.csv",
                                 "pollrun_200hz.csv", "fastmid_400hz.csv", "ffrun_100hz.csv",
                                 "slowwalk_400hz.csv", "swingbump_200hz.csv", "airjolt_400hz.csv",
                                 "midrun_1000hz.csv", "laps_200hz.csv",
                                 "flipflop_200hz.csv")]


@pytest.mark.parametrize("path", SHARED + FIXED, ids=[p.stem for p in SHARED + FIXED])
def test_micropython_replay_equals_cpython_on_recordings(path):
    rec = podcsv.read(path)
    assert replay.replay_lines(rec, "micropython", rec_path=path) == replay.replay_lines(rec, "cpython")


@pytest.mark.parametrize("scenario,rate,opts", [
    ("session", 200, dict(duration=150, mount="random")),
    ("forefoot", 400, dict(duration=30, mount="upside-down", drop=0.01)),
    ("overstride", 100, dict(duration=30, mount="heel")),
])
def test_micropython_replay_equals_cpython_on_simulated(tmp_path, scenario, rate, opts):
    rec, _ = simulate.simulate(scenario, seed=11, rate_hz=rate, **opts)
    path = tmp_path / "rec.csv"
    podcsv.write(path, rec)
    mp = replay.replay_lines(podcsv.read(path), "micropython", rec_path=path, start_ticks=(1 << 30) - 7_000_000)
    cp = replay.replay_lines(rec, "cpython", start_ticks=(1 << 30) - 7_000_000)
    assert mp == cp
    assert sum(1 for line in cp if line.startswith("S ")) > 10


@pytest.mark.parametrize("suite", [
    # the grid: all strikes, 2-6 m/s, 150-200 spm, random mountings, 100/200/400 Hz
    # (45 files)
    "running",
    # 5 and 10 % of the samples lost at random, all strikes, 100 to 1000 Hz (30 files; F1
    # was 0.965 before the jerk was taken by time and against the trend across a hole)
    "lost",
])
def test_running_suites_meet_the_targets(suite):
    o = evaluate.suite_overall(suite)
    assert o["f1"] >= 0.995
    assert o["ic_median_abs_ms"] <= 10
    assert o["contact_median_abs_ms"] <= 15
    assert o["strike_angle_mean_abs_deg"] <= 3
    assert o["strike_class_accuracy"] >= 0.90
    assert o["cadence_median_abs_spm"] <= 1


def test_walking_with_turns_finds_the_turning_steps():
    # Straight walks and 10-20 m laps at 100/200/400 Hz (9 files). Turning round, the foot
    # swivels in the air and its second turning step pitches it little: judged as a straight
    # stride, a third of those were lost (F1 0.968).
    o = evaluate.suite_overall("walking")
    assert o["f1"] >= 0.99, o["f1"]
    assert o["ic_median_abs_ms"] <= 20


@pytest.mark.parametrize("rate, opts", [
    # 1 kHz: the replay configures the engine at the recording's rate, so its history
    # covers the first strides (at the default 200 Hz it held 0.5 s of 1 kHz samples)
    (1000, {"strike": "forefoot", "speed": 3.5, "cadence": 175, "seed": 103}),
    # a slow jog: the swing's slow middle sweeps |a| through 1 g with the foot barely
    # rotating; that is not a soft landing (gravity is not steady)
    (200, {"strike": "midfoot", "speed": 2.0, "cadence": 150, "seed": 104}),
    # 100 Hz: the sensor's 44 Hz filter blunts a midfoot landing until its jerk is no
    # larger than the late swing's deceleration; the bend in the jerk still shows it
    (100, {"strike": "midfoot", "speed": 3.0, "cadence": 184, "seed": 624}),
    (100, {"strike": "mixed", "speed": 4.0, "cadence": 177, "seed": 617}),
])
def test_every_footfall_at_1khz_in_a_slow_jog_and_at_100hz(rate, opts):
    opts = dict(opts)
    rec, truth = simulate.simulate("run", seed=opts.pop("seed"), rate_hz=rate, duration=60, **opts)
    s = evaluate.score(replay.replay(rec), truth, rec.duration_s, evaluate.pod_config())
    assert s["f1"] == 1.0, s["f1"]
    assert s["ic_median_abs_ms"] <= 10


@pytest.mark.parametrize("strike", ["rearfoot", "midfoot"])
def test_the_heels_reversal_is_timed_between_samples_at_100hz(strike):
    # IC at the heel is where the toe-up rotation reverses. Taken at the first sample past
    # it, IC was half an interval late on average: median 8.3 ms (rearfoot) and 8.8 ms
    # (midfoot) at 100 Hz, against 1.5 and 1.9 at 400 Hz. It is now where the rate crosses
    # zero between the two samples (2.2 and 3.0 ms here).
    rec, truth = simulate.simulate("run", seed=7, rate_hz=100, duration=40, strike=strike, speed=3.5,
                                   cadence=172)
    s = evaluate.score(replay.replay(rec), truth, rec.duration_s, evaluate.pod_config())
    assert s["f1"] == 1.0, s["f1"]
    assert s["ic_median_abs_ms"] <= 4, s["ic_median_abs_ms"]


@pytest.mark.parametrize("rate", [100, 125, 200])
def test_a_lost_sample_in_the_swings_braking_is_not_an_impact(rate):
    # A fast forefoot run with 10 % of the samples lost at random. Braking in the air, the
    # accelerometer changes by 2 g in 20 ms: across a lost sample that looked as sudden as
    # the ground (F1 0.62 at 100 Hz, 0.70 at 125 Hz, 0.89 at 200 Hz before). The jerk
    # across lost samples is now the change beyond the trend before them.
    rec, truth = simulate.simulate("run", seed=1097, rate_hz=rate, duration=30, speed=5.53, cadence=166,
                                   strike="forefoot", drop=0.1)
    s = evaluate.score(replay.replay(rec), truth, rec.duration_s, evaluate.pod_config())
    assert s["f1"] == 1.0, s["f1"]
    assert s["ic_median_abs_ms"] <= 10


@pytest.mark.parametrize("rate, strike", [(100, "forefoot"), (400, "midfoot"), (1000, "rearfoot")])
def test_a_hole_of_up_to_100_ms_in_the_swing_does_not_lose_the_landing(rate, strike):
    # Samples lost in bursts (a ninth simulator's 100 Hz run lost 50-110 ms at a time): a
    # hole over 50 ms broke the stride under way, and the landing after it was lost (here
    # 18 of 37, F1 0.679 at every rate). In the air, the swing now goes on across a hole of
    # up to 100 ms; only no impact is read across it.
    rec, truth = simulate.simulate("run", seed=31, rate_hz=rate, duration=30, strike=strike, speed=4.0,
                                   cadence=176)
    keep = np.ones(len(rec.t_us), bool)
    for k, ev in enumerate(truth):
        if k < 2 or k % 2:
            continue  # (before its first strides the engine is still learning the orientation)
        mid = (ev["tc_us"] + ev["ic_us"]) // 2
        half = (30 + 5 * (k % 4)) * 1000  # 60-90 ms in the middle of every other swing
        keep &= (rec.t_us < mid - half) | (rec.t_us >= mid + half)
    _keep(rec, keep)
    s = evaluate.score(replay.replay(rec), truth, rec.duration_s, evaluate.pod_config())
    assert s["f1"] == 1.0, s["f1"]
    assert s["ic_median_abs_ms"] <= 10


@pytest.mark.parametrize("rate", [200, 1000])
def test_a_one_sample_flick_of_the_pod_in_the_stance_is_not_the_toe_off(rate):
    # A pod on a clip can be flicked toe-up for one sample by the forefoot slapping down
    # after the heel (a fourth simulator's compliant mount did it). The heel's roll had
    # already turned the foot toe-down fast, so the flick read as the swing starting: the
    # stance ended 40 ms after the landing, too short to be a contact (no contact time at
    # all before, at both rates). The toe-up turn now has to last 20 ms (10 at first).
    rec, truth = simulate.simulate("run", seed=5, rate_hz=rate, strike="rearfoot", duration=30)
    gyro = rec.imu[:, 3:6].astype(np.int64)
    for ev in truth:
        if ev["contact_ms"] is None or ev["contact_ms"] <= 0:
            continue
        i0, i1 = np.searchsorted(rec.t_us, [ev["ic_us"], ev["ic_us"] + ev["contact_ms"] * 1000])
        fastest = gyro[i0 + np.argmax(np.abs(gyro[i0:i1]).sum(axis=1))]  # the heel's roll, toe-down
        rec.imu[np.searchsorted(rec.t_us, ev["ic_us"] + 40_000), 3:6] = -fastest * 4 // 5
    s = evaluate.score(replay.replay(rec), truth, rec.duration_s, evaluate.pod_config())
    assert s["f1"] == 1.0, s["f1"]
    assert s["contact_median_abs_ms"] is not None and s["contact_median_abs_ms"] <= 5, s["contact_median_abs_ms"]


def _keep(rec, keep):
    """Keep only the samples of ``rec`` where the mask ``keep`` is true (the rest lost)."""
    rec.t_us = rec.t_us[keep]
    rec.imu = rec.imu[keep]


def _joined_mid(scenario, seed, rate, opts, t0_of, duration=16):
    """A simulated recording from ``t0_of(truth)`` on (its samples begin there), scored
    against the footfalls after that."""
    rec, truth = simulate.simulate(scenario, seed=seed, rate_hz=rate, mount="random", duration=duration, **opts)
    t0 = t0_of(truth)
    _keep(rec, rec.t_us >= t0)
    rec.t_us -= t0
    truth = [dict(e, ic_us=e["ic_us"] - t0, tc_us=e["tc_us"] - t0) for e in truth if e["ic_us"] >= t0]
    return evaluate.score(replay.replay(rec), truth, rec.duration_s, evaluate.pod_config())


@pytest.mark.parametrize("scenario, seed, rate, opts, phase", [
    # Recordings that begin mid-stride, with no standing first (F1 before: 0.867, 0.925,
    # 0.969, 0.945, 0.945). The first burst, its push-off unseen, once decided the axis sign
    # (wrong), and was counted again in the replay of the history; and an invalid "stride"
    # (a forefoot landing's heel drop taken for a swing) kept the machine half a stride out
    # of step, stride after stride.
    ("run", 454, 100, dict(strike="forefoot", speed=5.5, cadence=175), 0.45),
    ("run", 480, 1000, dict(strike="forefoot", speed=5.5, cadence=175), 0.2),
    ("run", 304, 200, dict(strike="rearfoot", speed=4.5, cadence=170), 0.15),
    ("walk", 508, 100, dict(speed=1.5), 0.8),
    ("walk", 513, 200, dict(speed=1.0), 0.8),
])
def test_joining_mid_stride_finds_every_footfall(scenario, seed, rate, opts, phase):
    s = _joined_mid(scenario, seed, rate, opts, lambda truth: truth[1]["ic_us"] + int(phase * 1e6),
                    duration=30 if scenario == "run" else 40)
    assert s["f1"] == 1.0, s["f1"]


@pytest.mark.parametrize("scenario, seed, rate, opts, into", [
    # Samples that begin in the swing, its toe-off unseen: the stride machine waited for a
    # push-off, so the first landing was lost whenever its swing began before the samples
    # (a quarter to a half of all joins mid-run). Now it starts in the swing, "cold".
    ("run", 11, 200, dict(strike="rearfoot", speed=4.0, cadence=170), 0.55),
    ("run", 12, 100, dict(strike="midfoot", speed=3.5, cadence=175), 0.4),
    ("run", 13, 400, dict(strike="forefoot", speed=5.0, cadence=185), 0.55),
    ("walk", 14, 100, dict(speed=1.3), 0.4),
    ("walk", 15, 400, dict(speed=1.1), 0.25),
])
def test_joining_mid_swing_keeps_its_landing(scenario, seed, rate, opts, into):
    def mid_swing(truth):
        e = truth[6]
        return e["tc_us"] + int(into * (e["ic_us"] - e["tc_us"]))
    s = _joined_mid(scenario, seed, rate, opts, mid_swing)
    assert s["f1"] == 1.0, s


@pytest.mark.parametrize("seed, strike, rate", [(21, "rearfoot", 100), (22, "midfoot", 200), (23, "forefoot", 400)])
@pytest.mark.parametrize("into", [0.05, 0.2, 0.6])
def test_joining_mid_stance_makes_no_landing_of_it(seed, strike, rate, into):
    # Begun cold, the engine must tell a stance from a swing: a heel strike's forefoot
    # slap and a push-off turn the foot toe-down fast, and a foot rolling on the ground
    # holds its pitch at 1 g. Taken for a swing, the push-off's jolt or toe-off was a
    # landing (4 of these 9 had a false footfall in place of the first).
    def mid_stance(truth):
        e = truth[6]
        return e["ic_us"] + int(into * e["contact_ms"] * 1000)
    s = _joined_mid("run", seed, rate, dict(strike=strike, speed=4.5, cadence=175), mid_stance)
    assert s["f1"] == 1.0, s


def test_a_run_joined_just_after_a_landing_makes_no_footfall_of_its_push_off():
    # The fourth simulator's runner (pollrun_200hz) begins 40 ms after a heel strike, its
    # foot at 1.3 g in mid-stance, the host's polling repeating a sample as the push-off
    # starts: its jolt, the foot having hardly turned since the samples began, was taken
    # for a landing (a footfall at 0.10 s, 0.57 s before the first).
    rec = podcsv.read(FIXTURES / "pollrun_200hz.csv")
    first = podcsv.read_events(FIXTURES / "pollrun_200hz.events.csv")[0]["ic_us"]
    footfalls = [int(x.split()[1]) for x in replay.replay_lines(rec) if x[0] == "I"]
    assert abs(footfalls[0] - first) < 30_000, (footfalls[:2], first)


def test_joining_a_run_mid_stride_at_1khz_finds_its_second_footfall():
    # The eighth simulator's forefoot runner at 1 kHz and 190 steps/min, recorded from
    # mid-swing, the stances never quiet. The axis sign is voted from two landings, but at
    # 1 kHz the history holds 1 s, less than a stride and the half second after the second:
    # the first three landings were lost (F1 0.769, see data/README.md). Only the first,
    # 0.3 s in with its swing unseen, is now.
    s = _score(FIXTURES, "midrun_1000hz")
    assert s["truth_steps"] == 8 and s["matched"] == 7 and s["detected_steps"] == 7, s


def _joined(a, truth_a, b, truth_b):
    """Recording ``b`` appended to ``a`` (one period after its last sample), and both
    truths on the joined clock."""
    off = int(a.t_us[-1]) + a.period_us
    a.t_us = np.concatenate([a.t_us, b.t_us + off])
    a.imu = np.concatenate([a.imu, b.imu])
    return a, list(truth_a) + [dict(e, ic_us=e["ic_us"] + off, tc_us=e["tc_us"] + off) for e in truth_b]


@pytest.mark.parametrize("k, rate, strike, f1_min", [
    (2, 200, "rearfoot", 1.0),  # clipped on tilted: the learned axis no longer level at rest
    (5, 400, "forefoot", 1.0),  # (both lost the whole second run before: F1 0.667)
    (0, 100, "rearfoot", 0.95),  # turned on the laces: rotation off the axis for 2 s (0.866)
])
def test_a_pod_clipped_on_again_another_way_learns_its_orientation_again(k, rate, strike, f1_min):
    # Two 30 s runs, the pod clipped on differently for the second (a stop to tie a lace).
    a, truth_a = simulate.simulate("run", seed=900 + k, rate_hz=rate, strike=strike, speed=3.5, cadence=172,
                                   mount="random", duration=30)
    b, truth_b = simulate.simulate("run", seed=950 + k, rate_hz=rate, strike=strike, speed=3.5, cadence=172,
                                   mount="random", duration=30)
    rec, truth = _joined(a, truth_a, b, truth_b)
    s = evaluate.score(replay.replay(rec), truth, rec.duration_s, evaluate.pod_config())
    assert s["f1"] >= f1_min, s["f1"]


def _then_run(first, seed, rate):
    """``first`` for 20 s, then a 15 s run, the pod clipped on the same way (same seed)."""
    a, _ = simulate.simulate(first, seed=seed, rate_hz=rate, duration=20, mount="random")
    b, truth = simulate.simulate("run", seed=seed, rate_hz=rate, strike=("rearfoot", "midfoot", "forefoot")[seed % 3],
                                 mount="random", duration=15)
    return _joined(a, [], b, truth)


@pytest.mark.parametrize("first, seed, rate", [
    ("tap", 405, 200),  # toe taps taught the axis sign the wrong way up: the run's first
    ("tap", 412, 100),  # strides overturned it, and were lost (F1 0.963 and 0.966)
    ("fidget", 406, 400),  # a fidget taught the axis itself: 2 s of running off it (0.800)
])
def test_a_run_after_toe_taps_or_fidgets_keeps_its_first_strides(first, seed, rate):
    rec, truth = _then_run(first, seed, rate)
    s = evaluate.score(replay.replay(rec), truth, rec.duration_s, evaluate.pod_config())
    assert s["f1"] == 1.0, s["f1"]


def _ringing(rec, truth, g=3.0, hz=45.0):
    """Ring the accelerometer through every stance (from 20 ms after the landing to 20 ms
    before the toe-off), ``g`` at ``hz`` along the vertical the stance began at."""
    acc = rec.imu[:, 0:3].astype(np.float64)
    for ev in truth:
        if not ev["contact_ms"]:
            continue
        i0, i1 = np.searchsorted(rec.t_us, [ev["ic_us"] + 20_000, ev["ic_us"] + ev["contact_ms"] * 1000 - 20_000])
        up = acc[i0 - 1] / np.linalg.norm(acc[i0 - 1])
        ring = g * 2048 * np.sin(2 * np.pi * hz * (rec.t_us[i0:i1] - ev["ic_us"]) / 1e6)
        acc[i0:i1] += ring[:, None] * up
    rec.imu[:, 0:3] = np.clip(np.round(acc), -32768, 32767)


@pytest.mark.parametrize("strike, seed", [("rearfoot", 5), ("mixed", 9)])
def test_a_stance_that_rings_at_several_g_keeps_its_strike_angle(strike, seed):
    # A pod on a clip can ring through the stance (the ninth simulator's did, at 3-5 g from
    # the impact to the push-off). Foot-flat, the angle's zero, had to be at 1 g: the first
    # quiet-enough sample after the impact stayed foot-flat, mid-slap, whenever no later
    # one was at 1 g (here strike angles 1.0 and 0.45 deg off, class 91.7 and 97.2 %; the
    # ninth's runs 2.5 deg, 89.1 %). Foot-flat is now the quietest rotation alone.
    rec, truth = simulate.simulate("run", seed=seed, rate_hz=200, duration=30, strike=strike, mount="random")
    _ringing(rec, truth)
    s = evaluate.score(replay.replay(rec), truth, rec.duration_s, evaluate.pod_config())
    assert s["f1"] == 1.0, s["f1"]
    assert s["strike_angle_mean_abs_deg"] <= 0.3, s["strike_angle_mean_abs_deg"]  # (0.17, 0.14 unrung)
    assert s["strike_class_accuracy"] == 1.0, s["strike_class_accuracy"]


def test_every_footfall_that_goes_out_is_also_a_step():
    # When the axis sign is overturned, a stance under way was dropped although its
    # footfall had gone out live: a cadence tick with no step. Here the sign is made
    # wrong on purpose: the gyro is negated for the first third of a run, so the engine
    # is sure of a sign the strides after it overturn (toe taps used to do this, but
    # they no longer teach a sign; 75 footfalls and 74 steps before the fix).
    rec, _ = simulate.simulate("run", seed=2, rate_hz=200, mount="random")
    n = len(rec) * 35 // 100
    rec.imu[:n, 3:6] = np.clip(-rec.imu[:n, 3:6].astype(np.int32), -32768, 32767)
    lines = replay.replay_lines(rec)
    footfalls = [int(x.split()[1]) for x in lines if x[0] == "I"]
    steps = [int(x.split()[1]) for x in lines if x[0] == "S"]
    assert sum(t > rec.t_us[n] for t in footfalls) >= 45  # of 53: the sign was overturned
    assert footfalls == steps


def test_no_footfall_goes_out_twice_when_the_sign_is_overturned_twice():
    # The second turn of a pair processed the history again as if nothing had gone out,
    # and the footfalls in it went out twice (the ninth simulator's rearfoot runner with
    # lost samples, `flipflop_200hz.csv`, did it: one 5 ms from its first time; that run
    # no longer turns the sign at all). Here the gyro is negated for 15 % of a run, so the
    # sign is overturned on the way in and turned back on the way out.
    rec, _ = simulate.simulate("run", seed=2, rate_hz=200, mount="random")
    n0, n1 = len(rec) * 30 // 100, len(rec) * 45 // 100
    rec.imu[n0:n1, 3:6] = np.clip(-rec.imu[n0:n1, 3:6].astype(np.int32), -32768, 32767)
    lines = replay.replay_lines(rec)
    footfalls = [int(x.split()[1]) for x in lines if x[0] == "I"]
    assert min(np.diff(footfalls)) > 300_000, footfalls  # (going back 1.7 s without the guard)
    assert footfalls == [int(x.split()[1]) for x in lines if x[0] == "S"]
    assert len(footfalls) >= 70  # of 79


def test_a_quiet_moment_in_the_air_does_not_overturn_the_axis_sign():
    # The ninth simulator's runner (upside down on the heel, 3 % of the samples lost)
    # never stands still, so no vertical tells the ground from the air, and its stances
    # ring at 3-5 g, so they are seldom quiet at 1 g. Its foot is, for a sample or two,
    # just after toe-off: the bursts from one such moment to the next turn the foot toe-up
    # only, and voted the axis sign wrong (overturned and turned back three times in
    # 13 s; the stances cut by each turn had no contact time, 3 of 18, and the cadence
    # started afresh). A quiet moment after the push-off, 15 deg toe-down from foot-flat,
    # is in the air and ends no burst now.
    s = _score(FIXTURES, "flipflop_200hz")
    assert s["f1"] == 1.0, s
    steps = replay.replay(podcsv.read(FIXTURES / "flipflop_200hz.csv"))["steps"]
    assert all(st["contact_ms"] is not None for st in steps), steps
    assert s["cadence_median_abs_spm"] <= 0.3, s


def test_the_step_a_runner_stops_on_counts_when_the_orientation_is_learned_again_at_rest():
    # A traffic-light stop where the learned axis looks tilted at rest (here: a sensor whose
    # gyro y axis is mirrored against its accelerometer's): the engine learns the axis
    # again, and the stance the runner stopped on was dropped with the old one.
    rec, truth = simulate.simulate("stop", seed=220, rate_hz=200, mount="random")
    rec.imu[:, 4] = np.clip(-rec.imu[:, 4].astype(np.int32), -32768, 32767)
    s = evaluate.score(replay.replay(rec), truth, rec.duration_s, evaluate.pod_config())
    assert s["f1"] == 1.0, s["f1"]  # 0.995 before: the step before the stop lost, none twice


def test_standing_fidgeting_tapping_make_no_footfalls():
    o = evaluate.suite_overall("idle")
    assert o["false_steps_per_min"] <= 1  # the target
    assert o["false_steps_per_min"] == 0  # these seeds: the two lone taps are no longer footfalls


def test_vigorous_toe_taps_are_not_strides():
    # 16 two-minute tapping bursts, taps up to 32 deg slapped down in as little as 50 ms:
    # as much toe-up turn as a shuffling step, but the foot is back down within 150 ms
    steps = 0
    for rate in (100, 200, 400, 1000):
        for seed in (1, 2, 3, 4):
            rec, _ = simulate.simulate("tap", seed=seed, rate_hz=rate, duration=120, mount="random")
            steps += len(replay.replay(rec)["steps"])
    assert steps <= 32  # 1 per minute, the target
    # these seeds: 0 (4 before taps stopped teaching the pitch axis's sign: a burst must
    # turn the foot 40 deg one way to orient it, 45 once oriented)
    assert steps == 0


def test_session_alerts_fire_in_their_episodes():
    o = evaluate.suite_overall("session")
    assert o["f1"] >= 0.99
    assert o["alert_recall"] == 1.0


def test_an_episode_the_coach_does_not_cue_is_not_owed_an_alert():
    # The coach cues one kind at most once per alert_gap_s (60 s), and a low-cadence alert
    # again only once the runner got back on target: recall must not ask for more.
    s = 1_000_000
    eps = [("low_cadence", 20 * s, 40 * s, True), ("overstride", 30 * s, 35 * s, True),
           ("low_cadence", 50 * s, 55 * s, True),  # 30 s after the cue
           ("low_cadence", 85 * s, 90 * s, True),  # recovered, 65 s after the cue
           ("low_cadence", 200 * s, 210 * s, False),  # never back on target since
           ("overstride", 220 * s, 230 * s, True)]
    assert evaluate._cued_episodes(eps, 60 * s) == {0, 1, 3, 5}
    # the truth marks a spell fresh only after a recovery to half the tolerance below target
    cfg = dict(evaluate.pod_config(), target_spm=180, cadence_tolerance_spm=5, low_cadence_after_s=5)
    spm = [170] * 20 + [176] * 10 + [170] * 20 + [178] * 10 + [170] * 20  # 176: not recovered
    ic = np.cumsum([0] + [int(120e6 / c) for c in spm[1:]]).astype(np.int64)
    events = [{"ic_us": int(t), "activity": "run"} for t in ic]
    assert [e[3] for e in evaluate._episodes(events, ic, cfg)] == [True, False, True]


def test_a_stop_at_a_traffic_light_ends_a_low_cadence_spell():
    # Below target for 2 s, stopped 45 s, then off at target: nothing was owed an alert (it
    # used to be, from 20 s into the spell, stop included, to the first stride after it).
    cfg = dict(evaluate.pod_config(), target_spm=180, cadence_tolerance_spm=5, low_cadence_after_s=20)
    s = 1_000_000
    before = [i * 120 * s // 170 for i in range(40)]  # 170 spm: 0.71 s strides, ~28 s
    slow = [before[-1] + (i + 1) * 120 * s // 160 for i in range(3)]  # dropping into the stop
    after = [slow[-1] + 45 * s + i * 120 * s // 180 for i in range(30)]
    ic = np.array(before + slow + after, dtype=np.int64)
    events = [{"ic_us": int(t), "activity": "run"} for t in ic]
    eps = evaluate._episodes(events, ic, cfg)
    assert [(k, a // s, b // s) for k, a, b, _ in eps] == [("low_cadence", 20, 32)], eps  # before the stop
    events2 = [{"ic_us": int(t), "activity": "run"} for t in ic[30:]]  # the spell starts at 20 s
    assert evaluate._episodes(events2, ic[30:], cfg) == []


def _score(folder, name):
    """pod evaluate's scores for one recording and its ground truth (NAME.events.csv)."""
    rec = podcsv.read(folder / (name + ".csv"))
    events = podcsv.read_events(folder / (name + ".events.csv"))
    return evaluate.evaluate_one(rec, events, evaluate.pod_config())


def test_real_walks_against_motion_capture():
    # The left foot's 0.982 is one footfall the motion capture does not label: at the turn
    # (16.9 to 18.5 s) the foot lands and stands flat and still for 0.6 s (1.00 g, under
    # 10 deg/s), a stance inside what the labels call one swing.
    for name, f1_min in (("gaitmap_walk_right", 0.99), ("gaitmap_walk_left", 0.98)):
        s = _score(DATA, name)
        assert s["f1"] >= f1_min, (name, s["f1"])
        assert s["ic_median_abs_ms"] <= 20


@pytest.mark.parametrize("phase", [0, 1])
def test_real_walks_at_100hz_keep_the_first_step(phase):
    # Every other sample: 102.4 Hz. Before the right foot's first step it shifts, 22 deg
    # toe-up at 146 deg/s, and comes down still for 0.3 s. At 204.8 Hz that peak passed
    # 150 deg/s and the shift ended at its landing; at 102.4 Hz it did not, the engine
    # waited for one in the swing state, past the real push-off, and lost the first step
    # (F1 0.982). A swing the foot is back at rest in is over.
    for name, f1_min in (("gaitmap_walk_right", 1.0), ("gaitmap_walk_left", 0.98)):
        rec = podcsv.read(DATA / (name + ".csv"))
        rec.t_us = rec.t_us[phase::2]
        rec.imu = rec.imu[phase::2]
        rec.rate_hz /= 2
        s = evaluate.evaluate_one(rec, podcsv.read_events(DATA / (name + ".events.csv")), evaluate.pod_config())
        assert s["f1"] >= f1_min, (name, s["f1"])
        assert s["ic_median_abs_ms"] <= 20


def test_a_turning_step_that_barely_pitches_the_foot_is_a_footfall():
    # At the turn the left foot lifts flat, swivels about 90 deg in the air and lands on
    # its heel at 18.43 s: it pitches only 25 deg toe-up, at 141 deg/s, under the 30 deg
    # and 150 deg/s a straight stride must reach. It rotated 0.3 s off the pitch axis.
    steps = replay.replay(podcsv.read(DATA / "gaitmap_walk_left.csv"), "cpython")["steps"]
    near = min(steps, key=lambda st: abs(st["ic_us"] - 18_427_734))
    assert abs(near["ic_us"] - 18_427_734) <= 40_000, near


def test_a_flat_footed_walkers_toe_up_turn_in_the_air_is_not_the_heel():
    # The foot turns back from toe-up, brakes hard for ~70 ms, then lands flat. Taking
    # that turn for a heel strike put IC 50-90 ms early: F1 0.24 (see data/README.md).
    s = _score(FIXTURES, "flatfoot_walk_100hz")
    assert s["f1"] >= 0.8, s["f1"]
    assert s["ic_median_abs_ms"] <= 10
    # The same at 204.8 Hz, where the foot brakes at 2.5-3 g after its turn: counted from
    # 3 g, the turn passed for the heel in most steps (F1 0.375).
    s = _score(FIXTURES, "flatfoot_walk_205hz")
    assert s["f1"] >= 0.85, s["f1"]
    assert s["ic_median_abs_ms"] <= 10


def test_a_landing_hidden_in_the_swings_braking_is_found_by_the_push_off():
    # At 100 Hz the swing brakes at up to 12.7 g and the heel's landing reads 3-5 g: no
    # impact stands out. Once flat the foot turns 40 deg toe-down, so it had landed, at the
    # heel's reversal. Before, two strides were found only at toe-off: F1 0.959.
    s = _score(FIXTURES, "fastrun_100hz")
    assert s["f1"] >= 0.975, s["f1"]
    steps = replay.replay(podcsv.read(FIXTURES / "fastrun_100hz.csv"), "cpython")["steps"]
    near = min(steps, key=lambda st: abs(st["ic_us"] - 15_388_624))
    assert abs(near["ic_us"] - 15_388_624) <= 10_000 and near["strike"] == "rearfoot"
    assert abs(near["contact_ms"] - 239) <= 15


def test_the_push_off_jolt_of_a_foot_that_landed_unseen_is_not_its_landing():
    # At 100 Hz the landing reads less than the swing's braking just before it, so the next
    # jolt the engine saw was the push-off's, 120-180 ms late. But by then the foot had lain
    # flat and level, and was turning toe-down at 300 deg/s: it had landed, at that
    # foot-flat. Before, fastrun F1 0.980 and midfoot_run 0.939 (see data/README.md).
    for name, landings in (("fastrun_100hz", ((20_828_551, 236, "rearfoot"),)),
                           ("midfoot_run_100hz", ((21_717_876, 195, "midfoot"), (32_548_396, 201, "midfoot")))):
        steps = replay.replay(podcsv.read(FIXTURES / (name + ".csv")), "cpython")["steps"]
        for ic_us, contact_ms, strike in landings:
            near = min(steps, key=lambda st: abs(st["ic_us"] - ic_us))
            assert abs(near["ic_us"] - ic_us) <= 15_000, (name, near)
            # contact within 2.5 samples (IC and toe-off each land on a 10 ms sample)
            assert abs(near["contact_ms"] - contact_ms) <= 25 and near["strike"] == strike, (name, near)
    assert _score(FIXTURES, "fastrun_100hz")["f1"] >= 0.995
    assert _score(FIXTURES, "midfoot_run_100hz")["f1"] >= 0.975


def test_a_runners_heel_lands_with_the_impact_not_at_the_toe_up_reversal_before_it():
    # Another simulator's heel-strike runner: the leg swings back before landing, so the
    # foot stops turning toe-up 15-20 ms before the heel hits. Taking that reversal for
    # the landing put IC 17 ms early (median |error| 18.9 ms) and the strike angle a
    # degree off; the impact itself is within a sample (see data/README.md).
    s = _score(FIXTURES, "heelrun_200hz")
    assert s["f1"] == 1.0
    assert s["ic_median_abs_ms"] <= 6, s["ic_median_abs_ms"]
    assert s["strike_angle_mean_abs_deg"] <= 0.8 and s["strike_class_accuracy"] == 1.0


def test_a_walk_that_starts_with_a_slow_heel_rise_keeps_its_first_strides():
    # Standing, then walking. The first push-off begins with a heel rise too slow to count
    # as loud; the sign was taken from the burst counted from when it got loud, which saw
    # the push-off's 51 deg as 30, less than the heel strike's turn. With the pod turned
    # back to front on the laces that flipped the axis, and the first three strides were
    # lost (F1 0.727) until the walk turned it back (see data/README.md).
    s = _score(FIXTURES, "walkstart_400hz")
    assert s["f1"] == 1.0, s["f1"]
    assert s["ic_median_abs_ms"] <= 10


def test_a_walkers_quiet_moment_just_after_toe_off_does_not_split_the_stride():
    # A slow walk from standing. Just after toe-off the foot is quiet for a sample, as on
    # the ground: the swing from there, all toe-up, taught the wrong sign, and every
    # stride split the same way never overturned it (F1 0, see data/README.md).
    s = _score(FIXTURES, "slowwalk_400hz")
    assert s["f1"] == 1.0, s["f1"]


def test_a_toe_up_bump_just_after_toe_off_is_not_the_swings_peak():
    # The foot turns toe-up a little just after toe-off, slows, then swings through: the
    # swing was taken to have peaked at the bump, and a jolt in the swing proper went out
    # as the landing (F1 0.857, see data/README.md).
    s = _score(FIXTURES, "swingbump_200hz")
    assert s["f1"] == 1.0, s["f1"]
    assert s["ic_median_abs_ms"] <= 5


def test_the_leg_braking_the_swing_is_not_a_landing_while_the_foot_turns_smoothly_toe_up():
    # The eighth simulator's forefoot runner at 400 Hz: 145 ms before every landing, with
    # the foot still turning toe-up at 230-280 deg/s (near half its swing's peak), the leg's
    # braking jolts the pod by 2-4 g within 5 ms; the rotation goes on without a kink. 6 of
    # 9 landings went out there, 140-150 ms early, and one was lost (F1 0.235, see
    # data/README.md).
    s = _score(FIXTURES, "airjolt_400hz")
    assert s["f1"] == 1.0, s["f1"]
    assert s["ic_median_abs_ms"] <= 3 and s["strike_class_accuracy"] == 1.0


def test_u_turns_do_not_tilt_the_learned_pitch_axis():
    # A ninth simulator's walker turning round every 6.5 s, the pod upside down on the
    # heel counter. A turning step rotates the foot partly about the vertical, within the
    # cone that teaches the axis; two U-turns tilted it 40 deg until the straight strides
    # fell outside the cone, and the orientation was learned again, one stride lost at
    # each (F1 0.955, strike angle 2.8 deg off, see data/README.md).
    s = _score(FIXTURES, "laps_200hz")
    assert s["f1"] == 1.0, s["f1"]
    assert s["strike_angle_mean_abs_deg"] <= 1.5, s["strike_angle_mean_abs_deg"]


def test_a_walkers_heel_lands_with_the_impact_when_the_foot_turned_back_in_the_air():
    # A third simulator's walker: the foot peaks toe-up 50-80 ms before the heel touches
    # and turns toe-down in the air. The walking rule took that reversal for the heel
    # (as when the forefoot slaps down after it), IC 60 ms early (F1 0.778, strike angle
    # 2.2 deg off). A slap comes with the foot back near flat; here it is still 13-24 deg
    # toe-up at the impact, which is the heel landing (see data/README.md).
    s = _score(FIXTURES, "heelwalk_200hz")
    assert s["f1"] == 1.0, s["f1"]
    assert s["ic_median_abs_ms"] <= 5 and s["strike_angle_mean_abs_deg"] <= 1


def test_a_low_heel_strike_after_a_turn_in_the_air_is_not_a_forefoot_slap():
    # A fourth simulator's slow walker lands on the heel at 7-13 deg, 50-100 ms after the
    # foot peaked toe-up in the air. At the heel's impact the foot is already within
    # 10 deg of flat, as at a slap, so the reversal in the air was taken for the heel
    # (F1 0.643). A slap follows the roll over the heel (gaitmap's: 17 deg toe-down since
    # the reversal); this foot had turned 2-5 deg (see data/README.md).
    s = _score(FIXTURES, "shortheel_walk_200hz")
    assert s["f1"] == 1.0, s["f1"]
    assert s["ic_median_abs_ms"] <= 10


def _early_landings(name):
    """The fixture's detected landings that came more than 25 ms before the nearest true one."""
    truth = [e["ic_us"] for e in podcsv.read_events(FIXTURES / (name + ".events.csv"))]
    steps = replay.replay(podcsv.read(FIXTURES / (name + ".csv")), "cpython")["steps"]
    return [st["ic_us"] for st in steps if min(truth, key=lambda t: abs(t - st["ic_us"])) - st["ic_us"] > 25_000]


def test_a_runners_weak_jolt_at_the_toe_up_reversal_waits_for_a_stronger_one():
    # A fourth simulator's rearfoot runner: the foot stops turning toe-up abruptly 30-60 ms
    # before the heel lands, and the reversal jolts the pod just over the impact floor. In
    # other simulators a heel lands just as weakly at the reversal, so the jolt alone
    # cannot tell. It is now held for 80 ms: a jolt twice as strong is the landing. Six of
    # 28 landings were 25-50 ms early before, strike angle off by 0.89 deg on average.
    early = _early_landings("heelrun_wobble_200hz")
    assert len(early) <= 2, early
    s = _score(FIXTURES, "heelrun_wobble_200hz")
    assert s["strike_angle_mean_abs_deg"] <= 0.7 and s["ic_median_abs_ms"] <= 5, s


def test_timestamps_that_jitter_by_250_us_change_nothing():
    # The wobbling heel runner with every timestamp moved by up to 250 us (intervals 10 %
    # off the rate). Counted as unevenly spaced, such samples switched off the jerk's bend
    # and the hold at the toe-up reversal: strike angles 0.62-0.67 deg off instead of 0.60.
    # With seed 3 the forefoot's bounce after the first landing turned the pod toe-up for
    # three samples, 10.1 ms, past the 10 ms a toe-off's turn had to last: that stance
    # ended 84 ms after the landing. A toe-off's turn now lasts 20 ms.
    rec = podcsv.read(FIXTURES / "heelrun_wobble_200hz.csv")
    events = podcsv.read_events(FIXTURES / "heelrun_wobble_200hz.events.csv")
    cfg = evaluate.pod_config()
    plain = evaluate.evaluate_one(rec, events, cfg)
    assert plain["f1"] == 1.0 and plain["strike_class_accuracy"] == 1.0
    t_us = rec.t_us
    for seed in range(4):
        rec.t_us = t_us + np.random.default_rng(seed).integers(-250, 251, len(t_us))
        s = evaluate.evaluate_one(rec, events, cfg)
        assert s["f1"] == 1.0 and s["strike_class_accuracy"] == 1.0, (seed, s)
        assert s["strike_angle_mean_abs_deg"] <= plain["strike_angle_mean_abs_deg"] + 0.05, (seed, s)
        assert s["ic_median_abs_ms"] <= plain["ic_median_abs_ms"] + 0.5, (seed, s)


def test_a_jolt_on_hold_waits_for_a_landing_that_shows_70_ms_later():
    # The fourth simulator's forefoot runner: the reversal jolts the pod up to 55 ms before
    # the landing, whose own jolt shows 10-15 ms after the contact. Held for 60 ms, three
    # landings were put 48-50 ms early, at the reversal (class 90.7 %, angle 1.1 deg off).
    early = _early_landings("ffrun_200hz")
    assert not early, early
    s = _score(FIXTURES, "ffrun_200hz")
    assert s["f1"] == 1.0 and s["strike_class_accuracy"] >= 0.97, s
    assert s["strike_angle_mean_abs_deg"] <= 0.9 and s["ic_median_abs_ms"] <= 6, s


def test_a_reversal_jolt_a_sample_past_the_jerk_span_is_held_too():
    # The pitch rate crosses zero a sample earlier or later with a gyro bias of 3 deg/s, and
    # the reversal's own jolt came 10 ms after it: held only within the 5 ms jerk span, it
    # was taken for the landing, 67 ms early. Held up to 15 ms after the reversal, the
    # landing's jolt, 9 times as strong, takes its place. (The landing at 1.40 s, 37 ms
    # early, is the recording's second: no activity is known yet, so nothing is held.)
    early = _early_landings("pollrun_200hz")
    assert all(t < 1_500_000 for t in early), early
    assert _score(FIXTURES, "pollrun_200hz")["f1"] == 1.0


def test_a_weak_bend_in_the_air_is_held_like_a_jolt():
    # A fifth simulator's forefoot runner, the pod on the heel counter: braking at 7 g in
    # late swing, the foot starts turning toe-down 45-60 ms before it lands, and that bends
    # the acceleration as a landing does. Taken as one at once, 10 of 15 landings were
    # 26-57 ms early, classed rearfoot or midfoot (class 40 %, strike angle 11 deg off). A
    # bend that changes the acceleration by less than half of what it was is held now. Held
    # only within 15 ms of the reversal, 3 landings were still 26-37 ms early (class 86.7 %,
    # 3.3 deg): there the foot had turned toe-down for 20-45 ms. It is held whenever it comes.
    early = _early_landings("ffrun_100hz")
    assert not early, early
    s = _score(FIXTURES, "ffrun_100hz")
    assert s["f1"] == 1.0 and s["strike_class_accuracy"] == 1.0 and s["strike_angle_mean_abs_deg"] <= 2, s


def test_a_landing_on_hold_is_kept_when_samples_are_lost():
    # The forefoot runner above: the bend at 4.46 s is held, and 60 ms of samples lost just
    # after it hide the landing's own jolt. The hold went with the stride the hole broke,
    # and the footfall was lost. It is taken now; and as a hole that short in the air no
    # longer breaks the stride, its stance is measured too (truth: 218 ms, forefoot; taken
    # at the held bend, 57 ms before the landing the hole hid, it reads 244 ms).
    rec = podcsv.read(FIXTURES / "ffrun_100hz.csv")
    _keep(rec, (rec.t_us < 4_470_000) | (rec.t_us >= 4_530_000))
    steps = replay.replay(rec, "cpython")["steps"]
    assert len(steps) == 15
    hidden = [st for st in steps if 4_400_000 < st["ic_us"] < 4_530_000]
    assert len(hidden) == 1 and hidden[0]["strike"] == "forefoot", hidden
    assert abs(hidden[0]["contact_ms"] - 218) <= 30, hidden


def test_the_first_stride_from_standing_is_timed_from_its_push_off():
    # A fourth simulator's runner starting from standing: the foot leaves the ground and
    # keeps turning toe-down for 160 ms before the swing turns it toe-up. Timed from that
    # toe-up turn the first swing lasted 148 ms, too short for a stride, and the first
    # landing was lost (F1 0.960). From standing it is now timed from the push-off.
    s = _score(FIXTURES, "runstart_200hz")
    assert s["f1"] == 1.0, s["f1"]


def test_a_jolt_measured_across_lost_samples_is_not_held():
    # Across lost samples a landing's jolt can read weak; held for a stronger one, the
    # lost-sample suite lost strike classes and IC timing (class 0.946, IC 4.6 ms, against
    # 0.988 and 3.1 ms without holding). Such a jolt is taken as it is.
    o = evaluate.suite_overall("lost")
    assert o["strike_class_accuracy"] >= 0.98 and o["ic_median_abs_ms"] <= 4, o


def test_a_jolt_small_against_the_swings_braking_is_not_the_landing():
    # A third simulator's midfoot runner: braking at 9-10 g in late swing, the foot turns
    # from toe-up to toe-down 60 ms before it lands, and the braking changes by 1.5-1.7 g
    # within 5 ms there, just over the 1.5 g floor. A quarter of the strides landed 60 ms
    # early, 15 deg toe-up (F1 0.786). A jolt now has to be a fifth of the acceleration
    # before it within 5 ms. At 100 Hz the turn, over 10 ms, is more than a fifth but
    # less than two: three strides there were classed rearfoot (class 0.909, angle off
    # by 1.5 deg; see data/README.md).
    s = _score(FIXTURES, "midrun_200hz")
    assert s["f1"] == 1.0, s["f1"]
    assert s["ic_median_abs_ms"] <= 5 and s["strike_class_accuracy"] == 1.0
    s = _score(FIXTURES, "midrun_100hz")
    assert s["f1"] >= 0.95 and s["strike_class_accuracy"] == 1.0, s
    assert s["strike_angle_mean_abs_deg"] <= 1.0


def test_evaluate_cli_table_and_json(capsys):
    assert cli.main(["evaluate", str(DATA / "gaitmap_walk_right.csv")]) == 0
    text = capsys.readouterr().out
    assert "gaitmap_walk_right.csv" in text and "OVERALL" in text
    out = _cli_json(capsys, "evaluate", str(DATA / "gaitmap_walk_right.csv"), "--json")
    assert out["overall"]["f1"] >= 0.99 and len(out["files"]) == 1


def test_user_mistakes_are_one_line_errors(tmp_path, capsys):
    assert cli.main(["replay", str(tmp_path / "missing.csv")]) == 1
    assert capsys.readouterr().err.startswith("pod: ")
    bad = tmp_path / "bad.csv"
    bad.write_text("hello\n")
    assert cli.main(["replay", str(bad)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("pod: ") and "Traceback" not in err
    assert cli.main(["evaluate", str(DATA / "xio_short_walk.csv")]) == 1
    assert "no ground truth" in capsys.readouterr().err
    rec = tmp_path / "walk.csv"
    rec.write_bytes((DATA / "xio_short_walk.csv").read_bytes())
    (tmp_path / "walk.events.csv").write_text("")  # an empty truth is not "no strides"
    assert cli.main(["evaluate", str(rec)]) == 1
    assert "expected a header with ic_us" in capsys.readouterr().err
    for value in ("1e30", "inf", "nan"):  # a float that is no int64 time
        (tmp_path / "walk.events.csv").write_text("ic_us,tc_us\n%s,\n" % value)
        assert cli.main(["evaluate", str(rec)]) == 1
        assert capsys.readouterr().err == "pod: %s: line 2: ic_us %s is out of range\n" % (
            tmp_path / "walk.events.csv", value)
    # the truth is checked as the contract has it: one row per stride, known names
    for text, said in (("ic_us,tc_us\n2000000,\n1000000,\n2000000,\n", "two rows have ic_us 2000000"),
                       ("ic_us,strike\n1000000,heel\n", "line 2: strike 'heel' is not one of rearfoot, midfoot"),
                       ("ic_us,activity\n1000000,jog\n", "line 2: activity 'jog' is not one of walk, run"),
                       ("ic_us,strike_angle_deg\n1000000,nan\n", "line 2: strike_angle_deg nan is not an angle")):
        (tmp_path / "walk.events.csv").write_text(text)
        assert cli.main(["evaluate", str(rec)]) == 1
        err = capsys.readouterr().err
        assert err.startswith("pod: %s: " % (tmp_path / "walk.events.csv")) and said in err, err
    assert cli.main(["simulate", "--scenario", "run", "--duration", "0", "--out", str(tmp_path / "s.csv")]) == 1
    assert capsys.readouterr().err == "pod: duration 0 s is out of range (15 to 21600)\n"
    # an option the scenario would ignore is refused, not silently dropped
    assert cli.main(["simulate", "--scenario", "walk", "--strike", "forefoot", "--out", str(tmp_path / "s.csv")]) == 1
    assert capsys.readouterr().err.startswith("pod: --strike does not apply to the walk scenario (walking")
    assert cli.main(["simulate", "--scenario", "tap", "--cadence", "180", "--out", str(tmp_path / "s.csv")]) == 1
    assert "--cadence does not apply to the tap scenario" in capsys.readouterr().err
    assert cli.main(["simulate", "--scenario", "walk", "--seed", "-1", "--out", str(tmp_path / "s.csv")]) == 1
    assert capsys.readouterr().err == "pod: the seed must be a whole number from 0 (got -1)\n"
    assert not (tmp_path / "s.csv").exists()
    # the recording and its truth are written both or neither: a recording there is kept
    earlier = "# pod-imu 1\n# rate_hz=200 accel_fs_g=16 gyro_fs_dps=2000\nt_us,ax,ay,az,gx,gy,gz\n"
    (tmp_path / "k.csv").write_text(earlier)
    (tmp_path / "k.events.csv").mkdir()
    assert cli.main(["simulate", "--scenario", "run", "--duration", "20", "--out", str(tmp_path / "k.csv")]) == 1
    assert capsys.readouterr().err == "pod: cannot write %s (Is a directory)\n" % (tmp_path / "k.events.csv")
    assert (tmp_path / "k.csv").read_text() == earlier and sorted(p.name for p in tmp_path.glob("k*")) == [
        "k.csv", "k.events.csv"]
    # ... and a file there that is no recording (a mistyped --out) is not written over
    (tmp_path / "notes.csv").write_text("my splits\n")
    assert cli.main(["simulate", "--scenario", "run", "--duration", "20", "--out", str(tmp_path / "notes.csv")]) == 1
    assert capsys.readouterr().err == ("pod: %s exists and is not a pod-imu recording: not overwritten (remove it "
                                       "or write somewhere else)\n" % (tmp_path / "notes.csv"))
    assert (tmp_path / "notes.csv").read_text() == "my splits\n" and not (tmp_path / "notes.events.csv").exists()
    # options that would be ignored are refused, and a config that is no JSON says so
    walk = str(DATA / "gaitmap_walk_left.csv")
    assert cli.main(["evaluate", walk, "--seed", "5"]) == 1
    assert capsys.readouterr().err == "pod: --seed is the base seed of a --suite (recordings have no seed)\n"
    assert cli.main(["replay", walk, "--ramp-day", "-3"]) == 1
    assert capsys.readouterr().err == "pod: --ramp-day: -3 is before the ramp starts\n"
    assert cli.main(["replay", walk, "--config", walk]) == 1
    assert capsys.readouterr().err.startswith("pod: %s: not a JSON config file (Expecting value" % walk)
    # a folder where a file belongs: the operating system's reason, on one line
    assert cli.main(["replay", str(DATA / "gaitmap_walk_left.csv"), "--config", str(tmp_path)]) == 1
    assert capsys.readouterr().err == "pod: %s: Is a directory\n" % tmp_path
    assert cli.main(["demo", "--minutes", "0", "--out", str(tmp_path / "demo")]) == 1
    assert capsys.readouterr().err == "pod: --minutes: a session of 2 to 360 minutes (got 0)\n"
    assert not (tmp_path / "demo").exists()  # checked before any pod is started
    assert cli.main(["evaluate", str(DATA / "gaitmap_walk_left.events.csv")]) == 1
    assert "only ground-truth files given" in capsys.readouterr().err
    assert cli.main(["demo", "--seed", "-1", "--out", str(tmp_path / "demo")]) == 1
    assert capsys.readouterr().err == "pod: the seed must be a whole number from 0 (got -1)\n"
    # the demo replaces its database, pod image and report: never in someone else's folder
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "sessions.sqlite").write_bytes(b"my runs")
    (mine / "notes.txt").write_text("x")
    assert cli.main(["demo", "--out", str(mine)]) == 1
    assert "holds files that are not a previous demo's" in capsys.readouterr().err
    assert (mine / "sessions.sqlite").read_bytes() == b"my runs"
    old_demo = tmp_path / "old-demo"  # made before demos marked their folder
    old_demo.mkdir()
    for name in ("trace.jsonl", "pod.img", "sessions.sqlite"):
        (old_demo / name).write_bytes(b"")
    assert demo._demo_folder(old_demo) == old_demo and (old_demo / ".pod-demo").exists()
    assert cli.main(["demo", "--out", str(mine / "notes.txt")]) == 1
    assert capsys.readouterr().err == "pod: --out %s: not a folder\n" % (mine / "notes.txt")
    for board in ("nope", "../firmware/app", "_private"):  # a board's plain name, nothing else
        assert cli.main(["flash", "--board", board, "--port", str(tmp_path / "no-such-port")]) == 1
        assert capsys.readouterr().err == "pod: unknown board %r (known: esp32_devkitc, lolin_d32)\n" % board


@pytest.mark.parametrize("value", ["99999999999999999999999", "1_000", "0x10"])
def test_a_sample_that_is_not_a_plain_int64_is_named(tmp_path, capsys, value):
    rec = tmp_path / "r.csv"
    rec.write_text("# pod-imu 1\n# rate_hz=200\nt_us,ax,ay,az,gx,gy,gz\n0,1,2,3,4,5,6\n%s,1,2,3,4,5,6\n" % value)
    assert cli.main(["replay", str(rec)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("pod: %s: line 5: expected 7 integers" % rec) and err.count("\n") == 1, err


def test_ground_truth_rows_out_of_order_are_sorted(tmp_path):
    rec = tmp_path / "walk.csv"
    rec.write_bytes((DATA / "gaitmap_walk_right.csv").read_bytes())
    lines = (DATA / "gaitmap_walk_right.events.csv").read_text().splitlines()
    (tmp_path / "walk.events.csv").write_text("\n".join([lines[0]] + lines[:0:-1]) + "\n")
    events = podcsv.read_events(tmp_path / "walk.events.csv")
    assert [e["ic_us"] for e in events] == sorted(e["ic_us"] for e in events)
    s = evaluate.evaluate_one(podcsv.read(rec), events, evaluate.pod_config())
    assert s["f1"] >= 0.99


def test_a_bad_sample_row_is_named_and_a_cut_off_last_line_is_left_out(tmp_path, capsys):
    head = "# pod-imu 1\n# rate_hz=200 accel_fs_g=16 gyro_fs_dps=2000\nt_us,ax,ay,az,gx,gy,gz\n"
    rows = "".join("%d,0,0,2048,0,0,0\n" % (5000 * k) for k in range(400))
    bad = tmp_path / "bad.csv"
    bad.write_text(head + rows + "2000000,1,abc,3,4,5,6\n" + rows.replace("0,0,0,2048", "9,0,0,2048"))
    assert cli.main(["replay", str(bad)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "line 404" in err and "'2000000,1,abc,3,4,5,6'" in err, err
    cut = tmp_path / "cut.csv"
    cut.write_text(head + rows + "2000000,1984,-70,5")  # a copy cut off mid-line
    assert cli.main(["replay", "--json", str(cut)]) == 0
    out, err = capsys.readouterr()
    assert "last line is incomplete" in err and json.loads(out)["steps"] == []
    wrong = tmp_path / "wrong.csv"  # a header rate the samples do not have
    wrong.write_text(head.replace("rate_hz=200", "rate_hz=50") + rows)
    assert cli.main(["replay", str(wrong)]) == 1
    assert capsys.readouterr().err == (
        "pod: %s: the header says rate_hz=50, but the samples come every 5000 us (200 Hz)\n" % wrong)


def test_a_quiet_moment_in_the_swing_does_not_overturn_the_orientation():
    # The first simulator's midfoot runner, with accelerometer offsets an uncalibrated
    # MPU6050 can have (60-70 mg): just after toe-off the foot, its toes 60-80 deg down,
    # is as quiet for 5-20 ms as on the ground (under 80 deg/s, |a| near 1 g). Strides
    # were split there, and half a stride, all toe-down or all toe-up, counted as a
    # stride's evidence on the pitch axis's sign. After 4 strides the sign was
    # overturned: every other footfall was lost and strike angles were 20 deg off
    # (F1 0.774). Such a moment is now told from the ground by gravity, and half a
    # stride is no evidence (see data/README.md).
    s = _score(FIXTURES, "swingrest_200hz")
    assert s["f1"] == 1.0 and s["strike_angle_mean_abs_deg"] <= 1, s


def test_a_run_started_without_a_pause_is_oriented_from_the_history():
    # A sprint whose first 3.7 s hold no rest, with an uncalibrated MPU6050's gyro and
    # accelerometer offsets: the burst that orients the pod is longer than the history.
    # Integrated live, along an axis still being learned, it taught the wrong sign (F1
    # 0.667). Judged at its end by the whole history, the two strides older than the
    # history were lost (F1 0.875); it is judged now, from the rest it began at, when that
    # rest is about to leave the history (see data/README.md).
    s = _score(FIXTURES, "sprintstart_100hz")
    assert s["matched"] >= 16 and s["strike_angle_mean_abs_deg"] <= 1, s  # of 17 (F1 0.941)


def test_a_run_whose_stances_never_go_quiet_is_oriented_from_the_rest_it_began_at():
    # A midfoot run at 6 m/s: in no stance is the foot quiet (the gyro stays above 90 deg/s,
    # |a| at 1.1 to 7.8 g), so no burst ever ended at a rest and the pod was never oriented
    # (F1 0). The burst is judged from the rest before the run once the history is full.
    s = _score(FIXTURES, "fastmid_400hz")
    assert s["f1"] == 1.0 and s["strike_angle_mean_abs_deg"] <= 1.5, s


def _joined_at(name, t0_us):
    """A fixture from ``t0_us`` on, as if the samples began there, and its truth after it."""
    rec = podcsv.read(FIXTURES / (name + ".csv"))
    _keep(rec, rec.t_us >= t0_us)
    return rec, [e for e in podcsv.read_events(FIXTURES / (name + ".events.csv")) if e["ic_us"] > t0_us]


@pytest.mark.parametrize("t0_ms", [5000, 5100, 5250, 5400, 5550])
def test_a_run_joined_mid_run_whose_stances_never_go_quiet_is_oriented_from_its_landings(t0_ms):
    # The same run, the samples beginning mid-run (a pod started, or restarted, on the run):
    # no rest is ever seen, so no burst could be judged from one and the pod was never
    # oriented (F1 0). After 1.5 s with no rest, the two strongest jolts a stride apart are
    # taken for landings and the push-off's toe-down turn is measured from each.
    rec, events = _joined_at("fastmid_400hz", t0_ms * 1000)
    s = evaluate.evaluate_one(rec, events, evaluate.pod_config())
    assert s["matched"] >= s["truth_steps"] - 1 and s["precision"] == 1.0, s  # the first may come too soon


def test_a_push_offs_jolt_is_not_taken_for_the_landing_that_orients_a_run_joined_mid_run():
    # A midfoot run at 100 Hz joined at 28.6 s: its strongest jolt is a push-off's, 215 ms
    # after a landing, and from there the swing turns the foot toe-up the most. Voted from
    # that jolt alone the sign came out wrong (F1 0.364: 3 detected, 1 of them false). The
    # second landing, a stride away, must agree.
    rec, events = _joined_at("midfoot_run_100hz", 28_609_000)
    s = evaluate.evaluate_one(rec, events, evaluate.pod_config())
    assert s["precision"] == 1.0 and s["matched"] >= 4, s


def test_micropython_replay_equals_cpython_on_a_run_joined_mid_run():
    # The vote from landings is a path of its own, taken only with no rest ever seen.
    rec, _ = _joined_at("fastmid_400hz", 5_250_000)
    cp = replay.replay_lines(rec, "cpython")
    assert replay.replay_lines(rec, "micropython") == cp
    assert sum(1 for line in cp if line.startswith("S ")) >= 7


def test_replay_coaches_as_on_the_given_day_of_a_cadence_ramp(tmp_path, capsys):
    rec = tmp_path / "run.csv"
    assert cli.main(["simulate", "--scenario", "run", "--cadence", "164", "--duration", "60", "--seed", "3",
                     "--out", str(rec)]) == 0
    ramp = tmp_path / "ramp.json"
    ramp.write_text('{"ramp_percent": 10, "baseline_spm": 160, "ramp_weeks": 4}')
    capsys.readouterr()
    day0 = _cli_json(capsys, "replay", str(rec), "--config", str(ramp), "--json")
    day28 = _cli_json(capsys, "replay", str(rec), "--config", str(ramp), "--ramp-day", "28", "--json")
    plain = _cli_json(capsys, "replay", str(rec), "--json")  # target 180 from the start
    assert not day0["cues"] and not day0["alerts"]  # 164 spm is above day 0's 160
    assert day28["cues"] and plain["cues"]  # 176 spm by day 28, 180 without a ramp
    assert any(a["kind"] == "low_cadence" for a in plain["alerts"])
    assert cli.main(["replay", str(rec), "--config", str(ramp), "--ramp-day", "28"]) == 0
    assert "coach: cadence ramp day 28: target 176 spm" in capsys.readouterr().out
    # no baseline yet: this run learns it, with no cadence cues (the same in both runtimes)
    ramp.write_text('{"ramp_percent": 10, "baseline_spm": 0}')
    learn = _cli_json(capsys, "replay", str(rec), "--config", str(ramp), "--json")
    assert not learn["cues"] and all(a["kind"] != "low_cadence" for a in learn["alerts"])
    assert learn == _cli_json(capsys, "replay", str(rec), "--config", str(ramp), "--json", "--runtime", "micropython")
    assert learn["steps"] == plain["steps"]
