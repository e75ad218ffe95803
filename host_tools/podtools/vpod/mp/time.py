"""``time`` for the virtual pod: the ESP32's time module on the virtual clock.

Shadows the unix port's built-in ``time`` (a .py earlier on sys.path does, on this port).
Ticks wrap at 2**30 as on the ESP32; ``time()``, ``gmtime()``, ``localtime()`` and
``mktime()`` use the ESP32's 2000 epoch and the virtual RTC that ``machine.RTC`` and
``mpremote rtc --set`` set. Sleeps advance the virtual clock (and run due Timer callbacks).
"""

import _vpod

_MASK = 0x3FFFFFFF
_HALF = 0x20000000
_clock = _vpod.CLOCK


def ticks_us():
    return _clock.now() & _MASK


def ticks_ms():
    return _clock.now() // 1000 & _MASK


def ticks_cpu():
    return _clock.now() & _MASK


def ticks_add(ticks, delta):
    return (ticks + delta) & _MASK


def ticks_diff(end, start):
    return ((end - start + _HALF) & _MASK) - _HALF


def sleep_us(us):
    if us > 0:
        _clock.sleep_us(us)


def sleep_ms(ms):
    if ms > 0:
        _clock.sleep_us(ms * 1000)


def sleep(s):
    if s > 0:
        _clock.sleep_us(int(s * 1000000))


def time():
    return _vpod.rtc_us() // 1000000


def time_ns():
    return _vpod.rtc_us() * 1000


def gmtime(secs=None):
    return _vpod.gmtime2000(time() if secs is None else secs)


localtime = gmtime  # the pod keeps UTC


def mktime(t):
    return _vpod.mktime2000(t[0], t[1], t[2], t[3], t[4], t[5])
