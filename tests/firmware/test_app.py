"""The pod application (firmware/app.py) on virtual hardware, under CPython and MicroPython.

``Bench`` is the pod's world: a microsecond clock that moves only when the app sleeps, an
emulated MPU6050 (fake_mpu6050) whose FIFO fills at the configured rate from a sample
source, a recording PWM/RMT (fake_pwm), a battery ADC, an RTC, a deep-sleep stub, and
scheduled faults. Sources: a real walking recording (../shared/data) or a simulated run
(podtools.simulate through tests/simstream.py, cached in /tmp; under MicroPython the venv's
python writes it). Files go to littlefs in RAM on MicroPython, a temp dir on CPython.
"""
import os

import _support
import app
import buzzer
import sessionlog
import summary
from podbench import Bench, BinSource, CsvSource, GridCheck, RestSource
from test_sessionlog import make_fs_dir


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
    grid = GridCheck(172)
    b = Bench(BinSource(sim_path("run", 3, 60)), root, config=_config(target_spm=172), on_click=grid)
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
    # Stopped for idleness, the session ends at its last footfall, not 20 s later: the
    # intervals of the wait lie past its duration, empty, and the partial last one is not written.
    stepped = [r for r in ivs if r["steps"]]
    waited = [r for r in ivs if r["t_offset_s"] * 1000 >= foot["duration_ms"]]
    assert stepped[-1]["t_offset_s"] * 1000 < foot["duration_ms"] <= 60000, (foot, stepped[-1])
    assert waited and all(r["steps"] == 0 for r in waited), waited
    assert all(r["dur_ms"] == 10000 for r in ivs), ivs
    assert b.played(buzzer.SESSION_START) and b.played(buzzer.SESSION_STOP)
    assert grid.n > 100 and grid.runs <= 3 and grid.worst <= 2000, (grid.n, grid.runs, grid.worst)
    assert a.errors == 0
    assert a.lightsleeps > 300  # between FIFO reads and clicks (10 reads/s, ~3 clicks/s)


def test_the_loop_allocates_nothing_per_sample():
    # Every burst of samples (_feed: decode, pipeline, events, summary) and every pass's
    # metronome sync, counted byte by byte (micropython.mem_total) through a run with
    # clicks, a low-cadence alert and a session being recorded.
    if not _support.IS_MICROPYTHON:
        _support.skip("mem_total is MicroPython's")
    import micropython

    b = Bench(BinSource(sim_path("run", 3, 60)), make_fs_dir(), config=_config(target_spm=180))
    a = app.App(b.hw)
    seen = {"feed": [0, 0], "sync": [0, 0]}  # calls, bytes

    def count(name, orig):
        tally = seen[name]
        if name == "feed":
            def wrapper(n, t):
                m0 = micropython.mem_total()
                orig(n, t)
                tally[1] += micropython.mem_total() - m0
                tally[0] += 1
        else:
            def wrapper(now):
                m0 = micropython.mem_total()
                orig(now)
                tally[1] += micropython.mem_total() - m0
                tally[0] += 1
        return wrapper

    def watch():  # from 15 s: the session, the clicks and the alerts are under way
        a._feed = count("feed", a._feed)
        a._sync_metronome = count("sync", a._sync_metronome)

    b.at(15, watch)
    a.run(until_ms=60000)
    assert seen["feed"][0] > 300 and seen["sync"][0] > 300, seen
    assert seen["feed"][1] == 0 and seen["sync"][1] == 0, seen
    assert a.buz.clicks > 100 and a.coach.alerts >= 1 and a.writer is not None


def test_clicks_hardware_timed_with_rmt():
    root = make_fs_dir()
    grid = GridCheck(180)
    b = Bench(BinSource(sim_path("run", 3, 60)), root, rmt=True, config=_config(target_spm=180), on_click=grid)
    a = b.run(60)
    assert b.rmt.blocked == 0
    assert b.cut == 0 and a.lightsleeps > 100  # never asleep over an armed click
    assert grid.n > 100 and grid.runs <= 3 and grid.worst <= 2000, (grid.n, grid.runs, grid.worst)


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


