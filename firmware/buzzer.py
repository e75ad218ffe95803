"""Piezo buzzer: patterns a runner tells apart without looking, and a drift-free metronome.

Nothing here sleeps or reads a clock: the main loop passes ``now`` (``time.ticks_us()``
folded to 2**30, i.e. ``compat.ticks_us()``) to ``service`` often, and every tone switch
happens at an absolute deadline, so the loop's latency never accumulates::

    buz = Buzzer(pwm)                      # machine.PWM(Pin(BUZZER_PIN), freq=4000, duty_u16=0)
    met = Metronome.for_spm(1800, 10)      # 180.0 spm; spm x10 with scale 10
    buz.metronome = met
    met.start(ticks_us())
    buz.play(LOW_CADENCE)                  # queued, returns at once
    while True:
        ...
        buz.service(ticks_us())            # as often as possible; sleep at most until
        # buz.next_deadline(now), so the onset error is the wake-up latency

Patterns are tuples of ``(freq_hz, on_ms, off_ms)`` steps: the tone sounds for ``on_ms``,
then silence for ``off_ms`` (0 goes straight to the next step). The piezo is driven with a
50 % square wave (loudest; 2 to 4 kHz is where small piezo discs are loud). What they mean:

    CLICK            one short 4 kHz tick (15 ms): the metronome
    LOW_CADENCE      two short tones rising (2.6 -> 3.4 kHz): "quicker steps"
    OVERSTRIDE       long-short-long, low (2 kHz): "land under you"
    SESSION_START    rising triad 2.4, 3.0, 3.6 kHz
    SESSION_STOP     falling triad 3.6, 3.0, 2.4 kHz
    LOW_BATTERY      three slow low beeps (300 ms on, 300 ms off)
    SENSOR_FAULT     five rapid high beeps (40 ms on, 40 ms off)
    CONFIG_FALLBACK  high-low warble twice: settings were reset to defaults
    FLASH_FULL       a long high tone falling to a longer low one: not recording
    BOOT_FAULT       two long low drones (2 kHz, 1 s each): the pod cannot start

Precedence: an alert pattern plays whole; metronome clicks that fall inside it are skipped
(counted in ``skipped``), and a pattern waits for a click that is sounding to end.
``play`` queues up to four patterns and returns False if the queue is full.

Metronome timing. ``Metronome`` holds the period as a fraction ``num / den`` microseconds
(180 spm: 60_000_000 / 180 = 333333.33 us) and gives onset ``k`` as
``t0 + floor(k * num / den)``: it steps by the integer part and carries the remainder
exactly, so every onset equals the closed form and an hour at any cadence has zero drift,
with every value a small int (no big-int multiply on the ESP32). A change of cadence
re-phases from the last click: the next click comes one new period after it (or at once if
that moment has already passed), then the new closed form runs from there.

Two ways to sound the clicks:

* PWM only (the fallback, one pin): ``service`` switches the tone on at the first call
  after the onset, so the onset error is the loop's service latency. The main loop keeps it
  small by sleeping only until ``next_deadline(now)``: 1 to 2 ms on an ESP32 is easy when
  nothing else blocks (flash writes go right after a click, see sessionlog).
* RMT (hardware-timed): pass ``rmt``, an ``esp32.RMT`` with the click tone as its carrier,
  e.g. ``esp32.RMT(0, pin=Pin(BUZZER_PIN_B), resolution_hz=1_000_000,
  tx_carrier=(4000, 50, 1), idle_level=0)`` (``clock_div=80`` on older firmware: 1 us
  ticks either way). About ``arm_lead_us`` (10 ms) before each onset ``service`` pre-arms
  the click with ``write_pulses([lead_us, click_us], 0)``: low for the time left, then the
  carrier for the click, so the RMT peripheral starts the click on time whatever the loop
  does afterwards; the error is the few microseconds between reading ``now`` and the call.
  Wiring: the piezo between the RMT pin and the PWM pin; each peripheral idles low, so
  either drives the piezo against the other (one pin cannot be routed to both at once).
  ``RMT.loop`` with a pulse train one period long would also click by itself, but its
  period is rounded to the tick and would drift by that much every click; pre-arming keeps
  the exact schedule.
"""

from compat import const, ticks_add, ticks_diff

CLICK = ((4000, 15, 0),)
LOW_CADENCE = ((2600, 90, 60), (3400, 90, 0))
OVERSTRIDE = ((2000, 220, 80), (2000, 70, 80), (2000, 220, 0))
SESSION_START = ((2400, 100, 30), (3000, 100, 30), (3600, 180, 0))
SESSION_STOP = ((3600, 100, 30), (3000, 100, 30), (2400, 180, 0))
LOW_BATTERY = ((2000, 300, 300), (2000, 300, 300), (2000, 300, 0))
SENSOR_FAULT = ((3500, 40, 40), (3500, 40, 40), (3500, 40, 40), (3500, 40, 40), (3500, 40, 0))
CONFIG_FALLBACK = ((3200, 120, 40), (2200, 120, 40), (3200, 120, 40), (2200, 120, 0))
FLASH_FULL = ((3000, 400, 100), (2000, 700, 0))
BOOT_FAULT = ((2000, 1000, 300), (2000, 1000, 0))

