"""``esp32`` for the virtual pod: RMT (the buzzer's hardware-timed pulses) and wake sources.

RMT.write_pulses returns at once, as on the chip; every carrier on/off it will produce is
written to the trace with its exact virtual (world) time, so click timing is judged by what
the hardware would emit, not by when Python got round to it.
"""

import _vpod

WAKEUP_ALL_LOW = False
WAKEUP_ANY_HIGH = True
HEAP_DATA = 4
HEAP_EXEC = 1

_rmts = []


# The ESP32's RTC GPIOs: only these can wake it from deep sleep (esp_sleep_enable_ext0_wakeup).
_RTC_GPIOS = (0, 2, 4, 12, 13, 14, 15, 25, 26, 27, 32, 33, 34, 35, 36, 37, 38, 39)


def wake_on_ext0(pin, level=0):
    n = None if pin is None else getattr(pin, "id", pin)
    if n is not None and n not in _RTC_GPIOS:
        raise ValueError("invalid pin")  # as the firmware's modesp32.c says
    _vpod.CFG["_ext0"] = n


def wake_on_ext1(pins=None, level=WAKEUP_ALL_LOW):
    pass


def wake_on_touch(wake):
    pass


def raw_temperature():
    return 120  # Fahrenheit, as the ESP32's uncalibrated sensor reports


def mcu_temperature():
    return 49


def idf_heap_info(capabilities):
    return [(100000, 60000, 50000, 40000)]


class RMT:
    """Transmit-only RMT channel; ``tx_carrier=(hz, duty_percent, level)`` makes it a buzzer."""

    PULSE_MAX = 32767

    def __init__(self, channel=0, *, pin=None, clock_div=8, resolution_hz=None, idle_level=False,
                 tx_carrier=None, num_symbols=None):
        self.channel = channel
        self.pin = getattr(pin, "id", pin)
        # Tick length in ns: the 80 MHz APB clock divided, or a requested resolution.
        self._tick_ns = 1000000000 // resolution_hz if resolution_hz else clock_div * 25 // 2
        self._idle = 1 if idle_level else 0
        self._carrier = tx_carrier
        self._end = 0  # world us when the current transmission ends
        self._loop = False
        _rmts.append(self)

    def source_freq(self):
        return 80000000

    def clock_div(self):
        return self._tick_ns * 2 // 25

    def wait_done(self, *, timeout=0):
        left = self._end - _vpod.world()
        if left > 0 and timeout:
            _vpod.CLOCK.sleep_us(min(left, timeout * 1000))
        return self._end <= _vpod.world()

    def loop(self, enable):
        if self._loop and not enable:
            _vpod.trace("buzz", on=0, src="rmt_loop", pin=self.pin)
        self._loop = bool(enable)

    def write_pulses(self, duration, data=True):
        if not self.wait_done():  # the chip finishes the previous train first
            _vpod.CLOCK.sleep_us(self._end - _vpod.world())
        if isinstance(duration, int):
            levels = list(data)
            durs = [duration] * len(levels)
        elif isinstance(data, (list, tuple)):
            durs, levels = list(duration), list(data)
            if len(durs) != len(levels):
                raise ValueError("duration and data must have same length")
        else:
            durs = list(duration)
            lv = 1 if data else 0
            levels = []
            for _ in durs:
                levels.append(lv)
                lv ^= 1
        t_ns = _vpod.world() * 1000
        hz = self._carrier[0] if self._carrier else 0
        on_level = self._carrier[2] if self._carrier and len(self._carrier) > 2 else 1
        state = 0
        for d, lv in zip(durs, levels):
            sound = 1 if (lv == on_level and hz) or (lv and not hz) else 0
            if sound != state:
                state = sound
                _vpod.trace("buzz", on=sound, src="rmt", pin=self.pin, hz=hz, w=t_ns // 1000)
            t_ns += d * self._tick_ns
        if state:
            _vpod.trace("buzz", on=0, src="rmt", pin=self.pin, hz=hz, w=t_ns // 1000)
        self._end = t_ns // 1000
        if self._loop:
            _vpod.trace("buzz", on=1, src="rmt_loop", pin=self.pin, period_us=t_ns // 1000 - _vpod.world())

    def deinit(self):
        self.loop(False)
        if self in _rmts:
            _rmts.remove(self)


def _soft_reset():
    for r in list(_rmts):
        r.deinit()
