"""``machine`` for the virtual pod: the ESP32's API over simulated hardware.

Loaded instead of the unix port's own ``machine`` because the supervisor puts this
directory first on sys.path (and imports it before the flash is mounted at /). Only what
an ESP32 offers and the pod can use is here; everything else raises AttributeError, so a
firmware call that would fail on the device fails here too.

Simulated parts: I2C/SoftI2C (an MPU6050 register map + FIFO, faults on a schedule),
Pin (with irq), PWM (buzzer on/off into the trace), ADC (battery curve behind the
board's divider), RTC, WDT, Timer (callbacks run on the virtual clock), sleep and reset.
"""

import _vpod
import _vpod_mpu
from _vpod import DEEPSLEEP_RESET, HARD_RESET, PWRON_RESET, SOFT_RESET, WDT_RESET  # noqa: F401

# machine.wake_reason() values on the ESP32 port.
PIN_WAKE = EXT0_WAKE = 2
EXT1_WAKE = 3
TIMER_WAKE = 4
TOUCHPAD_WAKE = 5
ULP_WAKE = 6

_freq = [160000000]
_irq_state = [True]


def freq(hz=None):
    if hz is None:
        return _freq[0]
    if hz not in (20000000, 40000000, 80000000, 160000000, 240000000):
        raise ValueError("frequency must be 20MHz, 40MHz, 80Mhz, 160MHz or 240MHz")
    _freq[0] = hz
    _vpod.trace("freq", hz=hz)


def unique_id():
    # The ESP32's base MAC: Espressif's OUI and three bytes chosen by the launcher.
    uid = _vpod.CFG.get("uid", 0x123456)
    return bytes((0x24, 0x0A, 0xC4, uid >> 16 & 0xFF, uid >> 8 & 0xFF, uid & 0xFF))


def reset():
    raise _vpod.Reset(HARD_RESET, "reset")


def soft_reset():
    raise _vpod.SoftReboot()


def reset_cause():
    return _vpod.BOOT["cause"]


def wake_reason():
    return _vpod.BOOT["wake"]


def idle():
    _vpod.CLOCK.sleep_us(100)


def disable_irq():
    state = _irq_state[0]
    _irq_state[0] = False
    return state


def enable_irq(state=True):
    _irq_state[0] = state


def _sleep_ms_arg(args):
    """machine.lightsleep/deepsleep take an optional int, positional (the ESP32 port calls
    mp_obj_get_int on it: None is a TypeError)."""
    if len(args) > 1:
        raise TypeError("function takes at most 1 positional argument")
    if not args:
        return None
    if not isinstance(args[0], int):
        raise TypeError("can't convert %s to int" % type(args[0]).__name__)
    return args[0]


def lightsleep(*args):
    """Light sleep: the clock jumps, RAM and peripherals keep their state."""
    ms = _sleep_ms_arg(args)
    _vpod.trace("lightsleep", ms=ms)
    _vpod.CLOCK.sleep_us(1000 * (ms if ms is not None else 3600000))


def deepsleep(*args):
    """Deep sleep: the pod resets into boot with reset_cause() == DEEPSLEEP_RESET.

    Wakes after ``ms``, or earlier on motion when esp32.wake_on_ext0 names the IMU's
    interrupt pin (the MPU6050 motion interrupt), whichever comes first.
    """
    ms = _sleep_ms_arg(args)
    limit = 1000 * ms if ms else 24 * 3600 * 1000000
    sleep_us, wake = limit, TIMER_WAKE if ms else 0
    ext0 = _vpod.CFG.get("_ext0")
    if ext0 is not None and _vpod.CFG.get("imu_int_pin") in (ext0, None):
        t = _vpod_mpu.imu().motion_after(_vpod.world(), limit)
        if t is not None:
            sleep_us, wake = t - _vpod.world(), EXT0_WAKE
    _vpod.CFG["_wake"] = wake
    raise _vpod.Reset(DEEPSLEEP_RESET, "deepsleep", sleep_us)


def time_pulse_us(pin, level, timeout_us=1000000):
    return -1


# ---- Pin ----

_pins = {}