PATTERNS = {
    "click": CLICK, "low_cadence": LOW_CADENCE, "overstride": OVERSTRIDE,
    "session_start": SESSION_START, "session_stop": SESSION_STOP, "low_battery": LOW_BATTERY,
    "sensor_fault": SENSOR_FAULT, "config_fallback": CONFIG_FALLBACK, "flash_full": FLASH_FULL,
    "boot_fault": BOOT_FAULT,
}

DUTY_ON = const(32768)  # 50 % square wave
_QUEUE = const(4)
_MAX_PULSE = const(32767)  # longest RMT pulse in ticks (15 bits)
_MIN_PERIOD_US = const(100000)  # 600 spm: anything faster is a unit mistake


class Metronome:
    """Click onsets at ``t0 + floor(k * num / den)`` microseconds; see the module docstring."""

    def __init__(self, period_us=500000, den=1):
        self.running = False
        self.k = 0
        self.t0 = 0
        self.next_onset = 0
        self.last_onset = None
        self._step = 0
        self._rem = 0
        self._den = 1
        self._acc = 0
        self.set_period(period_us, den)

    @classmethod
    def for_spm(cls, spm, scale=1):
        """A metronome at ``spm / scale`` steps per minute (``scale=10`` for spm x10)."""
        m = cls()
        m.set_spm(spm, scale)
        return m

    @property
    def period(self):
        """``(num, den)``: the exact period in microseconds as a fraction."""
        return self._step * self._den + self._rem, self._den

    def set_spm(self, spm, scale=1, now=None):
        if spm <= 0 or scale <= 0:
            raise ValueError("cadence must be positive")
        self.set_period(60000000 * scale, spm, now)

    def set_period(self, period_us, den=1, now=None):
        """Period ``period_us / den`` microseconds; while running, re-phase from the last click."""
        if den <= 0 or period_us < _MIN_PERIOD_US * den:
            raise ValueError("metronome period must be at least 100 ms")
        self._step = period_us // den
        self._rem = period_us % den
        self._den = den
        self._acc = 0
        if self.running and self.last_onset is not None:
            nxt = ticks_add(self.last_onset, self._step)
            if now is not None and ticks_diff(nxt, now) < 0:
                nxt = now
            self.t0 = nxt
            self.next_onset = nxt
            self.k = 0
        elif self.running:
            self.k = 0  # nothing clicked yet: keep t0, restart the closed form there
            self.next_onset = self.t0

    def start(self, t0):
        """First click at ``t0`` (ticks)."""
        self.t0 = t0
        self.next_onset = t0
        self.last_onset = None
        self.k = 0
        self._acc = 0
        self.running = True

    def stop(self):
        self.running = False

    def due(self, now):
        """True when the next onset has arrived (``now`` at or after it)."""
        return self.running and ticks_diff(now, self.next_onset) >= 0

    def advance(self):
        """Move ``next_onset`` to onset k + 1 (exact: the remainder is carried)."""
        self.last_onset = self.next_onset
        self.k += 1
        inc = self._step
        self._acc += self._rem
        if self._acc >= self._den:
            self._acc -= self._den
            inc += 1
        self.next_onset = ticks_add(self.next_onset, inc)


