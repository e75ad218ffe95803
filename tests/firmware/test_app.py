"""The pod application (firmware/app.py) on virtual hardware, under CPython and MicroPython.

``Bench`` is the pod's world: a microsecond clock that moves only when the app sleeps, an
emulated MPU6050 (fake_mpu6050) whose FIFO fills at the configured rate from a sample
source, a recording PWM/RMT (fake_pwm), a battery ADC, an RTC, a deep-sleep stub, and
scheduled faults. Sources: a real walking recording (../shared/data) or a simulated run
(podtools.simulate through tests/simstream.py, cached in /tmp; under MicroPython the venv's
python writes it). Files go to littlefs in RAM on MicroPython, a temp dir on CPython.
"""
import json
import os
from array import array

import _support
import app
import buzzer
import sessionlog
import summary
from compat import TICKS_MAX
from fake_mpu6050 import FakeI2C, FakeMPU6050
from fake_pwm import FakePWM, FakeRMT
from test_sessionlog import make_fs_dir

REST = (0, 0, 2048, 0, 0, 0)
CLICK_HZ = 2700  # podconfig's default buzzer_hz: no pattern uses it


# ---------------------------------------------------------------- sample sources
class BinSource:
    """Raw int16 LE samples (tests/simstream.py) on a uniform grid, then rest."""

    def __init__(self, path, period_us=5000):
        self.f = open(path, "rb")
        self.period_us = period_us
        self.buf = bytearray(12 * 256)
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


def sim_path(scenario, seed, duration, **opts):
    """A cached simulated stream at 200 Hz (written by the venv's python if missing)."""
    extra = "".join("-%s%s" % (k, opts[k]) for k in sorted(opts))
    path = "/tmp/podtest-%s-%d-%d%s.bin" % (scenario, seed, duration, extra)
    if _support.path_exists(path):
        return path
    if _support.IS_MICROPYTHON:
        args = " ".join("%s=%s" % (k, opts[k]) for k in sorted(opts))
        cmd = "%s/.venv/bin/python %s/tests/simstream.py %s %d %d 200 %s %s" % (
            _support.ROOT, _support.ROOT, scenario, seed, duration, path, args)
        if os.system(cmd) != 0 or not _support.path_exists(path):
            _support.skip("cannot run the host simulator")
    else:
        import sys

        sys.path.insert(0, _support.TESTS_DIR)
        import simstream

        simstream.write_stream(path, scenario, seed, duration, 200, **opts)
    return path


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

    def __init__(self, source, root, rmt=False, config=None, battery_mv=None):
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
        self.wake_pin = None
        self.onsets = []  # click onsets (us, absolute) as the hardware plays them
        self.tones = []  # (t, freq) of every non-click tone start
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
        hw.lightsleep = self.sleep_ms
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

    def deepsleep(self, ms=None):
        self.slept.append(ms)

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
            self.onsets.append(self.now)
        elif duty:
            self.tones.append((self.now, freq))

    def _rmt(self, t_on, t_off, freq):
        # t_on is on the 2**30 tick wrap; the tests stay far below it (18 minutes)
        self.onsets.append(t_on)

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


def _sessions(root):
    d = root + "/sessions"
    try:
        names = os.listdir(d)
    except OSError:
        return []
    return [d + "/" + n for n in sorted(names) if n.endswith(".pod")]


def _config(**kw):
    cfg = {"interval_s": 10, "auto_stop_idle_s": 20, "metronome": "always"}
    cfg.update(kw)
    return cfg