class Pin:
    IN = 1
    OUT = 3
    OPEN_DRAIN = 7
    PULL_UP = 2
    PULL_DOWN = 1
    IRQ_RISING = 1
    IRQ_FALLING = 2
    WAKE_LOW = 4
    WAKE_HIGH = 5
    DRIVE_0 = 0
    DRIVE_1 = 1
    DRIVE_2 = 2
    DRIVE_3 = 3

    def __init__(self, id, mode=-1, pull=-1, value=None, **kw):
        if not isinstance(id, int) or not 0 <= id <= 39:
            raise ValueError("invalid pin")
        self.id = id
        self._mode = None
        self._val = 0
        self._handler = None
        self._trigger = 0
        self.init(mode, pull, value)

    def init(self, mode=-1, pull=-1, value=None, **kw):
        if mode != -1:
            if mode in (Pin.OUT, Pin.OPEN_DRAIN) and 34 <= self.id <= 39:
                raise ValueError("invalid pin for output")  # GPIO34..39 are input only
            self._mode = mode
        if pull in (Pin.PULL_UP, Pin.PULL_DOWN) and self._mode == Pin.IN:
            self._val = 1 if pull == Pin.PULL_UP else 0  # nothing drives it: the pull decides
        if value is not None:
            self.value(value)
        _pins[self.id] = self

    def _line(self):
        # The I2C pins are the simulated bus's lines (bus recovery clocks them by hand).
        cfg = _vpod.CFG
        if self.id == cfg.get("i2c_scl"):
            return _vpod_mpu.imu().bus.pins()[0]
        if self.id == cfg.get("i2c_sda"):
            return _vpod_mpu.imu().bus.pins()[1]
        return None

    def value(self, v=None):
        line = self._line()
        if line is not None:
            return line.value(v)
        if v is None:
            return self._val
        v = 1 if v else 0
        if v != self._val:
            self._val = v
            if self.id == _vpod.CFG.get("led_pin"):
                _vpod.trace("led", on=v)

    __call__ = value

    def on(self):
        self.value(1)

    def off(self):
        self.value(0)

    def irq(self, handler=None, trigger=3, wake=None, hard=False):
        self._handler = handler
        self._trigger = trigger
        return self

    def _fire(self):
        """Call the pin's handler (the simulation's way to raise an edge)."""
        if self._handler is not None:
            self._handler(self)


# ---- I2C: transfers go to the simulated bus (tests/firmware/fake_mpu6050.FakeI2C) ----


