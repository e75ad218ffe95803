"""Coach: the metronome and the in-the-moment cues, from the gait engine's events.

Pure logic, integers only, no allocation once built; fed by pipeline.Pipeline:

    coach = Coach(cfg, start_ticks)
    coach.on_footfall(now, cadence_x10, activity)     # at every initial contact
    coach.on_step(now, strike, strike_cdeg)           # at every completed stance
    ev = coach.tick(now)                              # every sample: EV_CLICK / EV_ALERT
      -> coach.click_t (the click's scheduled onset), coach.alert_t, coach.alert_kind

Pose Method coaching: cadence around the target (default 180 steps/min), land under the
hips rather than heel-first in front of them. Cues must help, not nag:

* Metronome modes: ``off``; ``always`` (while running); ``below`` (while running below
  target - tolerance, until back within half the tolerance); ``fade`` (every click while
  off target; once on target, every 2nd, 4th, then 8th click after each 30 s held, back to
  every click as soon as the runner slips). Click onsets are ``t0 + k * 60e6 / target``
  kept exact with an integer remainder (no drift), phased on a footfall when the metronome starts,
  so the clicks land with the runner's steps.
* Low-cadence alert: running, rolling cadence below target - tolerance for
  ``low_cadence_after_s`` without a break; after an alert, re-armed once the cadence is
  back to half the tolerance below target.
* Overstride alert: ``overstride_m`` of the last ``overstride_n`` footfalls heel-first
  beyond ``overstride_angle_deg``; the window starts afresh after an alert.
* At least ``alert_gap_s`` between two alerts of the same kind; nothing at all while
  walking or standing (alerts are only for running).
"""

from buzzer import Metronome
from compat import const, ticks_add, ticks_diff

EV_CLICK = const(8)
EV_ALERT = const(16)
ALERT_LOW_CADENCE = const(1)
ALERT_OVERSTRIDE = const(2)
ALERT_NAMES = ("", "low_cadence", "overstride")

MODE_OFF = const(0)
MODE_ALWAYS = const(1)
MODE_BELOW = const(2)
MODE_FADE = const(3)
MODES = ("off", "always", "below", "fade")

_RUN = const(2)  # gait.RUN
_REARFOOT = const(0)  # gait.REARFOOT
_FADE_HOLD_MS = const(30000)  # 30 s on target thins the clicks one more step
_FADE_MAX = const(3)  # at most every 8th click
_MINUTE_US = const(60000000)
_STALE_MS = const(3000)  # no footfall for 3 s: the cadence is no longer current


def ramped_target(cfg, days):
    """Target cadence after ``days`` of a gradual ramp from the runner's baseline.

    ``ramp_percent`` over ``ramp_weeks`` from ``baseline_spm``; never past ``target_spm``.
    Without a ramp (or a baseline) the target is simply ``target_spm``.
    """
    target = cfg.get("target_spm", 180)
    base = cfg.get("baseline_spm", 0)
    pct = cfg.get("ramp_percent", 0)
    if not pct or not base:
        return target
    span = cfg.get("ramp_weeks", 4) * 7
    if days > span:
        days = span
    if days < 0:
        days = 0
    ramped = base + base * pct * days // (100 * span)
    return ramped if ramped < target else target


