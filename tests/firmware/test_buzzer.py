"""Buzzer patterns and the metronome on a recording PWM / RMT with a simulated clock.

The loop is simulated as the main loop behaves: it wakes at ``next_deadline`` (or earlier,
for a FIFO read) plus a random latency of up to 1.5 ms, and calls ``service``. Ticks wrap at
2**30 as on the ESP32; every run starts just before a wrap.
"""
import buzzer as bz
from _support import IS_MICROPYTHON, skip
from compat import TICKS_MAX, ticks_add, ticks_diff
from fake_pwm import FakeClock, FakePWM, FakeRMT

NEAR_WRAP = TICKS_MAX - 2000000  # 2 s before the wrap


class Rng:
    """A tiny LCG: the same numbers under CPython and MicroPython."""

    def __init__(self, seed):
        self.s = seed

    def below(self, n):
        self.s = (self.s * 1103515245 + 12345) & 0x7FFFFFFF
        return (self.s >> 4) % n


def _run(buz, clock, until_abs, start_abs, rng=None, max_latency=1500, idle_wake=200000):
    """Advance the clock from start_abs to until_abs, calling service like the main loop."""
    t = start_abs
    while t < until_abs:
        clock.now = t & TICKS_MAX
        buz.service(clock.now)
        dl = buz.next_deadline(clock.now)
        wait = idle_wake if dl is None else ticks_diff(dl, clock.now)
        if rng is None:
            t += wait if wait > 0 else 1
        else:
            # an earlier wake-up (a FIFO read) some of the time, and always a latency <= 1.5 ms
            early = rng.below(idle_wake)
            t += (early if early < wait else wait) + 1 + rng.below(max_latency)
    clock.now = t & TICKS_MAX
    return t


def _expected(pattern):
    """Documented (start_us, end_us, freq) of each tone, relative to the pattern start."""
    out = []
    t = 0
    for f, on, off in pattern:
        out.append((t, t + on * 1000, f))
        t += (on + off) * 1000
    return out


def _play_alone(pattern, rng=None):
    clock = FakeClock(NEAR_WRAP)
    pwm = FakePWM(clock)
    buz = bz.Buzzer(pwm)
    assert buz.play(pattern)
    _run(buz, clock, NEAR_WRAP + 5000000, NEAR_WRAP, rng)
    assert not buz.busy and pwm.duty_u16() == 0
    return [(ticks_diff(a, NEAR_WRAP), ticks_diff(b, NEAR_WRAP), f) for a, b, f in pwm.tones()]


def test_each_pattern_plays_its_documented_sequence():
    for name, pattern in bz.PATTERNS.items():
        got = _play_alone(pattern)
        assert got == _expected(pattern), (name, got)


def test_patterns_keep_their_timing_with_loop_latency():
    rng = Rng(7)
    for name, pattern in bz.PATTERNS.items():
        got = _play_alone(pattern, rng)
        want = _expected(pattern)
        assert len(got) == len(want), name
        for (a, b, f), (wa, wb, wf) in zip(got, want):
            # each switch happens at the first call after its absolute deadline: no build-up
            assert f == wf and 0 <= a - wa <= 1500 and 0 <= b - wb <= 1500, (name, a, wa, b, wb)


def test_drain_plays_the_queue_to_the_end_and_feeds_at_every_phase():
    clock = FakeClock(NEAR_WRAP)
    pwm = FakePWM(clock)
    buz = bz.Buzzer(pwm)
    buz.play(bz.BOOT_FAULT)
    buz.play(bz.CLICK)
    fed = [0]

    def sleep_us(us):
        clock.now = ticks_add(clock.now, us + 300)  # every wake-up 0.3 ms late

    def feed():
        fed[0] += 1

    buz.drain(lambda: clock.now, sleep_us, feed)
    assert not buz.busy and pwm.duty_u16() == 0
    got = [(ticks_diff(a, NEAR_WRAP), ticks_diff(b, NEAR_WRAP), f) for a, b, f in pwm.tones()]
    want = _expected(bz.BOOT_FAULT + bz.CLICK)
    assert [f for _, _, f in got] == [f for _, _, f in want]
    for (a, b, _), (wa, wb, _) in zip(got, want):
        assert 0 <= a - wa <= 600 and 0 <= b - wb <= 600  # the lateness does not build up
    assert fed[0] >= sum(1 + (off > 0) for _, _, off in bz.BOOT_FAULT + bz.CLICK)  # once a phase