def test_a_sensor_lost_mid_run_stops_the_metronome_within_seconds():
    # The coach stops clicking 3 s after the last footfall, but it hears of footfalls only
    # through samples: it used to click on for the 10 minutes before the pod gave up.
    b = Bench(BinSource(sim_path("run", 3, 60)), make_fs_dir(), config=_config())
    b.at(30, lambda: setattr(b.mpu, "unplugged", True))
    b.run(60)
    after = [(t - b.t0) / 1e6 for t in b.onsets if t - b.t0 > 30000000]
    assert len(b.onsets) > 40 and after and after[-1] < 33.5, after[-3:]


def _led_seen(unplugged_at_boot):
    """The LED at 1 s, while running, with the sensor away (10-14 s) and back."""
    b = Bench(BinSource(sim_path("run", 3, 60)), make_fs_dir(), config=_config())
    b.mpu.unplugged = unplugged_at_boot
    seen = []

    def look(label):
        seen.append((label, b.hw.led.v))

    b.at(1, lambda: look("boot"))
    b.at(2, lambda: setattr(b.mpu, "unplugged", False))
    b.at(6, lambda: look("running"))
    b.at(10, lambda: setattr(b.mpu, "unplugged", True))
    b.at(13, lambda: look("away"))
    b.at(14, lambda: setattr(b.mpu, "unplugged", False))
    b.at(18, lambda: look("back"))
    b.run(20)
    return seen


def test_the_led_is_lit_until_the_sensor_answers_and_while_it_is_away():
    # (After a clean boot it used to stay lit all run long: a few mA of an 8 mA budget.)
    assert _led_seen(False) == [("boot", 0), ("running", 0), ("away", 1), ("back", 0)]
    assert _led_seen(True) == [("boot", 1), ("running", 0), ("away", 1), ("back", 0)]


def test_events_that_find_the_queue_full_are_counted_in_the_session():
    root = make_fs_dir()
    b = Bench(BinSource(sim_path("run", 3, 60)), root, config=_config())
    box = []

    def flood():  # more events at once than the queue holds (an error storm between two writes)
        for i in range(20):
            box[0]._queue_event(app.EV_ERROR, 100 + i)

    b.at(25, flood)
    a = app.App(b.hw)
    box.append(a)
    a.run(until_ms=90000)
    recs, problem = sessionlog.read_session(_sessions(root)[0])
    assert problem is None and recs[-1]["type"] == "footer"
    errs = [r["value"] for r in recs if r["type"] == "event" and r["kind"] == "error"]
    lost = [r["value"] for r in recs if r["type"] == "event" and r["kind"] == "events_lost"]
    assert errs == list(range(100, 100 + app.EVENT_QUEUE)) and lost == [20 - app.EVENT_QUEUE]  # in order, none unaccounted


def test_a_sensor_that_stops_sampling_is_noticed_and_set_up_again():
    # A power glitch on the sensor alone: it answers again, but asleep with its FIFO off,
    # and no bus error says so. The FIFO staying empty is the only sign.
    root = make_fs_dir()
    b = Bench(BinSource(sim_path("run", 3, 60)), root, config=_config())
    b.at(25, b.mpu.power_on)
    a = b.run(100)
    assert a.samples > 95 * 200, a.samples  # sampling again within a second or so
    assert b.played(buzzer.SENSOR_FAULT) and a.errors == 0
    recs, problem = sessionlog.read_session(_sessions(root)[0])
    assert problem is None
    kinds = [r["kind"] for r in recs if r["type"] == "event"]
    assert "sensor_lost" in kinds and "sensor_back" in kinds and "gap" in kinds, kinds
    gap = [r["value"] for r in recs if r["type"] == "event" and r["kind"] == "gap"][0]
    assert gap < 2000, gap


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


