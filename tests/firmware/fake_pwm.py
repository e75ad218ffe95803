"""Recording fakes for the buzzer's hardware: a PWM (machine.PWM) and an RMT (esp32.RMT).

Narrow on purpose: only the calls the firmware makes exist, so a new call fails loudly.
Both read the time from an injected ``clock`` (a callable returning ticks in microseconds),
so tests and the virtual pod run them on a simulated clock. They run under CPython and
MicroPython.

    clock = FakeClock(0)
    pwm = FakePWM(clock)            # log: [(t, freq, duty), ...] on every change
    rmt = FakeRMT(clock, 4000)      # log: [(t, durations, first_level), ...] per write_pulses
    ...
    pwm.tones()                     # [(t_on, t_off, freq)] while duty > 0
    rmt.tones()                     # [(t_on, t_off, carrier_hz)] for the high pulses

``listener`` (optional) is called as ``listener(t, freq, duty)`` for the PWM and
``listener(t_on, t_off, freq)`` for each RMT high pulse; with ``keep_log=False`` nothing is
stored (an hour of clicks need not sit in memory) and the fakes allocate nothing per call.
Times are ticks as the clock gives them (2**30 wrap on the pod): compare with ticks_diff.
"""
from compat import ticks_add, ticks_diff


def _is_seq(x):
    return isinstance(x, list) or isinstance(x, tuple)  # noqa: SIM101 - no tuple built per call


class FakeClock:
    """A settable microsecond clock: ``clock()`` returns ``clock.now``."""

    def __init__(self, now=0):
        self.now = now

    def __call__(self):
        return self.now


class FakePWM:
    """machine.PWM's freq / duty_u16 / init / deinit, recording every change with its time."""

    def __init__(self, clock, freq=1000, duty_u16=0, listener=None, keep_log=True):
        self._clock = clock
        self._freq = freq
        self._duty = duty_u16
        self.listener = listener
        self.keep_log = keep_log
        self.log = []
        self.deinited = False
        self.calls = 0

    def _changed(self):
        t = self._clock()
        if self.keep_log:
            self.log.append((t, self._freq, self._duty))
        if self.listener is not None:
            self.listener(t, self._freq, self._duty)

    def freq(self, value=None):
        if value is None:
            return self._freq
        if not 1 <= value <= 40000000:
            raise ValueError("freq out of range")
        self.calls += 1
        if value != self._freq:
            self._freq = value
            if self._duty:
                self._changed()

    def duty_u16(self, value=None):
        if value is None:
            return self._duty
        if not 0 <= value <= 65535:
            raise ValueError("duty_u16 out of range")
        self.calls += 1
        if value != self._duty:
            self._duty = value
            self._changed()

    def init(self, freq=None, duty_u16=None):
        self.deinited = False
        if freq is not None:
            self.freq(freq)
        if duty_u16 is not None:
            self.duty_u16(duty_u16)

    def deinit(self):
        if self._duty:
            self._duty = 0
            self._changed()
        self.deinited = True

    def tones(self):
        """``[(t_on, t_off, freq)]`` from the log: each stretch of one frequency with duty > 0."""
        out = []
        on = None
        for t, f, d in self.log:
            if on is not None:
                out.append((on[0], t, on[1]))
                on = None
            if d:
                on = (t, f)
        if on is not None:
            out.append((on[0], None, on[1]))
        return out


class FakeRMT:
    """esp32.RMT's write_pulses (mode 1: durations, first level) / wait_done / loop / deinit.

    Durations are in ticks of ``resolution_hz`` (1 MHz: microseconds). A high level sounds
    the carrier (``tx_carrier=(carrier_hz, 50, 1)`` on the real one). Writing while a
    transmission is still running would block on the ESP32: the fake counts it in
    ``blocked`` so a test can require that it never happens.
    """

    def __init__(self, clock, carrier_hz=4000, resolution_hz=1000000, listener=None, keep_log=True):
        self._clock = clock
        self.carrier_hz = carrier_hz
        self.resolution_hz = resolution_hz
        self.listener = listener
        self.keep_log = keep_log
        self.log = []
        self.blocked = 0
        self.looping = False
        self._end = None

    def _us(self, ticks):
        return ticks * 1000000 // self.resolution_hz

    def write_pulses(self, duration, data=True):
        if _is_seq(data) or not _is_seq(duration):
            raise NotImplementedError("only mode 1 (durations, first level) is faked")
        for d in duration:
            if not 1 <= d <= 32767:
                raise ValueError("pulse duration must be 1..32767 ticks")
        t = self._clock()
        if not self.wait_done():
            self.blocked += 1
        if self.keep_log:
            self.log.append((t, tuple(duration), 1 if data else 0))
        level = 1 if data else 0
        for d in duration:
            t_next = ticks_add(t, self._us(d))
            if level and self.listener is not None:
                self.listener(t, t_next, self.carrier_hz)
            level ^= 1
            t = t_next
        self._end = t

    def wait_done(self, timeout=0):
        return self._end is None or ticks_diff(self._clock(), self._end) >= 0

    def loop(self, enable):
        self.looping = bool(enable)

    def deinit(self):
        self._end = None

    def tones(self):
        """``[(t_on, t_off, carrier_hz)]`` for every high pulse written."""
        out = []
        for t, durations, level in self.log:
            for d in durations:
                t_next = ticks_add(t, self._us(d))
                if level:
                    out.append((t, t_next, self.carrier_hz))
                level ^= 1
                t = t_next
        return out