def _signature(pattern):
    contour = tuple((b[0] > a[0]) - (b[0] < a[0]) for a, b in zip(pattern, pattern[1:]))
    rhythm = tuple((on // 50, off // 50) for _, on, off in pattern)
    return len(pattern), rhythm, contour


def test_patterns_are_distinct_and_in_the_piezo_band():
    sigs = {}
    for name, pattern in bz.PATTERNS.items():
        for f, on, off in pattern:
            assert 2000 <= f <= 4000 and 10 <= on <= 1000 and 0 <= off <= 1000, name
        sig = _signature(pattern)
        assert sig not in sigs, (name, sigs.get(sig))
        sigs[sig] = name
    assert 15 <= bz.CLICK[0][1] <= 20 and len(bz.CLICK) == 1
    assert _signature(bz.SESSION_START)[2] == (1, 1) and _signature(bz.SESSION_STOP)[2] == (-1, -1)


def test_metronome_equals_the_closed_form():
    for spm, scale in ((180, 1), (1735, 10), (150, 1), (209, 1)):
        num, den = 60000000 * scale, spm
        m = bz.Metronome.for_spm(spm, scale)
        assert m.period == (num, den)
        m.start(NEAR_WRAP)
        for k in range(1, 12001):
            m.advance()
            if k % 997 == 0 or k == 12000:
                assert m.next_onset == (NEAR_WRAP + k * num // den) & TICKS_MAX, (spm, k)
        assert m.k == 12000


def _click_checker(t0_abs, num, den, state, max_err):
    """A PWM listener checking every click onset against t0 + floor(k * num / den)."""
    def listener(t, freq, duty):
        if duty and freq == bz.CLICK[0][0]:
            k = state["k"]
            ideal = (t0_abs + k * num // den) & TICKS_MAX
            err = ticks_diff(t, ideal)
            if err < 0 or err > max_err:
                state["bad"].append((k, err))
            if err > state["worst"]:
                state["worst"] = err
            state["k"] = k + 1
            state["on"] = t
        elif not duty and state["on"] is not None:
            length = ticks_diff(t, state["on"])
            if not 13500 <= length <= 16500:  # both switches late by 0..1.5 ms
                state["bad"].append(("length", state["k"], length))
            state["on"] = None

    return listener


def test_pwm_metronome_an_hour_at_180_spm_no_drift():
    clock = FakeClock(NEAR_WRAP)
    state = {"k": 0, "bad": [], "worst": 0, "on": None}
    pwm = FakePWM(clock, listener=_click_checker(NEAR_WRAP, 60000000, 180, state, 2000), keep_log=False)
    met = bz.Metronome.for_spm(180)
    buz = bz.Buzzer(pwm, metronome=met)
    met.start(NEAR_WRAP)
    hour = 3600 * 1000000
    # wakes for FIFO reads every 0..20 ms besides the deadlines, each with 0..1.5 ms latency
    _run(buz, clock, NEAR_WRAP + hour - 100000, NEAR_WRAP, Rng(180), idle_wake=20000)
    assert state["bad"] == [], state["bad"][:5]
    assert (state["k"], buz.clicks, buz.skipped) == (10800, 10800, 0), (state["k"], buz.clicks, buz.skipped)
    assert state["worst"] <= 1500
    # zero accumulated drift: the schedule after an hour is still exactly the closed form
    assert met.next_onset == (NEAR_WRAP + 10800 * 60000000 // 180) & TICKS_MAX
    assert met.next_onset == ticks_add(NEAR_WRAP, 3600 * 1000000)  # 10800 clicks = exactly 3600 s


def test_rmt_metronome_clicks_exactly_on_time():
    clock = FakeClock(NEAR_WRAP)
    onsets = []
    rmt = FakeRMT(clock, 4000, listener=lambda a, b, f: onsets.append((a, ticks_diff(b, a))), keep_log=False)
    pwm = FakePWM(clock)
    met = bz.Metronome.for_spm(1735, 10)  # 173.5 spm: 345821.33 us
    buz = bz.Buzzer(pwm, rmt=rmt, metronome=met)
    t0 = NEAR_WRAP + 50000
    met.start(t0)
    _run(buz, clock, NEAR_WRAP + 600 * 1000000, NEAR_WRAP, Rng(3))  # ten minutes
    n = len(onsets)
    assert n == buz.clicks and n >= 1734 and buz.skipped == 0 and rmt.blocked == 0
    for k, (t, length) in enumerate(onsets):
        assert t == (t0 + k * 600000000 // 1735) & TICKS_MAX, k  # error 0: hardware-timed
        assert length == 15000
    assert pwm.tones() == []  # the PWM stayed silent


def test_cadence_change_rephases_from_the_last_click():
    clock = FakeClock(NEAR_WRAP)
    pwm = FakePWM(clock)
    met = bz.Metronome.for_spm(180)
    buz = bz.Buzzer(pwm, metronome=met)
    met.start(NEAR_WRAP)
    t = _run(buz, clock, NEAR_WRAP + 1500000, NEAR_WRAP)  # clicks at 0, 333, 666, 1000, 1333 ms
    last = met.last_onset
    met.set_spm(150, now=clock.now)  # 400 ms
    assert met.next_onset == ticks_add(last, 400000)
    t = _run(buz, clock, t + 2000000, t)
    onsets = [a for a, _, f in pwm.tones()]
    assert len(onsets) == 10
    gaps = [ticks_diff(b, a) for a, b in zip(onsets, onsets[1:])]
    assert gaps[:4] == [333333, 333333, 333334, 333333] and gaps[4:] == [400000] * 5
    # faster, and the change comes late: the next click is at once, not in the past
    t = _run(buz, clock, ticks_diff(met.next_onset, clock.now) + t - 10000, t)
    met.set_spm(200)  # 300 ms; without `now` there is nothing to compare: next = last + 300 ms
    met.set_spm(300, now=ticks_add(met.last_onset, 390000))  # 200 ms would be in the past
    assert met.next_onset == ticks_add(met.last_onset, 390000) and met.k == 0


def test_alert_during_metronome_skips_clicks_and_never_overlaps():
    clock = FakeClock(NEAR_WRAP)
    pwm = FakePWM(clock)
    met = bz.Metronome.for_spm(180)
    buz = bz.Buzzer(pwm, metronome=met)
    met.start(NEAR_WRAP)
    t = _run(buz, clock, NEAR_WRAP + 1000000 + 5000, NEAR_WRAP)  # inside the click at 1 s
    buz.play(bz.LOW_BATTERY)  # 1.5 s long: waits for the click, then plays whole
    _run(buz, clock, t + 3000000, t)
    tones = [(ticks_diff(a, NEAR_WRAP), ticks_diff(b, NEAR_WRAP), f) for a, b, f in pwm.tones() if b is not None]
    alert = [x for x in tones if x[2] == 2000]
    clicks = [x for x in tones if x[2] == 4000]
    assert [b - a for a, b, _ in alert] == [300000] * 3
    assert alert[0][0] == 1015000  # right after the click ended
    for i in range(len(tones) - 1):
        assert tones[i][1] <= tones[i + 1][0]  # one tone at a time
    assert not any(alert[0][0] <= a < alert[-1][1] for a, _, _ in clicks)
    assert buz.skipped == 4  # 1.333 .. 2.333 s fall inside the alert (1.015 .. 2.515 s)
    assert [a for a, _, _ in clicks] == [0, 333333, 666666, 1000000, 2666666, 3000000, 3333333, 3666666]


def test_rmt_clicks_wait_for_alerts():
    clock = FakeClock(NEAR_WRAP)
    rmt = FakeRMT(clock)
    pwm = FakePWM(clock)
    met = bz.Metronome.for_spm(180)
    buz = bz.Buzzer(pwm, rmt=rmt, metronome=met)
    met.start(NEAR_WRAP)
    t = _run(buz, clock, NEAR_WRAP + 500000, NEAR_WRAP, Rng(11))
    buz.play(bz.OVERSTRIDE)
    _run(buz, clock, t + 2000000, t, Rng(12))
    spans = sorted([(ticks_diff(a, NEAR_WRAP), ticks_diff(b, NEAR_WRAP)) for a, b, _ in rmt.tones()]
                   + [(ticks_diff(a, NEAR_WRAP), ticks_diff(b, NEAR_WRAP)) for a, b, _ in pwm.tones()])
    for i in range(len(spans) - 1):
        assert spans[i][1] <= spans[i + 1][0], spans[i:i + 2]
    assert len(pwm.tones()) == 3 and buz.skipped >= 1 and rmt.blocked == 0


def test_a_stalled_loop_skips_clicks_instead_of_bursting():
    clock = FakeClock(NEAR_WRAP)
    pwm = FakePWM(clock)
    met = bz.Metronome.for_spm(180)
    buz = bz.Buzzer(pwm, metronome=met)
    met.start(NEAR_WRAP)
    t = _run(buz, clock, NEAR_WRAP + 400000, NEAR_WRAP)
    t += 1000000  # a one-second stall (a slow flash write in the wrong place)
    _run(buz, clock, t + 1000000, t)
    onsets = [a for a, _, _ in pwm.tones()]
    for a, b in zip(onsets, onsets[1:]):
        assert ticks_diff(b, a) >= 333333
    assert buz.skipped == 4


def test_queue_stop_and_validation():
    clock = FakeClock(0)
    pwm = FakePWM(clock)
    buz = bz.Buzzer(pwm)
    for _ in range(4):
        assert buz.play(bz.SENSOR_FAULT)
    assert not buz.play(bz.SENSOR_FAULT)  # full
    buz.service(0)
    assert pwm.duty_u16() == bz.DUTY_ON and pwm.freq() == 3500 and buz.busy
    buz.stop()
    assert pwm.duty_u16() == 0 and not buz.busy
    assert buz.next_deadline(0) is None
    for bad in (lambda: buz.play(()), lambda: bz.Metronome(50000), lambda: bz.Metronome.for_spm(0),
                lambda: bz.Buzzer(pwm, rmt=FakeRMT(clock), arm_lead_us=30000)):
        try:
            bad()
        except ValueError:
            continue
        raise AssertionError("accepted a bad value")
    buz.deinit()
    assert pwm.deinited


def test_service_does_not_allocate():
    if not IS_MICROPYTHON:
        skip("heap_lock is MicroPython's")
    import micropython

    clock = FakeClock(NEAR_WRAP)
    pwm = FakePWM(clock, keep_log=False)
    rmt = FakeRMT(clock, keep_log=False)
    for r in (None, rmt):
        met = bz.Metronome.for_spm(180)
        buz = bz.Buzzer(pwm, rmt=r, metronome=met)
        met.start(NEAR_WRAP)
        buz.play(bz.SESSION_START)
        t = NEAR_WRAP
        micropython.heap_lock()
        try:
            for _ in range(3000):  # 3 s in 1 ms steps, across the wrap
                now = t & TICKS_MAX
                buz.service(now)
                buz.next_deadline(now)
                t += 1000
        finally:
            micropython.heap_unlock()
        assert buz.clicks >= 8