def test_flash_full_mid_session_frees_synced_sessions_and_goes_on():
    if not (_support.IS_MICROPYTHON and hasattr(os, "VfsLfs2")):
        _support.skip("needs a real littlefs that fills up")
    root = make_fs_dir(blocks=24)  # 12 KB
    sessionlog.ensure_dir(root + "/sessions")
    old = root + "/sessions/S000001-0001.synced"  # already on the laptop: may go
    with open(old, "wb") as f:
        f.write(bytes(10 * 512))
    b = Bench(BinSource(sim_path("run", 3, 60)), root, config=_config(interval_s=1))
    b.hw.statvfs = lambda path: (512, 512, 4096, 4096, 4096, 0, 0, 0, 0, 255)  # "2 MB free" at start
    b.at(15, lambda: setattr(b.hw, "statvfs", None))  # the truth, once the session runs
    a = b.run(90)
    assert len(a.sessions) == 1 and not a.flash_full and a.errors == 0 and not b.played(buzzer.FLASH_FULL)
    assert not _support.path_exists(old)
    recs, problem = sessionlog.read_session(_sessions(root)[0])
    assert problem is None and recs[-1]["type"] == "footer", problem
    assert sum(1 for r in recs if r["type"] == "interval") >= 60


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
    b.mpu.regs[0x6B] = 0x01  # still sampling from before the reset (not asleep)
    a = b.run(10)
    assert a.low_battery and b.slept == [3600000] and b.played(buzzer.LOW_BATTERY)
    assert b.mpu.asleep()  # the sensor sleeps through the hour too


class _SpikyADC:
    """A battery at 3.9 V whose ADC reads one spike low now and then (every 7th reading)."""

    def __init__(self):
        self.n = 0

    def read_uv(self):
        self.n += 1
        return 1500000 if self.n % 7 == 1 else 1950000  # behind a 1:2 divider


def test_one_low_battery_reading_at_boot_does_not_put_the_pod_to_sleep():
    root = make_fs_dir()
    b = Bench(BinSource(sim_path("run", 3, 60)), root, config=_config(), battery_mv=3900)
    b.hw.woke_from_deepsleep = True  # a motion wake-up: the runner is off
    b.hw.adc = _SpikyADC()
    a = b.run(30)
    assert not a.low_battery and b.slept == [] and a.battery_mv == 3900
    assert len(_sessions(root)) == 1


def test_auto_start_off_on_a_board_without_a_button_still_records_the_run():
    root = make_fs_dir()
    b = Bench(BinSource(sim_path("run", 3, 60)), root, config=_config(auto_start=False))
    assert b.hw.button is None
    a = b.run(30)
    assert len(_sessions(root)) == 1 and a.writer is not None
    assert "config: auto_start false, but no button on this board: sessions start when you run" in b.log


class _HeldButton:
    def value(self):
        return 0  # pressed (pulled up, to ground when pressed)


def test_a_session_started_by_hand_before_the_sensor_answers_records_without_a_capture():
    root = make_fs_dir()
    b = Bench(RestSource(), root, config=_config(raw_capture_s=30, auto_stop_idle_s=60))
    b.mpu.unplugged = True
    b.hw.button = _HeldButton()
    a = b.run(5)
    assert a.writer is not None and a.capture is None and a.errors == 0, b.log
    assert len(_sessions(root)) == 1


class _Later:
    """``source`` from ``seconds`` on, the foot at rest before."""

    def __init__(self, source, seconds):
        self.source = source
        self.start_us = seconds * 1000000
        self.done = False

    def sample(self, t_us, out):
        if t_us < self.start_us:
            RestSource().sample(t_us, out)
        else:
            self.source.sample(t_us - self.start_us, out)
            self.done = self.source.done


class _Button:
    pressed = False

    def value(self):
        return 0 if self.pressed else 1


def test_a_session_started_by_hand_long_after_the_last_footfall_records_the_run():
    # Sessions by hand, a short idle stop: the runner stands at the start for 20 s, holds
    # the button, then runs. The idle stop counts from the press; it used to count from
    # the last footfall (or the boot), so the session closed at once and the run was lost.
    root = make_fs_dir()
    b = Bench(_Later(BinSource(sim_path("run", 3, 60)), 25), root,
              config=_config(auto_start=False, auto_stop_idle_s=15))
    b.hw.button = button = _Button()
    b.at(20, lambda: setattr(button, "pressed", True))
    b.at(22, lambda: setattr(button, "pressed", False))
    a = b.run(60)
    assert a.writer is not None and len(_sessions(root)) == 1, b.log
    a._stop_session(2)
    recs, problem = sessionlog.read_session(_sessions(root)[0])
    steps = sum(r["steps"] for r in recs if r["type"] == "interval")
    assert problem is None and steps >= 2 * (a.engine.steps - 2), (steps, a.engine.steps)
    assert recs[-1]["duration_ms"] >= 30000, recs[-1]  # from the press to the last footfall


