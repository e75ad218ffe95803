"""The one place where CPython and MicroPython differ, for the pod's pure-logic modules.

Every firmware module that must also import on the laptop (for replay and tests) writes

    from compat import const, micropython

and then uses ``_NAME = const(...)`` and ``@micropython.native`` exactly as on the device.
On MicroPython these are the real thing (the compiler recognises ``const`` and the
``micropython.native`` decorator by name); on CPython they are identity functions.

Ticks: the ESP32's ``time.ticks_us()`` wraps at 2**30, the unix port's at 2**62, CPython has
no ticks at all. The gait engine and the coach therefore do their own tick arithmetic with
the ESP32's period (TICKS_MAX + 1 = 2**30) on every runtime, so a replay on the laptop wraps exactly as the pod
does and every value stays a small int. Compare ticks only through ``ticks_diff``.
"""

try:
    import micropython
    from micropython import const

    IS_MICROPYTHON = True
except ImportError:  # CPython: a narrow stand-in with only what the firmware uses.
    IS_MICROPYTHON = False

    def const(value):
        return value

    class micropython:  # noqa: N801 - mirrors the module name used on the device
        """The decorators and calls the firmware uses, as no-ops under CPython."""

        @staticmethod
        def native(func):
            return func

        @staticmethod
        def viper(func):
            return func

        @staticmethod
        def heap_lock():
            return 0

        @staticmethod
        def heap_unlock():
            return 0

        @staticmethod
        def alloc_emergency_exception_buf(size):
            return None

        @staticmethod
        def schedule(func, arg):
            func(arg)


TICKS_MAX = const(0x3FFFFFFF)  # 2**30 - 1: ticks run 0..TICKS_MAX on the ESP32
_TICKS_HALF = const(0x20000000)


def ticks_add(ticks, delta):
    """``ticks + delta`` wrapped into [0, 2**30), as time.ticks_add does on the ESP32.

    Written so that no intermediate leaves +-2**30 (the ESP32's small-int range). A delta
    beyond one period is first reduced modulo 2**30, as the wrap makes it equivalent."""
    if delta > TICKS_MAX or delta < -TICKS_MAX:
        delta &= TICKS_MAX
    if delta >= 0:
        over = ticks - TICKS_MAX + delta - 1  # ticks + delta - 2**30
        return over if over >= 0 else ticks + delta
    under = ticks + delta
    return under if under >= 0 else under + TICKS_MAX + 1


def ticks_diff(end, start):
    """Signed ``end - start`` in [-2**29, 2**29), correct across one wrap."""
    d = end - start
    if d >= _TICKS_HALF:
        return d - TICKS_MAX - 1
    if d < -_TICKS_HALF:
        return d + TICKS_MAX + 1
    return d


try:
    from time import ticks_ms as _port_ticks_ms
    from time import ticks_us as _port_ticks_us

    def ticks_us():
        """The port's microsecond ticks folded onto the ESP32's 2**30 period."""
        return _port_ticks_us() & TICKS_MAX

    def ticks_ms():
        return _port_ticks_ms() & TICKS_MAX

except ImportError:  # CPython
    from time import monotonic_ns as _monotonic_ns

    def ticks_us():
        return (_monotonic_ns() // 1000) & TICKS_MAX

    def ticks_ms():
        return (_monotonic_ns() // 1000000) & TICKS_MAX