class Coach:
    """Metronome and alerts; see the module docstring."""

    def __init__(self, cfg=None, start_ticks=0):
        cfg = cfg or {}
        mode = cfg.get("metronome", "below")
        if mode not in MODES:
            raise ValueError("metronome: unknown mode %r" % (mode,))
        self.mode = MODES.index(mode)
        self.tolerance_x10 = cfg.get("cadence_tolerance_spm", 5) * 10
        self.low_after_ms = cfg.get("low_cadence_after_s", 20) * 1000
        self.over_cdeg = cfg.get("overstride_angle_deg", 15) * 100
        self.over_m = cfg.get("overstride_m", 3)
        self.over_n = cfg.get("overstride_n", 5)
        if not 1 <= self.over_m <= self.over_n <= 20:
            raise ValueError("overstride_m/overstride_n: need 1 <= m <= n <= 20")
        self.gap_ms = cfg.get("alert_gap_s", 60) * 1000
        # False while the pod learns the runner's own cadence (app: the ramp's baseline run):
        # no metronome, no low-cadence alert; overstride cues stay.
        self.cadence_cues = True
        # Metronome: the buzzer's exact onset arithmetic, on the sample clock.
        self._on = False
        self._met = Metronome()
        self.next_onset = 0  # schedule()'s outputs
        self.beat = 0
        self.mask = 0
        self.set_target(cfg.get("target_spm", 180), start_ticks)
        # A millisecond clock for spans longer than ticks_diff can hold (2**29 us, ~9 min):
        # alert gaps, holds and fades are measured on it. It counts up from each boot and
        # would pass 2**30 (a big int on the ESP32) only after 12 days awake; the pod deep-
        # sleeps within minutes of standing still, and boots afresh.
        self._prev = start_ticks
        self._us = 0
        self.ms = 0
        # Live state.
        self.running = False
        self.cadence_x10 = 0
        self._last_ff = 0
        self._low_since = 0
        self._low = False
        self._low_armed = True
        self._last_alert = [0, 0, 0]
        self._alerted = [False, False, False]
        self._over_bits = 0  # the last over_n footfalls, 1 = overstride (newest in bit 0)
        self._over_count = 0
        self._fade = 0
        self._on_target_since = 0
        self._on_target = False
        # Outputs.
        self.click_t = start_ticks
        self.alert_t = start_ticks
        self.alert_kind = 0
        self.clicks = 0
        self.alerts = 0

    def set_target(self, spm, now):
        """The cadence to hold: ``target_spm`` (140..210), or on a ramp anything from the
        runner's own baseline up (``baseline_spm`` and a learned one go down to 120)."""
        if not 120 <= spm <= 210:
            raise ValueError("target cadence: %d spm is outside 120..210" % spm)
        self.target_spm = spm
        self.target_x10 = spm * 10
        if self._on:
            self._start_clicks(now)

    # ------------------------------------------------------------------ events
    def on_footfall(self, now, cadence_x10, activity):
        """An initial contact with the engine's current cadence (0 until 2 strides)."""
        self._clock(now)
        self._last_ff = self.ms
        self.running = activity == _RUN
        if cadence_x10:
            self.cadence_x10 = cadence_x10
        if not self.running or not self.cadence_x10:
            self._low = False
            return
        low_edge = self.target_x10 - self.tolerance_x10
        if self.cadence_x10 < low_edge:
            if not self._low:
                self._low = True
                self._low_since = self.ms
        else:
            # Back within the tolerance: the hold starts again next time. After an alert,
            # the next one needs a real recovery (half the tolerance above the edge).
            self._low = False
            if self.cadence_x10 >= low_edge + (self.tolerance_x10 >> 1):
                self._low_armed = True
        on_target = self.cadence_x10 >= low_edge
        if on_target != self._on_target:
            self._on_target = on_target
            self._on_target_since = self.ms
            if not on_target:
                self._fade = 0
        if not self._on and self._wants_clicks():
            self._start_clicks(now)

    def on_step(self, now, strike, strike_cdeg):
        """A completed stance: count heel-first overstrides in the last N footfalls."""
        if not self.running:
            return
        over = 1 if self.is_overstride(strike, strike_cdeg) else 0
        n = self.over_n
        old = (self._over_bits >> (n - 1)) & 1
        self._over_bits = ((self._over_bits << 1) | over) & ((1 << n) - 1)
        self._over_count += over - old

    def is_overstride(self, strike, strike_cdeg):
        """A heel-first landing steeper than ``overstride_angle_deg``: the one definition."""
        return strike == _REARFOOT and strike_cdeg > self.over_cdeg

    def _wants_clicks(self):
        mode = self.mode
        if mode == MODE_OFF or not self.running or not self.cadence_cues:
            return False
        if mode == MODE_BELOW:
            return self._low or (self._on and self.cadence_x10 < self.target_x10 - (self.tolerance_x10 >> 1))
        return True

    def _start_clicks(self, now):
        """Start clicking, phased on this footfall: the next click is one period later."""
        self._on = True
        met = self._met
        met.set_spm(self.target_spm)
        met.start(ticks_add(now, _MINUTE_US // self.target_spm))

    # ------------------------------------------------------------------ per sample
    def tick(self, now):
        """Call every sample; returns EV_CLICK and/or EV_ALERT."""
        flags = 0
        ms = self._clock(now)
        if self.running and ms - self._last_ff > _STALE_MS:
            self.running = False
            self._low = False
        if self._on and self._met.due(now):
            flags = self._click(now)
        if self.running:
            if self._low and self._low_armed and self.cadence_cues and ms - self._low_since >= self.low_after_ms:
                if self._alert(now, ALERT_LOW_CADENCE):
                    self._low_armed = False
                    flags |= EV_ALERT
            elif self._over_count >= self.over_m:
                if self._alert(now, ALERT_OVERSTRIDE):
                    self._over_bits = 0
                    self._over_count = 0
                    flags |= EV_ALERT
        return flags

    def schedule(self):
        """True while the metronome clicks; it then sets ``next_onset``, ``beat`` and ``mask``.

        The pod plays clicks ahead of time on the buzzer's own drift-free metronome (on
        system ticks), so it needs the schedule rather than the EV_CLICK events, which come
        when the samples are processed. ``next_onset`` is on the sample clock; ``beat``
        indexes the beat at ``next_onset``; a beat sounds when ``beat & mask == 0`` (fade
        mode thins the clicks). Attributes, not a tuple: the loop calls it on every pass.
        """
        met = self._met
        self.next_onset = met.next_onset
        self.beat = met.k
        self.mask = (1 << self._fade) - 1 if self.mode == MODE_FADE and self._on_target else 0
        return self._on

    def _clock(self, now):
        """Advance the millisecond clock to ``now`` (called at least every few minutes)."""
        us = self._us + ticks_diff(now, self._prev)
        self._prev = now
        if us >= 1000:
            k = us // 1000
            self.ms += k
            us -= k * 1000
        self._us = us
        return self.ms

    def _click(self, now):
        # Exact period 60e6 / target (buzzer.Metronome carries the remainder): the onsets
        # never drift, however long the run, and every value stays a small int.
        met = self._met
        onset = met.next_onset
        beat = met.k
        met.advance()
        if not self._wants_clicks():
            self._on = False
            return 0
        if self.mode == MODE_FADE and self._on_target:
            level = (self.ms - self._on_target_since) // _FADE_HOLD_MS
            self._fade = level if level < _FADE_MAX else _FADE_MAX
            if beat & ((1 << self._fade) - 1):
                return 0
        self.clicks += 1
        self.click_t = onset
        return EV_CLICK

    def _alert(self, now, kind):
        if self._alerted[kind] and self.ms - self._last_alert[kind] < self.gap_ms:
            return False
        self._alerted[kind] = True
        self._last_alert[kind] = self.ms
        self.alert_t = now
        self.alert_kind = kind
        self.alerts += 1
        return True
