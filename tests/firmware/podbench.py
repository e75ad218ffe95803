"""Virtual hardware around firmware/app.py, for tests/firmware/test_app.py and the hour run.

``Bench`` is the pod's world: a microsecond clock that moves only when the app sleeps, an
emulated MPU6050 (fake_mpu6050) whose FIFO fills at the configured rate from a sample
source, a recording PWM/RMT (fake_pwm), a battery ADC behind a 1:2 divider, an RTC, a
deep-sleep stub, and faults scheduled on the virtual clock (``at(seconds, action)``).
Runs under CPython and MicroPython; allocates nothing per sample once running.

    b = Bench(BinSource(path), root, config={...})
    a = b.run(100)                 # seconds of virtual time, or until the app deep-sleeps
    b.onsets, b.tones, b.slept     # what the buzzer and the power switch did
"""
import json
from array import array

import app
from compat import TICKS_MAX
from fake_mpu6050 import FakeI2C, FakeMPU6050
from fake_pwm import FakePWM, FakeRMT

REST = (0, 0, 2048, 0, 0, 0)
CLICK_HZ = 2700  # podconfig's default buzzer_hz: no pattern uses it


# ---------------------------------------------------------------- sample sources
class BinSource:
    """Raw int16 LE samples (tests/simstream.py) on a uniform grid, then rest."""

    def __init__(self, path, period_us=5000):
        self.f = open(path, "rb")
        self.period_us = period_us
        self.buf = bytearray(12 * 32)  # small: the 32-bit hour test counts this in its 64 KB
        self.base = -1
        self.n = 0
        self.done = False

    def sample(self, t_us, out):
        i = t_us // self.period_us
        if not (self.base <= i < self.base + self.n):
            self.f.seek(12 * i)
            self.n = (self.f.readinto(self.buf) or 0) // 12
            self.base = i
            if self.n == 0:
                self.done = True
                for k in range(6):
                    out[k] = REST[k]
                return
        j = 12 * (i - self.base)
        b = self.buf
        for k in range(6):
            v = b[j + 2 * k] | (b[j + 2 * k + 1] << 8)
            out[k] = v - 65536 if v & 0x8000 else v


class CsvSource:
    """A pod-imu CSV recording (nearest sample in time), then rest."""

    def __init__(self, path):
        self.t = array("i")
        self.v = array("h")
        with open(path) as f:
            for line in f:
                if line[0] == "#" or line[0] == "t":
                    continue
                parts = line.split(",")
                self.t.append(int(parts[0]))
                for p in parts[1:7]:
                    self.v.append(int(p))
        self.i = 0
        self.done = False

    def sample(self, t_us, out):
        t = self.t
        while self.i + 1 < len(t) and t[self.i + 1] <= t_us:
            self.i += 1
        self.done = self.i + 1 >= len(t)
        for k in range(6):
            out[k] = REST[k] if self.done else self.v[6 * self.i + k]


class RestSource:
    done = True

    def sample(self, t_us, out):
        for k in range(6):
            out[k] = REST[k]


# ---------------------------------------------------------------- the virtual world
class FakeADC:
    def __init__(self, bench):
        self.bench = bench

    def read_uv(self):
        return self.bench.battery_mv * 1000 // 2  # behind a 1:2 divider


class FakeRTC:
    def __init__(self, dt=(2000, 1, 1, 5, 0, 0, 10, 0)):
        self.dt = dt

    def datetime(self):
        return self.dt


class FakeLed:
    def __init__(self):
        self.v = 0

    def value(self, v=None):
        if v is None:
            return self.v
        self.v = v