class I2C:
    """A bus with the simulated MPU6050; a transfer costs its bus time on the virtual clock."""

    def __init__(self, id=0, *, scl=None, sda=None, freq=400000, timeout=50000):
        self.freq = freq

    def init(self, *, scl=None, sda=None, freq=400000, timeout=50000):
        self.freq = freq

    def deinit(self):
        pass

    def _bus(self, nbytes):
        # Address + register + repeated start + data: about 9 clocks a byte.
        _vpod.CLOCK.advance((3 + nbytes) * 9 * 1000000 // self.freq)
        imu = _vpod_mpu.imu()
        imu.sync()
        return imu.bus

    def scan(self):
        return self._bus(125).scan()

    def readfrom_mem_into(self, addr, memaddr, buf, *, addrsize=8):
        self._bus(len(buf)).readfrom_mem_into(addr, memaddr, buf)

    def readfrom_mem(self, addr, memaddr, nbytes, *, addrsize=8):
        buf = bytearray(nbytes)
        self.readfrom_mem_into(addr, memaddr, buf)
        return bytes(buf)

    def writeto_mem(self, addr, memaddr, buf, *, addrsize=8):
        self._bus(len(buf)).writeto_mem(addr, memaddr, buf)


class SoftI2C(I2C):
    def __init__(self, scl=None, sda=None, *, freq=400000, timeout=50000):
        super().__init__(-1, scl=scl, sda=sda, freq=freq, timeout=timeout)


# ---- PWM: the buzzer, traced on every audible change ----


_pwms = []


class PWM:
    def __init__(self, dest, *, freq=None, duty=None, duty_u16=None, duty_ns=None, invert=False):
        self.pin = dest.id if isinstance(dest, Pin) else int(dest)
        self._freq = 0
        self._duty = 0
        self._on = False
        _pwms.append(self)
        self.init(freq=freq, duty=duty, duty_u16=duty_u16, duty_ns=duty_ns)

    def init(self, *, freq=None, duty=None, duty_u16=None, duty_ns=None, invert=False):
        if freq is not None:
            self._freq = freq
        if duty is not None:
            self._duty = duty * 64  # 10-bit duty on the ESP32
        if duty_u16 is not None:
            self._duty = duty_u16
        if duty_ns is not None and self._freq:
            self._duty = duty_ns * self._freq * 65536 // 1000000000
        self._update()

    def _update(self):
        on = self._freq > 0 and self._duty > 0
        if on != self._on:
            self._on = on
            _vpod.trace("buzz", on=1 if on else 0, src="pwm", pin=self.pin, hz=self._freq)

    def freq(self, f=None):
        if f is None:
            return self._freq
        self._freq = f
        self._update()

    def duty(self, d=None):
        if d is None:
            return self._duty // 64
        self._duty = d * 64
        self._update()

    def duty_u16(self, d=None):
        if d is None:
            return self._duty
        self._duty = d
        self._update()

    def duty_ns(self, d=None):
        if d is None:
            return self._duty * 1000000000 // (self._freq * 65536) if self._freq else 0
        self.init(duty_ns=d)

    def deinit(self):
        self._duty = 0
        self._update()


# ---- ADC: the battery behind the board's divider ----


class ADC:
    ATTN_0DB = 0
    ATTN_2_5DB = 1
    ATTN_6DB = 2
    ATTN_11DB = 3
    WIDTH_9BIT = 0
    WIDTH_10BIT = 1
    WIDTH_11BIT = 2
    WIDTH_12BIT = 3

    _FULL_UV = (950000, 1250000, 1750000, 3100000)  # usable range per attenuation

    def __init__(self, pin, *, atten=None):
        self.pin = pin.id if isinstance(pin, Pin) else int(pin)
        self._atten = ADC.ATTN_0DB if atten is None else atten

    def atten(self, a):
        self._atten = a

    def width(self, w):
        pass

    def read_uv(self):
        uv = 0
        if self.pin == _vpod.CFG.get("battery_pin"):
            uv = _vpod.battery_mv() * 1000 // _vpod.CFG.get("battery_divider", 2)
        return min(uv, self._FULL_UV[self._atten])

    def read_u16(self):
        return self.read_uv() * 65535 // self._FULL_UV[self._atten]

    def read(self):
        return self.read_u16() >> 4


# ---- RTC ----


class RTC:
    def __init__(self, id=0):
        pass

    def datetime(self, dt=None):
        if dt is None:
            us = _vpod.rtc_us()
            t = _vpod.gmtime2000(us // 1000000)
            return (t[0], t[1], t[2], t[6], t[3], t[4], t[5], us % 1000000)
        secs = _vpod.mktime2000(dt[0], dt[1], dt[2], dt[4], dt[5], dt[6])
        _vpod.rtc_set_us(secs * 1000000 + (dt[7] if len(dt) > 7 else 0))

    def init(self, dt):
        # init takes (year, month, day, hour, minute, second, microsecond, tzinfo)
        self.datetime((dt[0], dt[1], dt[2], 0, dt[3], dt[4], dt[5], dt[6] if len(dt) > 6 else 0))

    def memory(self, data=None):
        # RTC slow memory: kept over deep sleep and resets, lost at power off.
        if data is None:
            return _vpod._rtc["mem"]
        if len(data) > 2048:
            raise ValueError("buffer too long")
        _vpod._rtc["mem"] = bytes(data)


# ---- WDT, Timer ----


class WDT:
    def __init__(self, id=0, timeout=5000):
        if timeout < 1:
            raise ValueError("timeout must be positive")
        self._timeout_us = timeout * 1000
        self._fed = _vpod.CLOCK.now()
        _vpod.CLOCK.wdt = self
        _vpod.trace("wdt_start", timeout_ms=timeout)

    def feed(self):
        self._fed = _vpod.CLOCK.now()


class Timer:
    ONE_SHOT = 0
    PERIODIC = 1

    def __init__(self, id=-1, **kw):
        self.id = id
        self._cb = None
        self._due = 0
        if kw:
            self.init(**kw)

    def init(self, *, mode=PERIODIC, period=-1, freq=-1, callback=None, tick_hz=1000):
        self.deinit()
        if freq > 0:
            self._period = 1000000 // freq
        else:
            self._period = period * 1000000 // tick_hz
        self._mode = mode
        self._cb = callback
        self._due = _vpod.CLOCK.now() + self._period
        if callback is not None:
            _vpod.CLOCK.timers.append(self)

    def _fire(self, now):
        if self._mode == Timer.PERIODIC:
            self._due += self._period
        else:
            self.deinit()
        if self._cb is not None:
            self._cb(self)

    def value(self):
        return max(0, (self._due - _vpod.CLOCK.now()) // 1000)

    def deinit(self):
        if self in _vpod.CLOCK.timers:
            _vpod.CLOCK.timers.remove(self)


def _soft_reset():
    """What an ESP32 soft reset does to the peripherals: timers and PWM off, pins free."""
    _vpod.CLOCK.soft_reset()
    for p in _pwms:
        p.deinit()
    _pwms.clear()
    _pins.clear()
    _irq_state[0] = True
