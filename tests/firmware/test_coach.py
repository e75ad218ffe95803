"""Coach rules on both runtimes: metronome grid, modes, alerts and their restraint."""
import coach
from compat import TICKS_MAX, ticks_add, ticks_diff

RUN = 2
WALK = 1
REARFOOT = 0
MIDFOOT = 1


def _cfg(**kw):
    cfg = {"target_spm": 180, "cadence_tolerance_spm": 5, "metronome": "always", "low_cadence_after_s": 20,
           "overstride_angle_deg": 15, "overstride_m": 3, "overstride_n": 5, "alert_gap_s": 60}
    cfg.update(kw)
    return cfg


def _drive(c, start, seconds, spm, activity=RUN, strike=MIDFOOT, cdeg=300, step_us=5000):
    """Footfalls of one foot at ``spm`` (both feet) for ``seconds``; returns (clicks, alerts)."""
    stride = 120000000 // spm
    clicks = []
    alerts = []
    t = start
    next_ff = start
    n = seconds * 1000000 // step_us
    while n > 0:
        n -= 1
        if ticks_diff(t, next_ff) >= 0:
            c.on_footfall(t, spm * 10, activity)
            c.on_step(t, strike, cdeg)
            next_ff = ticks_add(next_ff, stride)
        f = c.tick(t)
        if f & coach.EV_CLICK:
            clicks.append(c.click_t)
        if f & coach.EV_ALERT:
            alerts.append((t, coach.ALERT_NAMES[c.alert_kind]))
        t = ticks_add(t, step_us)
    return clicks, alerts, t


def test_metronome_is_exact_for_an_hour_across_the_wrap():
    start = TICKS_MAX - 1000000000 // 2  # wraps after about 9 minutes
    c = coach.Coach(_cfg(target_spm=173), start)
    clicks, _, _ = _drive(c, start, 3600, 173, step_us=1000)
    first = clicks[0]
    assert len(clicks) >= 173 * 60 - 2
    # Onset k must be first + floor(k * 60e6 / 173) exactly: no drift at all.
    for k in (1, 2, 17, 1000, len(clicks) - 1):
        expect = ticks_add(first, (k * 60000000) // 173 - 0)
        assert abs(ticks_diff(clicks[k], expect)) <= 1, (k, ticks_diff(clicks[k], expect))


def test_metronome_is_silent_while_walking_or_standing():
    c = coach.Coach(_cfg(), 0)
    clicks, alerts, t = _drive(c, 0, 60, 110, activity=WALK, strike=REARFOOT, cdeg=2500)
    assert clicks == [] and alerts == []
    clicks, alerts, _ = _drive(c, t, 30, 0 or 120, activity=0)
    assert clicks == [] and alerts == []


def test_below_mode_clicks_only_below_target():
    c = coach.Coach(_cfg(metronome="below", low_cadence_after_s=600), 0)
    clicks, _, t = _drive(c, 0, 30, 180)
    assert clicks == []
    clicks, _, t = _drive(c, t, 30, 166)
    assert len(clicks) >= 80  # about 90 clicks at 180/min over 30 s
    clicks, _, _ = _drive(c, t, 30, 181)
    assert len(clicks) <= 2  # stops once back on target


def test_fade_mode_thins_clicks_while_on_target():
    c = coach.Coach(_cfg(metronome="fade"), 0)
    clicks, _, t = _drive(c, 0, 120, 180)
    first = sum(1 for x in clicks if x < 30000000)
    last = sum(1 for x in clicks if x >= 90000000)
    assert first >= 80 and last <= first // 3
    clicks, _, _ = _drive(c, t, 20, 165)  # slipping: every click again
    assert len(clicks) >= 55


def test_low_cadence_alert_after_the_hold_and_not_before():
    c = coach.Coach(_cfg(metronome="off"), 0)
    _, alerts, t = _drive(c, 0, 15, 168)
    assert alerts == []
    _, alerts, t = _drive(c, t, 10, 168)
    assert [a[1] for a in alerts] == ["low_cadence"]
    _, alerts, _ = _drive(c, t, 30, 168)  # still low: no nagging within the gap
    assert alerts == []


def test_no_alerts_on_target_and_overstride_needs_m_of_n():
    c = coach.Coach(_cfg(metronome="off"), 0)
    _, alerts, t = _drive(c, 0, 120, 182)
    assert alerts == []
    _, alerts, t = _drive(c, t, 3, 182, strike=REARFOOT, cdeg=1200)  # heel-first but below 15 deg
    assert alerts == []
    _, alerts, t = _drive(c, t, 4, 182, strike=REARFOOT, cdeg=2200)
    assert [a[1] for a in alerts] == ["overstride"]
    _, alerts, _ = _drive(c, t, 20, 182, strike=REARFOOT, cdeg=2200)  # gap: once a minute at most
    assert alerts == []


def test_ramped_target():
    cfg = _cfg(baseline_spm=160, ramp_percent=5, ramp_weeks=4)
    assert coach.ramped_target(cfg, 0) == 160
    assert coach.ramped_target(cfg, 14) == 164
    assert coach.ramped_target(cfg, 400) == 168
    assert coach.ramped_target(_cfg(), 10) == 180


def test_bad_settings_are_refused():
    for bad in ({"metronome": "loud"}, {"overstride_m": 6, "overstride_n": 5}, {"target_spm": 230}):
        try:
            coach.Coach(_cfg(**bad))
        except ValueError:
            continue
        raise AssertionError(bad)