def test_idle_pod_deep_sleeps_with_motion_wake():
    b = Bench(RestSource(), make_fs_dir(), config=_config())
    b.hw.woke_from_deepsleep = False  # after a reset: 60 s awake for mpremote first
    a = b.run(200)
    assert b.slept == [None] and b.wake_pin == "INT"
    assert 59 <= b.elapsed_us() // 1000000 <= 62  # idle and past the 60 s service window
    assert b.mpu.cycling() and b.mpu.regs[0x38] & 0x40  # cycle mode, motion interrupt on
    assert not a.running


def test_a_pin_that_cannot_wake_the_chip_still_lets_the_idle_pod_sleep():
    b = Bench(RestSource(), make_fs_dir(), config=_config())
    b.hw.woke_from_deepsleep = False

    def not_an_rtc_gpio(pin):
        raise ValueError("invalid pin")  # esp32.wake_on_ext0 on a GPIO the RTC cannot watch

    b.hw.wake_on_motion = not_an_rtc_gpio
    a = b.run(200)
    assert b.slept == [600000] and not a.running  # wakes every 10 min to look again
    assert a.errors == 0 and "idle: no motion wake-up (invalid pin)" in b.log


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
    assert any(r["type"] == "event" and r["kind"] == "error" for r in recs)
    with open(root + "/error.log") as f:
        assert "RuntimeError: injected" in f.read()


def test_ctrl_c_from_the_laptop_closes_the_session_first():
    # mpremote interrupts main.py to sync: the run under way must be complete on flash.
    root = make_fs_dir()
    b = Bench(BinSource(sim_path("run", 3, 60)), root, config=_config())

    def interrupt():
        raise KeyboardInterrupt

    class Kbd:  # micropython.kbd_intr, recording whether Ctrl-C was on while the footer went out
        calls = []
        footer_with_ctrl_c_off = None

        @staticmethod
        def kbd_intr(c):
            Kbd.calls.append(c)

    b.at(40, interrupt)
    a = app.App(b.hw)
    stop = a._stop_session

    def stop_session(reason):
        Kbd.footer_with_ctrl_c_off = Kbd.calls == [-1]
        stop(reason)

    a._stop_session = stop_session
    real = app.micropython
    app.micropython = Kbd
    try:
        a.run(until_ms=90000)
    except KeyboardInterrupt:
        pass
    else:
        raise AssertionError("KeyboardInterrupt was swallowed")
    finally:
        app.micropython = real
    recs, problem = sessionlog.read_session(_sessions(root)[0])
    assert problem is None
    assert recs[-1]["type"] == "footer" and recs[-1]["reason"] == "shutdown", recs[-1]
    assert Kbd.footer_with_ctrl_c_off and Kbd.calls == [-1, 3]  # off for the close, then on again
    assert sum(1 for r in recs if r["type"] == "interval") >= 2


def _run_to_ctrl_c(b, at_s):
    """Run the app on ``b`` until the laptop interrupts it (mpremote's Ctrl-C) at ``at_s``."""
    def interrupt():
        raise KeyboardInterrupt

    b.at(at_s, interrupt)
    a = app.App(b.hw)
    try:
        a.run(until_ms=(at_s + 30) * 1000)
    except KeyboardInterrupt:
        return a
    raise AssertionError("KeyboardInterrupt was swallowed")


def test_a_session_synced_while_the_pod_waits_for_the_idle_stop_ends_at_its_last_footfall():
    root = make_fs_dir()
    b = Bench(BinSource(sim_path("run", 3, 60)), root, config=_config(auto_stop_idle_s=120))
    _run_to_ctrl_c(b, 88)  # plugged in 30 s after the run (~58 s)
    recs, problem = sessionlog.read_session(_sessions(root)[0])
    foot = recs[-1]
    assert problem is None and foot["reason"] == "shutdown", foot
    stepped = [r for r in recs if r["type"] == "interval" and r["steps"]]
    assert stepped[-1]["t_offset_s"] * 1000 < foot["duration_ms"] <= 60000, (foot, stepped[-1])