class Buzzer:
    """Non-blocking player for patterns and metronome clicks; see the module docstring."""

    def __init__(self, pwm, rmt=None, metronome=None, duty=DUTY_ON, click=CLICK,
                 arm_lead_us=10000, max_late_us=20000):
        self._pwm = pwm
        self._rmt = rmt
        self.metronome = metronome
        self._duty_on = duty
        self._click_freq = click[0][0]
        self._click_us = click[0][1] * 1000
        if rmt is not None and (arm_lead_us < 1 or arm_lead_us + self._click_us > _MAX_PULSE):
            raise ValueError("arm_lead_us + click must fit one RMT pulse pair (32767 us)")
        self.arm_lead_us = arm_lead_us
        self.max_late_us = max_late_us  # a click later than this is skipped, not played late
        self._pulses = [1, self._click_us]  # reused for every RMT click: low lead, then carrier
        self._pulse_now = [self._click_us]  # a late click: carrier at once
        self._freq = 0
        self._duty = -1
        self._q = [None] * _QUEUE  # ring of queued patterns
        self._qh = 0
        self._qn = 0
        self._pat = None
        self._i = 0
        self._on = False
        self._dl = 0  # deadline of the current pattern phase
        self._click_on = False  # PWM click sounding
        self._click_end = 0  # end of the PWM click, or of the last armed RMT click
        self._armed = False
        self.clicks = 0
        self.skipped = 0
        self._off()

    # --- tone output ---

    def _tone(self, freq):
        if freq != self._freq:
            self._pwm.freq(freq)
            self._freq = freq
        if self._duty != self._duty_on:
            self._pwm.duty_u16(self._duty_on)
            self._duty = self._duty_on

    def _off(self):
        if self._duty != 0:
            self._pwm.duty_u16(0)
            self._duty = 0

    # --- patterns ---

    def play(self, pattern):
        """Queue a pattern; False if four are already waiting."""
        if not pattern:
            raise ValueError("empty pattern")
        if self._qn >= _QUEUE:
            return False
        self._q[(self._qh + self._qn) % _QUEUE] = pattern
        self._qn += 1
        return True

    @property
    def busy(self):
        """A pattern is playing or queued."""
        return self._pat is not None or self._qn > 0

    @property
    def sounding(self):
        """Busy, or a click sounds or waits in the RMT: light sleep would stop the LEDC and
        RMT clocks under it."""
        return self.busy or self._click_on or self._armed

    def stop(self):
        """Silence now and forget the queue (the metronome keeps running if attached)."""
        self._pat = None
        self._qn = 0
        self._click_on = False
        self._off()

    def _enter_step(self, t):
        step = self._pat[self._i]
        self._tone(step[0])
        self._on = True
        self._dl = ticks_add(t, step[1] * 1000)

    def _next_phase(self):
        # The current phase ended at self._dl; the next one starts there (not at `now`).
        if self._on:
            self._on = False
            off = self._pat[self._i][2]
            if off > 0:
                self._off()
                self._dl = ticks_add(self._dl, off * 1000)
                return
        self._i += 1
        if self._i >= len(self._pat):
            self._off()
            self._pat = None
            return
        self._enter_step(self._dl)

    def _click_sounding(self, now):
        return (self._click_on or self._armed) and ticks_diff(now, self._click_end) < 0

    # --- the loop's entry points ---

    def service(self, now):
        """Switch tones whose deadline has come; arm or start clicks. Call it often."""
        while self._pat is not None and ticks_diff(now, self._dl) >= 0:
            self._next_phase()
        if self._click_on and ticks_diff(now, self._click_end) >= 0:
            self._click_on = False
            if self._pat is None:
                self._off()
        if self._armed and ticks_diff(now, self._click_end) >= 0:
            self._armed = False
        m = self.metronome
        if m is not None and m.running:
            if self._rmt is not None:
                self._service_rmt(m, now)
            elif m.due(now):
                onset = m.next_onset
                if ticks_diff(now, onset) <= self.max_late_us and self._pat is None:
                    self._tone(self._click_freq)
                    self._click_on = True
                    self._click_end = ticks_add(onset, self._click_us)
                    self.clicks += 1
                else:
                    self.skipped += 1
                m.advance()
                while m.due(now):  # the loop stalled for a whole period: drop those clicks
                    m.advance()
                    self.skipped += 1
        if self._pat is None and self._qn and not self._click_sounding(now):
            self._pat = self._q[self._qh]
            self._q[self._qh] = None
            self._qh = (self._qh + 1) % _QUEUE
            self._qn -= 1
            self._i = 0
            self._enter_step(now)

    def _service_rmt(self, m, now):
        lead = ticks_diff(m.next_onset, now)
        if lead > self.arm_lead_us:
            return
        if lead >= -self.max_late_us and self._pat is None and not self._qn:
            if lead > 0:
                self._pulses[0] = lead
                self._rmt.write_pulses(self._pulses, 0)
            else:
                self._rmt.write_pulses(self._pulse_now, 1)
                lead = 0
            self._armed = True
            self._click_end = ticks_add(now, lead + self._click_us)
            self.clicks += 1
        else:
            self.skipped += 1
        m.advance()
        while ticks_diff(m.next_onset, now) < -self.max_late_us:
            m.advance()
            self.skipped += 1

    def next_deadline(self, now):
        """Ticks by which ``service`` must run next (``now`` if already due), or None if idle."""
        best = None
        if self._pat is not None:
            best = ticks_diff(self._dl, now)
        elif self._qn:
            best = 0
        if self._click_on or self._armed:
            d = ticks_diff(self._click_end, now)
            if best is None or d < best:
                best = d
        m = self.metronome
        if m is not None and m.running:
            d = ticks_diff(m.next_onset, now)
            if self._rmt is not None:
                d -= self.arm_lead_us
            if best is None or d < best:
                best = d
        if best is None:
            return None
        return ticks_add(now, best if best > 0 else 0)

    def drain(self, ticks_us, sleep_us, feed=None):
        """Play what is queued to the end, blocking: for when no loop will call ``service``
        (before deep sleep, a failed boot). ``feed`` (a watchdog's) runs at every phase.
        Stop the metronome first, or this returns only once the queue is empty."""
        for _ in range(1000):  # a pattern has at most a few dozen phases
            now = ticks_us()
            self.service(now)
            if feed is not None:
                feed()
            dl = self.next_deadline(now)
            if not self.busy or dl is None:
                return
            d = ticks_diff(dl, now)
            if d > 0:
                sleep_us(d)

    def deinit(self):
        self.stop()
        if hasattr(self._pwm, "deinit"):
            self._pwm.deinit()
        if self._rmt is not None:
            self._rmt.deinit()