def check_grid(onsets, spm, tol_us=2000):
    """Every run of clicks (gaps under 2.5 periods) lies on t0 + k * 60e6 / spm within tol."""
    period = 60000000 // spm
    worst = 0
    runs = 0
    start = None
    k = 0
    prev = None
    for t in onsets:
        if prev is None or t - prev > 5 * period // 2 or t - prev < period // 2:
            start = t
            k = 0
            runs += 1
        else:
            k += (t - prev + period // 2) // period
            err = t - start - k * 60000000 // spm
            if abs(err) > worst:
                worst = abs(err)
        prev = t
    if worst > tol_us:
        raise AssertionError("click %d us off the metronome grid" % worst)
    return runs, worst


# ---------------------------------------------------------------- tests
def test_summary_accumulates_integers():
    s = summary.Summary()
    s.footfall(0)
    s.footfall(1700)
    s.footfall(1800)
    s.stance(0, 1500, 250, True)
    s.stance(2, -500, 200, False)
    s.stance(1, -32768, -32768, False)
    s.time(5000000, True, True)
    s.time(5000000, True, False)
    s.alert(1)
    s.gap(120000, sessionlog.FLAG_I2C)
    r = s.record(20, 10000)
    assert r["steps"] == 6
    assert (r["cadence_mean_x10"], r["cadence_min_x10"], r["cadence_max_x10"]) == (1750, 1700, 1800)
    assert (r["strikes_rear"], r["strikes_mid"], r["strikes_fore"]) == (1, 1, 1)
    assert r["angle_mean_x10"] == 50  # (15.00 - 5.00) / 2 deg
    assert r["contact_mean_ms"] == 225
    assert r["overstrides"] == 1 and r["target_ms"] == 5000 and r["run_ms"] == 10000
    assert r["alerts_low_cadence"] == 1 and r["gap_ms"] == 120 and r["flags"] == sessionlog.FLAG_I2C
    t = summary.Summary()
    t.copy_from(s)
    s.reset()
    assert t.record(20, 10000) == r
    e = s.record(0, 10000)
    assert e["cadence_mean_x10"] is None and e["angle_mean_x10"] is None and e["steps"] == 0


def test_unix_seconds_from_rtc():
    assert app._unix_seconds((1970, 1, 1, 3, 0, 0, 0, 0)) == 0
    assert app._unix_seconds((2000, 1, 1, 5, 0, 0, 0, 0)) == 946684800
    assert app._unix_seconds((2026, 3, 1, 6, 12, 30, 15, 0)) == 1772368215


def test_walk_recording_starts_no_session():
    # A real walk (gaitmap, 204.8 Hz, resampled by the fake's clock to 200 Hz): footfalls are
    # seen, but walking is not a run, so no session is recorded.
    path = _support.SHARED_DATA + "/gaitmap_walk_left.csv"
    if not _support.path_exists(path):
        _support.skip("no shared recordings")
    root = make_fs_dir()
    b = Bench(CsvSource(path), root, config=_config())
    a = b.run(45)
    assert a.engine.steps >= 10, a.engine.steps
    assert _sessions(root) == []
    assert a.errors == 0 and b.onsets == []


def test_running_session_file_and_clicks_on_grid():
    root = make_fs_dir()
    b = Bench(BinSource(sim_path("run", 3, 60)), root, config=_config(target_spm=172))
    a = b.run(100)  # 60 s of running, then rest: the session stops after 20 s idle
    files = _sessions(root)
    assert len(files) == 1, files
    recs, problem = sessionlog.read_session(files[0])
    assert problem is None, problem
    head, foot = recs[0], recs[-1]
    assert head["type"] == "header" and head["firmware"] == app.FIRMWARE_VERSION
    assert head["start_epoch"] is None and head["config"]["target_spm"] == 172
    assert head["interval_ms"] == 10000
    assert foot["type"] == "footer" and foot["reason"] == "idle", foot
    ivs = [r for r in recs if r["type"] == "interval"]
    assert 6 <= len(ivs) <= 9, len(ivs)
    assert [r["t_offset_s"] for r in ivs] == [10 * i for i in range(len(ivs))]
    full = [r for r in ivs[1:4]]
    for r in full:
        assert r["dur_ms"] == 10000
        assert 1500 <= r["cadence_mean_x10"] <= 1900, r
        assert r["steps"] >= 20 and r["run_ms"] > 5000, r
        assert r["contact_mean_ms"] is not None and r["angle_mean_x10"] is not None
    assert foot["steps"] == sum(r["steps"] for r in ivs) and foot["intervals"] == len(ivs)
    assert b.played(buzzer.SESSION_START) and b.played(buzzer.SESSION_STOP)
    runs, worst = check_grid(b.onsets, 172)
    assert len(b.onsets) > 100 and runs <= 3, (len(b.onsets), runs)
    assert a.errors == 0
    assert a.lightsleeps > 300  # between FIFO reads and clicks (10 reads/s, ~3 clicks/s)


def test_clicks_hardware_timed_with_rmt():
    root = make_fs_dir()
    b = Bench(BinSource(sim_path("run", 3, 60)), root, rmt=True, config=_config(target_spm=180))
    b.run(60)
    assert b.rmt.blocked == 0
    runs, worst = check_grid(b.onsets, 180)
    assert len(b.onsets) > 100 and runs <= 3, (len(b.onsets), runs)


def test_i2c_faults_do_not_stop_the_loop():
    root = make_fs_dir()
    b = Bench(BinSource(sim_path("run", 3, 60)), root, config=_config())
    mpu, bus = b.mpu, b.bus

    def nack(on):
        mpu.nack = on

    def unplug(on):
        mpu.unplugged = on

    def stuck():
        bus.stuck_bus = True

    b.at(20, lambda: nack(True))
    b.at(20.3, lambda: nack(False))
    b.at(30, stuck)
    b.at(40, lambda: unplug(True))
    b.at(42, lambda: unplug(False))
    b.at(50, lambda: bus.fail_next(2))
    a = b.run(100)
    assert a.errors == 0
    assert a.i2c_errors >= 4 and a.recoveries >= 1 and bus.recoveries >= 1
    assert not bus.stuck_bus
    files = _sessions(root)
    assert len(files) == 1
    recs, problem = sessionlog.read_session(files[0])
    assert problem is None and recs[-1]["type"] == "footer"
    kinds = [r["kind"] for r in recs if r["type"] == "event"]
    for k in ("i2c_error", "gap", "sensor_lost", "sensor_back"):
        assert k in kinds, kinds
    ivs = [r for r in recs if r["type"] == "interval"]
    assert sum(r["gap_ms"] for r in ivs) >= 2000  # the 2 s unplugged at least
    assert any(r["flags"] & sessionlog.FLAG_I2C for r in ivs)
    assert ivs[4]["steps"] > 10, ivs  # running was seen again after the faults
    assert b.played(buzzer.SENSOR_FAULT)


def test_corrupt_config_falls_back_and_signals():
    root = make_fs_dir()
    b = Bench(RestSource(), root, config='{"target_spm": 999, ')
    a = b.run(2)
    assert a.config_problem and a.cfg["target_spm"] == 180 and a.cfg["interval_s"] == 10
    assert b.played(buzzer.CONFIG_FALLBACK)
    b2 = Bench(RestSource(), make_fs_dir(), config={"target_spm": 300})
    a2 = b2.run(1)
    assert "target_spm" in a2.config_problem and b2.played(buzzer.CONFIG_FALLBACK)


def test_flash_full_does_not_record_and_signals():
    root = make_fs_dir()
    b = Bench(BinSource(sim_path("run", 3, 60)), root, config=_config())
    b.hw.statvfs = lambda path: (4096, 4096, 64, 2, 2, 0, 0, 0, 0, 255)  # 8 KB free
    a = b.run(40)
    assert a.flash_full and _sessions(root) == []
    assert b.played(buzzer.FLASH_FULL)
    assert a.errors == 0 and a.engine.steps > 20  # the pod goes on coaching


def test_flash_filling_up_mid_session_stops_recording():
    if not (_support.IS_MICROPYTHON and hasattr(os, "VfsLfs2")):
        _support.skip("needs a real littlefs that fills up")
    root = make_fs_dir(blocks=12)  # 6 KB: a header and a few records
    b = Bench(BinSource(sim_path("run", 3, 60)), root, config=_config(interval_s=1))
    b.hw.statvfs = lambda path: (512, 512, 4096, 4096, 4096, 0, 0, 0, 0, 255)  # lies: "2 MB free"
    a = b.run(70)
    assert a.flash_full and a.errors == 0 and b.played(buzzer.FLASH_FULL)
    files = _sessions(root)
    assert len(files) == 1
    recs, problem = sessionlog.read_session(files[0])
    assert recs and recs[0]["type"] == "header"  # what was written stays readable
    assert a.engine.steps > 40


def test_low_battery_closes_session_and_sleeps():
    root = make_fs_dir()
    b = Bench(BinSource(sim_path("run", 3, 60)), root, config=_config(), battery_mv=3900)
    b.at(35, lambda: setattr(b, "battery_mv", 3300))
    a = b.run(100)
    assert a.low_battery and b.slept == [3600000]
    assert b.played(buzzer.LOW_BATTERY)
    recs, problem = sessionlog.read_session(_sessions(root)[0])
    assert problem is None
    assert recs[-1]["type"] == "footer" and recs[-1]["reason"] == "low_battery"
    assert [r for r in recs if r["type"] == "event" and r["kind"] == "low_battery"][0]["value"] == 3300
    assert b.elapsed_us() < 60000000  # it stopped at once, not after the run


def test_low_battery_at_boot_sleeps_at_once():
    b = Bench(RestSource(), make_fs_dir(), battery_mv=3200)
    b.hw.woke_from_deepsleep = False
    a = b.run(10)
    assert a.low_battery and b.slept == [3600000] and b.played(buzzer.LOW_BATTERY)


def test_idle_pod_deep_sleeps_with_motion_wake():
    b = Bench(RestSource(), make_fs_dir(), config=_config())
    b.hw.woke_from_deepsleep = False  # after a reset: 60 s awake for mpremote first
    a = b.run(200)
    assert b.slept == [None] and b.wake_pin == "INT"
    assert 59 <= b.elapsed_us() // 1000000 <= 62  # idle and past the 60 s service window
    assert b.mpu.cycling() and b.mpu.regs[0x38] & 0x40  # cycle mode, motion interrupt on
    assert not a.running


def test_unexpected_exception_is_caught_recorded_and_signalled():
    root = make_fs_dir()
    b = Bench(BinSource(sim_path("run", 3, 60)), root, config=_config())
    box = []

    def break_once():
        a = box[0]
        real = a.pipe.update

        def boom(*args):
            a.pipe.update = real
            raise RuntimeError("injected")

        a.pipe.update = boom

    b.at(25, break_once)
    a = app.App(b.hw)
    box.append(a)
    a.run(until_ms=90000)
    assert a.errors == 1
    assert b.played(buzzer.SENSOR_FAULT)
    recs, problem = sessionlog.read_session(_sessions(root)[0])
    assert problem is None and recs[-1]["type"] == "footer"
    assert any(r["type"] == "event" and r["kind"] == "code_%d" % app.EV_ERROR for r in recs)
    with open(root + "/error.log") as f:
        assert "RuntimeError: injected" in f.read()