class FakeWDT:
    """machine.WDT as on the ESP32: creating it again only changes the timeout."""
    timeouts = []

    def __init__(self, timeout_ms):
        FakeWDT.timeouts.append(timeout_ms)

    def feed(self):
        pass


def test_ctrl_c_hands_the_laptop_a_watchdog_with_a_long_timeout():
    # The ESP32's watchdog cannot be stopped (a soft reset leaves it running, the REPL does
    # not feed it): after Ctrl-C it must allow a whole sync, not 8 s.
    b = Bench(BinSource(sim_path("run", 3, 60)), make_fs_dir(), config=_config())
    FakeWDT.timeouts = []
    b.hw.make_wdt = FakeWDT
    _run_to_ctrl_c(b, 30)
    assert FakeWDT.timeouts == [8000, 600000]


def test_raw_capture_at_session_start():
    root = make_fs_dir()
    b = Bench(BinSource(sim_path("run", 3, 60)), root, config=_config(raw_capture_s=5))
    a = b.run(40)
    assert a.capture is None and len(_sessions(root)) == 1  # done after 5 s
    with open(root + app.CAPTURE_PATH, "rb") as f:
        data = f.read()
    assert data[:4] == b"PRAW"
    period = data[8] | data[9] << 8 | data[10] << 16 | data[11] << 24
    assert period == 5000
    blocks = (len(data) - 32 - 1000 * 12) // 8  # 1000 samples = 5 s at 200 Hz
    assert 1000 * 12 + 32 < len(data) and 15 <= blocks <= 17, len(data)


def test_ramp_without_a_baseline_learns_it_from_a_first_run_without_cadence_cues():
    # ramp_percent on, baseline_spm 0: the first 5-minute run measures the runner (no clicks,
    # no low-cadence alert even at 162 spm against 180); the ramp then starts from there.
    root = make_fs_dir()
    cfg = _config(target_spm=180, ramp_percent=5, baseline_spm=0)
    run = sim_path("run", 11, 330, cadence=162)
    b = Bench(BinSource(run), root, config=cfg)
    a = b.run(360)
    assert len(_sessions(root)) == 1 and a.errors == 0
    assert b.onsets == [] and not b.played(buzzer.LOW_CADENCE)
    with open(root + "/ramp") as f:
        start, days, base = (int(x) for x in f.read().split())
    assert 158 <= base <= 166 and days == 0 and start == -1, (start, days, base)
    assert not a.learning and a.coach.cadence_cues and a.cfg["target_spm"] == base
    # Next boot: the target is the learned baseline (day 0 of the ramp), clicks and all.
    b = Bench(BinSource(sim_path("run", 3, 60)), root, config=cfg)
    a = b.run(60)
    assert not a.learning and a.cfg["target_spm"] == base
    assert len(b.onsets) > 50


def test_a_ramp_from_a_slow_runners_baseline_coaches_from_there():
    # baseline_spm may be 120 (a slow jogger); the ramp's first target is below the 140 a
    # target_spm may be set to. The coach once refused it, and the pod never ran at all.
    root = make_fs_dir()
    b = Bench(BinSource(sim_path("run", 3, 60)), root, config=_config(ramp_percent=10, baseline_spm=120))
    a = b.run(40)
    assert a.pipe is not None and a.errors == 0
    assert 120 <= a.cfg["target_spm"] <= 132 and a.coach.target_spm == a.cfg["target_spm"]
    assert a.samples > 35 * 200 and len(_sessions(root)) == 1 and len(b.onsets) > 20


def test_a_pipeline_that_cannot_be_built_is_recorded_and_built_again_later():
    root = make_fs_dir()
    b = Bench(BinSource(sim_path("run", 3, 60)), root, config=_config())
    a = app.App(b.hw)
    real = a._setup_pipeline
    calls = [0]

    def setup():
        calls[0] += 1
        if calls[0] == 1:
            raise MemoryError("no room for the engine")
        real()

    a._setup_pipeline = setup
    a.run(until_ms=40000)
    assert calls[0] == 2 and a.pipe is not None  # once more a second later, not 50 times
    assert a.errors == 1 and b.played(buzzer.SENSOR_FAULT)
    assert b.mpu.resets <= 3, b.mpu.resets
    assert a.samples > 35 * 200 and len(_sessions(root)) == 1