class Bench:
    """Virtual time and hardware around one App; see the module docstring."""

    def __init__(self, source, root, rmt=False, config=None, battery_mv=None, on_click=None, keep_tones=True):
        self.now = 1000000
        self.t0 = None
        self.source = source
        self.mpu = FakeMPU6050()
        self.mpu.log_writes = False
        self.bus = FakeI2C(self.mpu)
        self.t_next = None
        self.s = [0] * 6
        self.actions = []  # (t_us since start, callable)
        self.spins = 0
        self.battery_mv = battery_mv or 4000
        self.slept = []  # deepsleep(ms) calls
        self.cut = 0  # light sleeps entered while a tone sounded or an RMT click was pending
        self.wake_pin = None
        self.onsets = []  # click onsets (us, absolute) as the hardware plays them
        self.on_click = on_click or self.onsets.append  # (an hour of them need not be kept)
        self.tones = [] if keep_tones else None  # (t, freq) of every non-click tone start
        self.root = root
        if config is not None:
            with open(root + "/config.json", "w") as f:
                f.write(config if isinstance(config, str) else json.dumps(config))
        clock = self.ticks_us
        self.pwm = FakePWM(clock, listener=self._pwm, keep_log=False)
        self.rmt = FakeRMT(clock, CLICK_HZ, listener=self._rmt, keep_log=False) if rmt else None
        hw = app.Hardware()
        hw.i2c = self.bus
        hw.make_i2c = lambda: self.bus
        hw.bus_pins = self.bus.pins
        hw.imu_int = "INT"
        hw.pwm = self.pwm
        hw.rmt = self.rmt
        hw.led = FakeLed()
        if battery_mv is not None:
            hw.adc = FakeADC(self)
            hw.battery_divider = 2
        hw.rtc = FakeRTC()
        hw.ticks_us = self.ticks_us
        hw.ticks_ms = self.ticks_ms
        hw.sleep_us = self.sleep_us
        hw.sleep_ms = self.sleep_ms
        hw.lightsleep = self.lightsleep
        hw.deepsleep = self.deepsleep
        hw.wake_on_motion = self.wake_on_motion
        hw.root = root
        hw.woke_from_deepsleep = True  # no 60 s service window unless a test wants one
        hw.rand16 = lambda: 0x1234
        self.log = []
        hw.log = self.log.append
        self.hw = hw

    # clocks: a read that finds time standing still too often moves it by 1 us
    def ticks_us(self):
        self.spins += 1
        if self.spins > 1000:
            self.now += 1
        return self.now & TICKS_MAX

    def ticks_ms(self):
        return (self.now // 1000) & TICKS_MAX

    def sleep_us(self, us):
        if us > 0:
            self.advance(us)

    def sleep_ms(self, ms):
        if ms > 0:
            self.advance(ms * 1000)

    def lightsleep(self, ms):
        # Light sleep stops the clocks of the LEDC (PWM) and the RMT: output under way would
        # be cut short or never played. The fakes go on, so count it for the tests.
        if self.pwm.duty_u16() or (self.rmt is not None and not self.rmt.wait_done()):
            self.cut += 1
        self.sleep_ms(ms)

    def deepsleep(self, *ms):
        # As the ESP32's machine.deepsleep([time_ms]): no argument sleeps until a wake-up
        # source fires; the argument must be an int (None is a TypeError there too).
        if ms and not isinstance(ms[0], int):
            raise TypeError("can't convert %s to int" % type(ms[0]).__name__)
        self.slept.append(ms[0] if ms else None)

    def wake_on_motion(self, pin):
        self.wake_pin = pin

    def at(self, seconds, action):
        self.actions.append((int(seconds * 1000000), action))

    def elapsed_us(self):
        return self.now - (self.t0 if self.t0 is not None else self.now)

    def advance(self, us):
        self.spins = 0
        end = self.now + us
        if self.t0 is None:
            self.t0 = self.now
        while self.actions and self.actions[0][0] <= end - self.t0:
            t, action = self.actions.pop(0)
            action()
        mpu = self.mpu
        if mpu.asleep() or mpu.unplugged:
            self.t_next = None
        else:
            p = mpu.period_us()
            if self.t_next is None:
                self.t_next = self.now + p
            s = self.s
            while self.t_next <= end:
                self.source.sample(self.t_next - self.t0, s)
                mpu.push(s[0], s[1], s[2], s[3], s[4], s[5])
                self.t_next += p
        self.now = end

    def _pwm(self, t, freq, duty):
        if duty and freq == CLICK_HZ:
            self.on_click(self.now)
        elif duty and self.tones is not None:
            self.tones.append((self.now, freq))

    def _rmt(self, t_on, t_off, freq):
        # t_on is on the 2**30 tick wrap; the tests stay far below it (18 minutes)
        self.on_click(t_on)

    def played(self, pattern):
        """True if the pattern's tones were started in order at some point."""
        freqs = [step[0] for step in pattern]
        got = [f for _, f in self.tones]
        for i in range(len(got) - len(freqs) + 1):
            if got[i:i + len(freqs)] == freqs:
                return True
        return False

    def run(self, seconds):
        a = app.App(self.hw)
        a.run(until_ms=int(seconds * 1000))
        return a


class GridCheck:
    """Click onsets checked as they come: each run of clicks (gaps under 2.5 periods) must lie
    on ``t0 + k * 60e6 / spm``; ``worst`` is the largest deviation (us), ``runs`` the runs."""

    def __init__(self, spm):
        self.spm = spm
        self.period = 60000000 // spm
        self.prev = None
        self.start = 0
        self.k = 0
        self.runs = 0
        self.worst = 0
        self.n = 0
        self.longest = 0  # clicks in the longest run

    def __call__(self, t):
        p = self.period
        self.n += 1
        prev = self.prev
        if prev is None or t - prev > 5 * p // 2 or t - prev < p // 2:
            self.start = t
            self.k = 0
            self.runs += 1
        else:
            self.k += (t - prev + p // 2) // p
            err = t - self.start - self.k * 60000000 // self.spm
            err = -err if err < 0 else err
            if err > self.worst:
                self.worst = err
            if self.k > self.longest:
                self.longest = self.k
        self.prev = t