class _FullFile:
    def write(self, data):
        raise OSError(28)

    def flush(self):
        raise OSError(28)

    def close(self):
        pass


def test_a_capture_that_cannot_be_written_ends_but_the_session_goes_on():
    root = make_fs_dir()
    b = Bench(BinSource(sim_path("run", 3, 60)), root, config=_config(raw_capture_s=30))
    a = app.App(b.hw)
    seen = {}

    def fill():
        seen["capturing"] = a.capture is not None
        a.capture._f = _FullFile()  # the flash refuses the next block
        seen["samples"] = a.samples

    b.at(15, fill)
    b.at(30, lambda: seen.update(capture=a.capture, fed=a.samples - seen["samples"]))
    a.run(until_ms=120000)
    assert seen["capturing"] and seen["capture"] is None and seen["fed"] > 14 * 200
    assert a.errors == 0 and "capture: write failed (28)" in b.log
    recs, problem = sessionlog.read_session(_sessions(root)[0])
    assert problem is None and recs[-1]["type"] == "footer"
    assert b.slept  # the session closed and the pod went to sleep, as without the capture


def _session_with_outage(away_from_s, back_at_s, stop_at_s):
    """The records of a run (60 s intervals) whose sensor is unplugged from ``away_from_s``
    to ``back_at_s``, stopped by the button at ``stop_at_s``."""
    root = make_fs_dir()
    b = Bench(BinSource(sim_path("run", 3, 60)), root, config=_config(auto_stop_idle_s=1800, interval_s=60))
    b.at(away_from_s, lambda: setattr(b.mpu, "unplugged", True))
    b.at(back_at_s, lambda: setattr(b.mpu, "unplugged", False))
    a = b.run(stop_at_s)
    a._stop_session(2)
    recs, problem = sessionlog.read_session(_sessions(root)[0])
    assert problem is None
    return recs


def test_a_sensor_away_for_ten_minutes_is_a_gap_in_the_session():
    # 600 s is beyond what the microsecond ticks can tell apart (2**29 us): timed in ms.
    recs = _session_with_outage(20, 620, 680)
    ivs = [r for r in recs if r["type"] == "interval"]
    assert sum(r["gap_ms"] for r in ivs) >= 490000  # counted up to 500 s in the intervals
    assert any(r["flags"] & sessionlog.FLAG_GAP for r in ivs)
    gap = [r["value"] for r in recs if r["type"] == "event" and r["kind"] == "gap"]
    assert gap and 599000 <= gap[0] <= 602000, gap  # the event has all of it


def test_slow_flash_writes_at_1khz_do_not_overflow_the_fifo_over_and_over():
    # A write that takes longer than the FIFO holds (85 ms at 1 kHz) overflows it: the
    # overflow is told once an interval, or writing its event would overflow it again.
    root = make_fs_dir()
    b = Bench(BinSource(sim_path("run", 3, 60)), root, config=_config(rate_hz=1000))
    put = sessionlog.SessionWriter._put

    def slow_put(self, data):
        b.advance(90000)  # the sensor keeps sampling meanwhile
        return put(self, data)

    sessionlog.SessionWriter._put = slow_put
    try:
        a = b.run(30)
    finally:
        sessionlog.SessionWriter._put = put
    a._stop_session(2)
    assert a.samples > 0.95 * 30 * 1000 and a.engine.steps >= 35, (a.samples, a.engine.steps)
    recs, problem = sessionlog.read_session(_sessions(root)[0])
    ovf = [r for r in recs if r["type"] == "event" and r["kind"] == "fifo_overflow"]
    ivs = [r for r in recs if r["type"] == "interval"]
    assert ovf and len(ovf) <= len(ivs), (len(ovf), len(ivs))
    assert any(r["flags"] & sessionlog.FLAG_OVERFLOW for r in ivs)


def test_each_interval_tells_its_own_share_of_an_outage():
    ivs = [r for r in _session_with_outage(20, 140, 200) if r["type"] == "interval"]
    assert len(ivs) == 3  # (the partial one after the last footfall is not)
    # Away 20-140 s: the second interval is all hole (not standing still), the first and
    # third each have their part of it, and none has more hole than time. (The sensor is
    # found again up to a back-off, 1 s, after it is back: those samples are lost too.)
    assert [r["flags"] & sessionlog.FLAG_GAP != 0 for r in ivs] == [True, True, True]
    gaps = [r["gap_ms"] for r in ivs]
    assert gaps[1] == 60000 and 120000 <= sum(gaps) <= 121200, gaps
    assert all(r["gap_ms"] <= r["dur_ms"] for r in ivs), ivs


def _gap_after_outage(away_s, then):
    """Run 20 s, unplug the sensor for ``away_s``; at the first burst after it, ``then(b)``."""
    root = make_fs_dir()
    b = Bench(BinSource(sim_path("run", 3, 60)), root, config=_config(auto_stop_idle_s=1800, interval_s=60))
    a = app.App(b.hw)
    b.at(20, lambda: setattr(b.mpu, "unplugged", True))
    b.at(20 + away_s, lambda: setattr(b.mpu, "unplugged", False))
    feed = a._feed
    seen = {}

    def first_burst_after(n, t_read):
        pending = a._gap_pending
        feed(n, t_read)
        if pending and a.samples > 20 * 200 and "at" not in seen:
            seen["at"] = b.now
            then(b)

    a._feed = first_burst_after
    return root, b, a, seen


def test_an_outage_just_after_another_is_a_gap_too():
    def unplug_again(b):
        t = (b.now - b.t0) / 1e6
        b.at(t + 0.01, lambda: setattr(b.mpu, "unplugged", True))
        b.at(t + 1.01, lambda: setattr(b.mpu, "unplugged", False))

    root, b, a, seen = _gap_after_outage(5, unplug_again)
    a.run(until_ms=40000)
    a._stop_session(2)
    recs, problem = sessionlog.read_session(_sessions(root)[0])
    assert problem is None and "at" in seen
    gaps = [r["value"] for r in recs if r["type"] == "event" and r["kind"] == "gap"]
    assert len(gaps) == 2 and 5000 <= gaps[0] <= 6000 and 1000 <= gaps[1] <= 1500, gaps
    # The intervals count the samples lost: from the last one before each outage (up to
    # a read, 100 ms, before the failed read that starts the event) to the first after.
    lost = sum(r["gap_ms"] for r in recs if r["type"] == "interval")
    assert sum(gaps) <= lost <= sum(gaps) + 2 * 120, (lost, gaps)


def _stall_noticed_after_us(away_s):
    """The sensor wakes asleep (a power glitch) right after an outage: how soon is it seen?"""
    root, b, a, seen = _gap_after_outage(away_s, lambda b: b.mpu.power_on())
    failed = a._io_failed

    def io_failed(now_ms, e):
        if "at" in seen:
            seen.setdefault("noticed", b.now)
        failed(now_ms, e)

    a._io_failed = io_failed
    a.run(until_ms=(20 + away_s + 10) * 1000)
    return seen["noticed"] - seen["at"] if "noticed" in seen else None


def test_a_sensor_that_stops_sampling_just_after_an_outage_is_noticed_at_once():
    for away_s in (5, 300):  # (300 s: beyond what the us ticks can tell apart)
        us = _stall_noticed_after_us(away_s)
        assert us is not None and us < 1500000, (away_s, us)


def test_a_footer_that_cannot_be_written_is_signalled():
    root = make_fs_dir()
    b = Bench(BinSource(sim_path("run", 3, 60)), root, config=_config())
    a = b.run(30)
    assert a.writer is not None
    a.writer.close = lambda footer=None: False  # the flash refused it, even after make_room
    a._stop_session(2)
    a.loop(2000)  # the pattern plays
    assert a.writer is None and a.flash_full and b.played(buzzer.FLASH_FULL)
    assert not b.played(buzzer.SESSION_STOP)


def test_a_short_first_run_is_not_a_baseline():
    root = make_fs_dir()
    b = Bench(BinSource(sim_path("run", 3, 60)), root, config=_config(ramp_percent=5, baseline_spm=0))
    a = b.run(100)
    assert len(_sessions(root)) == 1 and a.learning and b.onsets == []
    try:
        os.stat(root + "/ramp")
        raise AssertionError("a 1-minute run became the baseline")
    except OSError:
        pass
