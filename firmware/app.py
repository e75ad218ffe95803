"""The pod application: boot, the main loop, sessions, faults and power, hardware injected.

main.py (the only module that imports ``machine``) fills a ``Hardware`` with the board's
objects and runs the app; tests and the hour benchmark fill it with fakes::

    hw = Hardware()
    hw.i2c = I2C(0, scl=Pin(22), sda=Pin(21), freq=400000)
    hw.make_i2c = lambda: I2C(...)            # a fresh bus after a stuck-bus recovery
    hw.bus_pins = lambda: (Pin(22), Pin(21))  # SCL, SDA as GPIOs for mpu6050.recover_bus
    hw.pwm = PWM(Pin(25), freq=2700, duty_u16=0)
    ...                                       # every field is described in Hardware
    App(hw).run()                             # returns only in tests (deep sleep resets)

What the loop does, in order, every pass (``step``):

1. feed the watchdog, ``buzzer.service(now)`` (a click due now sounds now);
2. every ``read_ms`` (100 ms at 200 Hz; a quarter of the FIFO) read the MPU6050's FIFO
   burst into one preallocated buffer, decode each sample into a preallocated array and
   feed ``Pipeline.update``; drain its events into the summary, the alerts' patterns and
   the session's event queue. A read due while a click is about to sound waits for it
   (the FIFO holds 425 ms, so waiting costs nothing);
3. drive the buzzer's metronome from the coach (see "Clicks" below);
4. slow work only when the next buzzer deadline is at least ``_SLACK_US`` away: session
   start and stop, INTERVAL/EVENT records (one flash write each), the battery check;
5. sleep until the next deadline: light sleep when it is long and nothing sounds.

Clicks. The coach (the one source of truth for *whether* and *when* to click) keeps its
metronome on the sample clock, which reaches the app in bursts up to ``read_ms`` late. The
app therefore plays the coach's schedule ahead of time with the buzzer's drift-free
``Metronome`` on system ticks: when the coach starts clicking (or changes target) the
app starts ``_Clicks`` at the coach's next onset mapped to system ticks (``offset`` =
system ticks - sample clock, tracked from the FIFO reads) and with the coach's exact
period; from then on the grid runs free on the ESP32's crystal, so an hour has no drift.
The coach's fade thinning is applied as a beat mask (every 2nd/4th/8th beat). When the
coach stops clicking, the metronome stops. The app reads the coach's
schedule through ``Coach.schedule()``.

Sessions. A session starts when the engine reports running (``auto_start``; walking does not
start one, a runner's warm-up walk is not a run) and stops after ``auto_stop_idle_s``
without a footfall, counted from its start at the earliest (a start by hand may come long
after the last one; walk breaks keep it open); a session stopped so ends at its last
footfall: the wait is not part of the run (the intervals that passed during it are already
written, empty, past the footer's duration; the last, partial one is not). Records: a HEADER
at the start, an INTERVAL every ``interval_s`` (boundaries on the system clock from the
session start, no drift), EVENTs for alerts and faults, a FOOTER at the end. Flash full:
``ensure_space`` deletes old synced sessions; if there is still no room, or a write fails,
recording stops for this boot and FLASH_FULL plays. ``raw_capture_s > 0`` also captures that
many seconds of raw FIFO bytes at the start of each session into ``CAPTURE_PATH``
(podtools.rawconv), replacing the previous capture.

Faults. An ``OSError`` from the bus never leaves the loop: reads are retried with
exponential back-off (10 ms .. 1 s); from the third failure the bus is recovered (nine SCL
clocks, STOP) and rebuilt and the sensor re-initialised; the session gets an ``i2c_error``
event, and a ``gap`` (and ``sensor_lost``/``sensor_back`` when the sensor stopped answering)
once data flows again; SENSOR_FAULT plays once per episode, the LED (lit from power-on
until the sensor first answers) lights again until it is back, and after 3 s without
samples the metronome stops: the coach cannot tell whether the runner still runs. Any
other exception is caught at the top of the loop, printed, appended to ``ERROR_LOG``
(capped), recorded as event code ``EV_ERROR`` and signalled; the loop goes on. The
watchdog (created late, see ``_SERVICE_MS``) is the last resort.

Power. The CPU runs at ``cpu_hz`` (80 MHz: the pipeline needs a few % of it at 200 Hz).
Between reads the loop light-sleeps when the next deadline is at least 20 ms away, no
tone sounds and no click waits in the RMT (LEDC and RMT stop in light sleep). With no
session and no footfall for ``_DEEP_IDLE_MS`` the IMU is put into its motion-interrupt
cycle mode and the ESP32 into deep sleep with the IMU's INT pin as the wake-up (a reset:
main.py runs again). For the first ``_SERVICE_MS`` after a power-on or reset (not a
deep-sleep wake) the pod neither sleeps nor starts the watchdog, so ``mpremote`` can
always interrupt it after a reset. When the laptop interrupts the loop later, the watchdog
(which an ESP32 cannot stop) gets ``_WDT_REPL_MS`` before the REPL takes over.
Low battery (``low_battery_mv`` at the cell, three checks in a row): the session is closed
(reason low_battery), LOW_BATTERY plays and the pod deep-sleeps for an hour without a
motion wake-up; still low at that wake-up, it sleeps again without a sound.
"""

import os
from array import array

import buzzer
import coach as _coach
import gait
import mpu6050
import sessionlog
import summary
from compat import const, micropython, ticks_add, ticks_diff, ticks_ms, ticks_us

FIRMWARE_VERSION = "0.4.0"
# Where things live on the pod's flash (under Hardware.root); podtools.device reads these.
CONFIG_PATH = "/config.json"
SESSION_DIR = "/sessions"
BOARD_PATH = "/board.py"  # main.py imports it as ``board``; pod flash copies board_configs/NAME.py
CAPTURE_PATH = "/capture.raw"  # the latest raw capture (raw_capture_s), replaced by the next
ERROR_LOG = "/error.log"

EV_ERROR = const(11)  # session EVENT code "error" (sessionlog.EVENT_KINDS[10]): an unexpected exception
EV_LOST = const(12)  # "events_lost": how many events found the queue full

_CPU_HZ = const(80000000)
# A record append fits before the next deadline: littlefs copies the file's last block on
# every append, so one costs a 4 KB sector erase (~45 ms typical on the ESP32's SPI flash)
# and a few KB programmed. A worst-case erase (~400 ms) can still make a PWM click late
# (it is then skipped, not played late); RMT clicks are hardware-timed.
_SLACK_US = const(120000)
_READ_GUARD_US = const(20000)  # no FIFO read this close before a buzzer deadline
_LIGHT_MIN_US = const(20000)  # light sleep only for >= 20 ms (a 15 ms click is never cut)
_SERVICE_MS = const(60000)  # after a reset: no sleeping, no watchdog (mpremote can get in)
_DEEP_IDLE_MS = const(60000)  # no session and no footfall this long: deep sleep
_DEAD_SENSOR_MS = const(600000)  # sensor silent this long (no session): sleep, retry later
_WDT_MS = const(8000)  # watchdog timeout (longest legitimate stall: a light sleep <= 1 s)
_WDT_REPL_MS = const(600000)  # ... once the laptop has the REPL (see _hand_over_watchdog)
_BATT_EVERY_MS = const(10000)
_BATT_LOW_N = const(3)  # consecutive low readings (the buzzer's current dips the cell)
_LOW_BATT_SLEEP_MS = const(3600000)  # deep sleep an hour, then look at the battery again
_LEARN_RUN_MS = const(300000)  # running time that makes a learning session a baseline (5 min)
_LEARN_MIN_STEPS = const(300)  # and running footfalls with a cadence
_SESSION_RESERVE = const(32768)  # bytes free to start a session (~1.5 h of records)
_BACKOFF_MIN_MS = const(10)
_BACKOFF_MAX_MS = const(1000)
_RECOVER_AFTER = const(3)  # failed reads before the bus is recovered and the sensor re-inited
_FAULT_SIGNAL_AFTER = const(3)
_STALL_MS = const(500)  # no sample for 0.5 s while the sensor answers: it stopped sampling
# (timed in ms: after an outage of minutes the us ticks no longer tell how long ago)
_ENODATA = const(61)
_SILENT_MS = const(3000)  # no samples this long (the sensor faulted): the metronome stops,
# as the coach stops it 3 s after the last footfall (coach._STALE_MS), until samples return
_LONG_GAP_MS = const(250000)  # a hole this long is timed in ms (us ticks differ up to 2**29)
_GAP_CAP_MS = const(500000)  # and counted as at most this (intervals; the event has it all)
EVENT_QUEUE = const(8)  # session events waiting for a quiet moment to be written
_ERRLOG_MAX = const(4096)
_BUTTON_LONG_MS = const(1500)  # a long press starts or stops a session by hand
_BEEP_GAP_MS = const(60000)  # at most one error beep a minute
_MOTION_MG = const(160)  # deep-sleep wake-up: 0.16 g of high-passed motion ...
_MOTION_MS = const(5)  # ... for 5 ms (a step, not a truck passing)


def _sleep_ms_default(ms):
    import time

    time.sleep_ms(ms)


def _sleep_us_default(us):
    import time

    time.sleep_us(us)


class Hardware:
    """Everything the app touches, injected. None means "this board has none".

    i2c             I2C bus with readfrom_mem_into / writeto_mem (the MPU6050's)
    make_i2c        () -> a new I2C on the same pins (after recover_bus); None: keep i2c
    bus_pins        () -> (scl, sda) Pin objects for mpu6050.recover_bus; None: no recovery
    imu_addr        MPU6050 address (0x68, 0x69 with AD0 high)
    imu_int         Pin on the MPU6050's INT (the deep-sleep wake-up source)
    pwm             PWM on the piezo (freq / duty_u16)
    rmt             esp32.RMT with the click's carrier (hardware-timed clicks), or None;
    make_rmt        (carrier_hz) -> that RMT, built once the config's buzzer_hz is known
    button          Pin, active low (a long press starts/stops a session), or None
    led             Pin, or None; led_active_low for boards that sink it
    adc             ADC on the battery divider (read_uv), or None; battery_divider: V_bat / V_adc (int or float)
    rtc             RTC (datetime()), or None
    make_wdt        (timeout_ms) -> an object with feed(); None: no watchdog
    ticks_us/ticks_ms   clocks on the 2**30 wrap (compat's by default)
    sleep_ms/sleep_us   busy-or-idle waits; lightsleep(ms) / deepsleep(ms or None) /
    wake_on_motion(pin) / set_freq(hz): machine's, or None when not available
    root            file-system prefix: "" on the pod (files at /config.json, /sessions)
    statvfs         os.statvfs stand-in (tests simulate a full flash), or None
    unique_id       bytes (machine.unique_id()); rand16 () -> 16 random bits
    woke_from_deepsleep   machine.reset_cause() == DEEPSLEEP_RESET
    board_name      for the console
    log             print-like, for one-line messages on the console
    """

    def __init__(self):
        self.i2c = None
        self.make_i2c = None
        self.bus_pins = None
        self.imu_addr = 0x68
        self.imu_int = None
        self.pwm = None
        self.rmt = None
        self.make_rmt = None
        self.button = None
        self.led = None
        self.led_active_low = False
        self.adc = None
        self.battery_divider = 1
        self.rtc = None
        self.make_wdt = None
        self.ticks_us = ticks_us
        self.ticks_ms = ticks_ms
        self.sleep_ms = _sleep_ms_default
        self.sleep_us = _sleep_us_default
        self.lightsleep = None
        self.deepsleep = None
        self.wake_on_motion = None
        self.set_freq = None
        self.cpu_hz = _CPU_HZ
        self.root = ""
        self.statvfs = None
        self.unique_id = b""
        self.rand16 = None
        self.woke_from_deepsleep = False
        self.board_name = "?"
        self.log = print


class _Clicks(buzzer.Metronome):
    """The buzzer's drift-free metronome on system ticks, thinned by a beat mask."""

    def __init__(self):
        super().__init__()
        self.beat = 0
        self.mask = 0

    def advance(self):
        buzzer.Metronome.advance(self)
        self.beat += 1
        self.skip_masked()

    def skip_masked(self):
        while self.beat & self.mask:
            buzzer.Metronome.advance(self)
            self.beat += 1


def _load_config(path):
    """podconfig.load, then podconfig leaves RAM again: the schema, validation and the
    writer are only needed at boot (about 11 KB of code the loop never uses)."""
    import sys

    import podconfig

    try:
        return podconfig.load(path)
    finally:
        sys.modules.pop("podconfig", None)
        del podconfig


def _unix_seconds(dt):
    """RTC datetime tuple (year, month, day, weekday, h, m, s, us) -> Unix seconds (UTC)."""
    y, mo, d = dt[0], dt[1], dt[2]
    y -= mo <= 2
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (mo + (-3 if mo > 2 else 9)) + 2) // 5 + d - 1
    days = era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468  # 1970-01-01
    return ((days * 24 + dt[4]) * 60 + dt[5]) * 60 + dt[6]


class App:
    """The pod; see the module docstring."""

    def __init__(self, hw):
        self.hw = hw
        self._us = hw.ticks_us
        self._ms = hw.ticks_ms
        self.root = hw.root
        self.sessions_dir = hw.root + SESSION_DIR
        self.config_path = hw.root + CONFIG_PATH
        self.running = False
        self.imu = None
        self.pipe = None
        self.buz = None
        self.wdt = None
        self.writer = None
        self.capture = None
        self.cfg = None
        self.config_problem = None
        # Outcomes, for the console, tests and the virtual pod's trace.
        self.sessions = []  # paths of the sessions written this boot
        self.errors = 0
        self.i2c_errors = 0
        self.recoveries = 0
        self.deep_slept = None  # the ms passed to deepsleep (None = forever), once asleep
        self.lightsleeps = 0
        self.flash_full = False
        self.learning = False  # ramp on, no baseline yet: this run measures the runner's own
        self._run_cad_sum = 0  # this session's running footfalls' cadence (x10), while learning
        self._run_cad_n = 0
        self._run_ms = 0
        self.low_battery = False
        self.battery_mv = 0
        self.samples = 0

    # ================================================================== boot
    def boot(self):
        aeb = getattr(micropython, "alloc_emergency_exception_buf", None)
        if aeb is not None:  # the ESP32 has it; the unix port (tests, virtual pod) does not
            aeb(100)
        hw = self.hw
        self._boot_ms = self._ms()
        self._service = not hw.woke_from_deepsleep  # awake window after a reset
        self._led(True)
        if hw.set_freq is not None:
            try:
                hw.set_freq(hw.cpu_hz)
            except (ValueError, OSError):
                pass
        cfg, problem = _load_config(self.config_path)
        self.config_problem = problem
        cfg = dict(cfg)
        cfg["target_spm"] = self._ramped_target(cfg)
        if not cfg["auto_start"] and hw.button is None:
            # Sessions start by hand only, on a board without a button: none ever would.
            cfg["auto_start"] = True
            hw.log("config: auto_start false, but no button on this board: sessions start when you run")
        self.cfg = cfg
        vol = cfg["buzzer_volume"]
        rmt = hw.rmt
        if rmt is None and hw.make_rmt is not None:
            try:
                rmt = hw.make_rmt(cfg["buzzer_hz"])
            except (OSError, ValueError, TypeError) as e:  # the clicks fall back to PWM timing
                hw.log("buzzer: no RMT (%s)" % (e,))
        self.buz = buzzer.Buzzer(hw.pwm, rmt=rmt, duty=32768 * vol // 100,
                                 click=((cfg["buzzer_hz"], 15, 0),))
        self.met = _Clicks()
        self.buz.metronome = self.met
        self._met_spm = 0
        self._met_beat = 0
        if problem:
            hw.log("config: %s; using defaults" % problem)
            self.buz.play(buzzer.CONFIG_FALLBACK)
        self.interval_ms = cfg["interval_s"] * 1000
        self.idle_stop_ms = cfg["auto_stop_idle_s"] * 1000
        self.rate_hz = cfg["rate_hz"]
        # Buffers for the whole run: one FIFO burst (85 samples = the whole FIFO) and one sample.
        self._buf = bytearray(mpu6050.MAX_FIFO_SAMPLES * mpu6050.SAMPLE_BYTES)
        self._s = array("h", (0, 0, 0, 0, 0, 0))
        # Summaries: the interval under way and the one waiting to be written.
        self.cur = summary.Summary()
        self.pending = summary.Summary()
        self._pending_t = -1  # t_offset_s of the pending interval; -1 = none
        self._pending_dur = 0
        # Session events waiting for a quiet moment (kind code, t_offset_ms, value).
        self._evk = bytearray(EVENT_QUEUE)
        self._evt = [0] * EVENT_QUEUE
        self._evv = [0] * EVENT_QUEUE
        self._evn = 0
        self._ev_lost = 0
        self._ovf_told = False  # this interval's FIFO overflow has its event already
        now_ms = self._ms()
        self._last_ff_ms = now_ms
        self._want_start = False
        self._want_stop = 0  # END_REASONS code
        self._no_record = False
        self._next_batt_ms = now_ms
        self._batt_low_n = 0
        self._batt_uv = [0, 0, 0, 0, 0]
        self._btn_since = None
        self._last_beep_ms = ticks_add(now_ms, -_BEEP_GAP_MS)
        # IMU state: None until it answers.
        self._fails = 0
        self._retry_ms = now_ms
        self._backoff = _BACKOFF_MIN_MS
        self._fault_since_ms = 0
        self._lost = False
        self._reinit = False
        self._gap_pending = False
        self._gap_flags = 0
        self._gap_told_ms = 0  # of the hole under way, ms the intervals closed since have told
        self._check_battery(now_ms)
        if self.low_battery:
            return
        self._try_imu(now_ms)
        self.running = True

    def _ramped_target(self, cfg):
        """Target after the gradual ramp (coach.ramped_target); days counted from the first
        boot with the ramp on and the clock set, the last known count else.

        The baseline is ``baseline_spm``, or with 0 the runner's own cadence, learned from
        the first session with ``_LEARN_RUN_MS`` of running: that run has no cadence cues
        (``learning``; no clicks, no low-cadence alert) so it measures the runner as they are.
        ``/ramp`` keeps "start_day days learned_baseline"."""
        self.learning = False
        if not cfg["ramp_percent"]:
            return cfg["target_spm"]
        start, last, learned = self._read_ramp()
        base = cfg["baseline_spm"] or learned
        if not base:
            self.learning = True
            return cfg["target_spm"]
        epoch = self._epoch()
        days = last if last > 0 else 0
        if epoch is not None:
            today = epoch // 86400
            first = start
            if start < 0:
                start = today
            days = today - start
            if start != first or days != last:
                self._write_ramp(start, days, learned)
        ramp = dict(cfg)
        ramp["baseline_spm"] = base
        return _coach.ramped_target(ramp, days)

    def _read_ramp(self):
        try:
            with open(self.root + "/ramp") as f:
                parts = f.read().split()
            return int(parts[0]), int(parts[1]), int(parts[2]) if len(parts) > 2 else 0
        except (OSError, ValueError, IndexError):
            return -1, -1, 0

    def _write_ramp(self, start, days, learned):
        """Replaced by a rename: a power cut leaves the old file or the new one."""
        path = self.root + "/ramp"
        try:
            with open(path + ".tmp", "w") as f:
                f.write("%d %d %d" % (start, days, learned))
            os.rename(path + ".tmp", path)
        except OSError:
            pass

    def _learn_baseline(self):
        """At the end of the learning session: its mean running cadence becomes the baseline
        and the ramp starts from it now (too short a run: the next one tries again)."""
        if self._run_ms < _LEARN_RUN_MS or self._run_cad_n < _LEARN_MIN_STEPS:
            return
        spm = (self._run_cad_sum // self._run_cad_n + 5) // 10
        spm = 120 if spm < 120 else 210 if spm > 210 else spm
        self._write_ramp(-1, 0, spm)
        self.hw.log("baseline cadence learned: %d spm" % spm)
        self.cfg["target_spm"] = self._ramped_target(self.cfg)
        if self.pipe is not None:
            self.coach.cadence_cues = True
            self.coach.set_target(self.cfg["target_spm"], self.engine.now)

    def _epoch(self):
        """Unix seconds from the RTC if it has been set since power-up, else None.

        The ESP32's RTC starts at 2000-01-01 at power-up and keeps counting through deep
        sleep and resets; a year before 2024 means nobody set it (``mpremote rtc --set``,
        ``pod sync``) since the battery was connected.
        """
        rtc = self.hw.rtc
        if rtc is None:
            return None
        try:
            dt = rtc.datetime()
        except (OSError, ValueError):
            return None
        if dt[0] < 2024:
            return None
        return _unix_seconds(dt)

    # ================================================================== IMU
    def _try_imu(self, now_ms):
        """(Re)build the driver; on failure schedule a retry with back-off."""
        hw = self.hw
        try:
            if self.imu is None:
                self.imu = mpu6050.MPU6050(hw.i2c, hw.imu_addr, self.rate_hz, sleep_ms=hw.sleep_ms)
                if self.imu.warning:
                    hw.log("imu: " + self.imu.warning)
            else:
                self.imu.i2c = hw.i2c
                self.imu.init()
        except OSError as e:
            self._io_failed(now_ms, e)
            return False
        if self.pipe is None:
            try:
                self._setup_pipeline()
            except Exception as e:  # noqa: BLE001 - a bug or no memory: recorded, signalled,
                self.pipe = None  # and tried again in a while, not at every pass of the loop
                self._retry_ms = ticks_add(now_ms, _BACKOFF_MAX_MS)
                self._unexpected(e)
                return False
        self._io_ok(now_ms)
        return True

    def _setup_pipeline(self):
        from pipeline import Pipeline

        imu = self.imu
        self.period_us = imu.period_us
        cap_ms = imu.fifo_bytes // mpu6050.SAMPLE_BYTES * imu.period_us // 1000
        self.read_ms = cap_ms // 4 if cap_ms // 4 < 100 else 100
        now = self._us()
        self.pipe = Pipeline(self.cfg, now, imu.period_us)
        self.coach = self.pipe.coach
        self.coach.cadence_cues = not self.learning
        self.engine = self.pipe.engine
        self.offset = 0  # system ticks - sample clock (us)
        self._offset_ok = False
        self._last_sys = now  # estimated system time of the last sample fed
        self._last_ms = self._ms()  # and ticks_ms at its burst (for holes beyond the us ticks)
        self._next_read = ticks_add(now, self.read_ms * 1000)

    def _io_failed(self, now_ms, e):
        hw = self.hw
        code = e.args[0] if e.args and isinstance(e.args[0], int) else -1
        self._fails += 1
        self.i2c_errors += 1
        if self._fails == 1:
            self._fault_since_ms = now_ms
            self._queue_event(sessionlog.EVENT_KINDS.index("i2c_error") + 1, code)
            hw.log("imu: bus error %s" % (e,))
        if code in (19, _ENODATA) or (self.imu is None and self._fails == 1):  # nobody answers, or
            # the sensor answers but no longer samples
            if not self._lost:
                self._lost = True
                self._queue_event(sessionlog.EVENT_KINDS.index("sensor_lost") + 1, code)
        self._gap_flags |= sessionlog.FLAG_I2C
        if self._fails == _FAULT_SIGNAL_AFTER:
            self.buz.play(buzzer.SENSOR_FAULT)
            self._led(True)
        if self._fails >= _RECOVER_AFTER:
            self._recover_bus()
        self._retry_ms = ticks_add(now_ms, self._backoff)
        self._backoff = self._backoff * 2 if self._backoff < _BACKOFF_MAX_MS else _BACKOFF_MAX_MS
        if self._fails >= _RECOVER_AFTER:
            self._reinit = True

    def _io_ok(self, now_ms):
        if self._fails:
            gap_ms = ticks_diff(now_ms, self._fault_since_ms)
            if self._lost:
                self._queue_event(sessionlog.EVENT_KINDS.index("sensor_back") + 1, gap_ms)
            self._queue_event(sessionlog.EVENT_KINDS.index("gap") + 1, gap_ms)
        self._led(False)  # lit from power-on until the sensor answers, and while it is away
        self._fails = 0
        self._lost = False
        self._reinit = False
        self._backoff = _BACKOFF_MIN_MS

    def _recover_bus(self):
        hw = self.hw
        if hw.bus_pins is None:
            return
        try:
            scl, sda = hw.bus_pins()
            mpu6050.recover_bus(scl, sda, delay_us=hw.sleep_us)
            if hw.make_i2c is not None:
                hw.i2c = hw.make_i2c()
            self.recoveries += 1
        except OSError:
            pass

    # ================================================================== the loop
    def run(self, until_ms=None):
        """Boot, then loop until deep sleep (never returns on the pod) or ``until_ms``
        of ``ticks_ms`` have passed (tests)."""
        self.boot()
        if self.low_battery:
            self._sleep_low_battery()
            return
        self.loop(until_ms)

    def loop(self, until_ms=None):
        """The main loop of ``run``, after ``boot``; with ``until_ms`` it may be called again
        to go on (tests that hand control back between slices of time)."""
        start = self._ms()
        try:
            while self.running:
                try:
                    self.step()
                except Exception as e:  # noqa: BLE001 - the loop must go on, whatever happened
                    self._unexpected(e)
                if until_ms is not None and ticks_diff(self._ms(), start) >= until_ms:
                    break
        except KeyboardInterrupt:
            # The laptop connected (mpremote interrupts main.py): close the run properly so
            # the session it is about to sync is complete, then hand over the REPL. Tools send
            # Ctrl-C more than once: it is off meanwhile, so a second one cannot cut the close.
            kbd_intr = getattr(micropython, "kbd_intr", None)
            if kbd_intr is not None:
                kbd_intr(-1)
            try:
                self._stop_session(6)  # "shutdown"
            finally:
                self._hand_over_watchdog()
                if kbd_intr is not None:
                    kbd_intr(3)
            raise

    def _hand_over_watchdog(self):
        """The laptop takes the REPL, but an ESP32's watchdog cannot be stopped, not even by
        the soft reset mpremote makes, and nothing feeds it at the REPL. Creating it again
        changes its timeout (esp_task_wdt_reconfigure): ``_WDT_REPL_MS`` is ample for a
        sync, and a pod left at the REPL resets into its loop again."""
        if self.wdt is None:
            return
        try:
            self.wdt = self.hw.make_wdt(_WDT_REPL_MS)
            self.wdt.feed()
        except (OSError, ValueError):
            pass

    def step(self):
        """One pass of the main loop (see the module docstring)."""
        now = self._us()
        if self.wdt is not None:
            self.wdt.feed()
        buz = self.buz
        buz.service(now)
        now_ms = self._ms()
        if self.pipe is None or self._fails:
            if ticks_diff(now_ms, self._retry_ms) >= 0:
                if self.pipe is None or self._reinit:
                    if self._try_imu(now_ms) and self.pipe is not None:
                        self._after_gap()
                else:
                    self._read(now)
        elif ticks_diff(now, self._next_read) >= 0:
            dl = buz.next_deadline(now)
            late = ticks_diff(now, self._next_read) > self.read_ms * 1000
            if dl is None or ticks_diff(dl, now) > _READ_GUARD_US or late:
                self._read(now)
        if self.pipe is not None:
            self._sync_metronome(self._us())
        now = self._us()
        buz.service(now)
        dl = buz.next_deadline(now)
        if dl is None or ticks_diff(dl, now) >= _SLACK_US:
            self._slow_work(now_ms)
        self._idle()

    # ------------------------------------------------------------------ samples
    def _after_gap(self):
        """The sensor is back after a fault: the next burst starts a new run of samples."""
        self._gap_pending = True
        self._next_read = ticks_add(self._us(), self.read_ms * 1000)

    def _read(self, now):
        imu = self.imu
        try:
            n = imu.read_fifo(self._buf)
        except OSError as e:
            self._io_failed(self._ms(), e)
            self._gap_pending = True
            return
        t_read = self._us()
        if not n and not imu.gap and ticks_diff(self._ms(), self._last_ms) > _STALL_MS:
            # The sensor answers but its FIFO stays empty: it lost power (after a glitch
            # it wakes asleep, FIFO off). A fault like a silent bus: retried, re-initialised.
            self._io_failed(self._ms(), OSError(_ENODATA, "no samples"))
            self._gap_pending = True
            return
        if self._fails:
            self._io_ok(self._ms())
        if imu.take_gap():
            self._gap_pending = True
            self._gap_flags |= sessionlog.FLAG_OVERFLOW
            if not self._ovf_told:
                # One event an interval (its flag and gap_ms tell the rest): writing each
                # could take long enough, at 1 kHz, to overflow the FIFO again.
                self._ovf_told = True
                self._queue_event(sessionlog.EVENT_KINDS.index("fifo_overflow") + 1, -1)
        self._next_read = ticks_add(self._next_read, self.read_ms * 1000)
        if ticks_diff(t_read, self._next_read) > 0:  # fell behind: restart the schedule
            self._next_read = ticks_add(t_read, self.read_ms * 1000)
        if n:
            self._feed(n, t_read)

    @micropython.native
    def _feed(self, n, t_read):
        """Run the burst's n samples through the pipeline and account for their time."""
        p = self.period_us
        first = ticks_add(t_read, -((n - 1) * p + p // 2))  # estimated time of sample 0
        dt0 = p
        gap_us = 0  # samples lost before this burst
        here_us = 0  # ... in this interval (the intervals closed meanwhile told the rest)
        if self._gap_pending:
            self._gap_pending = False
            d = ticks_diff(first, self._last_sys)
            lost_ms = ticks_diff(self._ms(), self._last_ms)
            if lost_ms > _LONG_GAP_MS:  # the sensor was away for minutes
                d = (lost_ms if lost_ms < _GAP_CAP_MS else _GAP_CAP_MS) * 1000
            if d > p:
                dt0 = d
                gap_us = d - p
                here_us = gap_us - self._gap_told_ms * 1000  # less what closed intervals told
                if here_us < 0:
                    here_us = 0
                self.cur.gap(here_us, self._gap_flags | sessionlog.FLAG_GAP)
                self._gap_flags = 0
            self._gap_told_ms = 0
        if self.capture is not None:
            self._capture(n, t_read, gap_us > 0)
        buf = self._buf
        s = self._s
        dec = mpu6050.decode
        pipe = self.pipe  # pipe.update(...), never a stored bound method: with seven
        for i in range(n):  # arguments, calling one would allocate on every sample
            dec(buf, i, s)
            if pipe.update(s[0], s[1], s[2], s[3], s[4], s[5], dt0 if i == 0 else p):
                self._drain()
        self.samples += n
        self._last_sys = ticks_add(first, (n - 1) * p)  # (first is after any gap already)
        self._last_ms = self._ms()
        # offset: the newest sample was taken on average half a period before the read.
        est = ticks_diff(ticks_add(t_read, -(p // 2)), self.engine.now)
        d = est - self.offset
        if not self._offset_ok or d > 1000000 or d < -1000000:  # first, or after a long gap
            self.offset = est
            self._offset_ok = True
        else:
            self.offset += d >> 3  # smooths the +-p/2 read jitter
        c = self.coach
        in_target = c.cadence_x10 >= c.target_x10 - c.tolerance_x10
        self.cur.time(n * p + here_us, self.engine.activity == gait.RUN, c.running and in_target)

    @micropython.native
    def _drain(self):
        pipe = self.pipe
        eng = self.engine
        cur = self.cur
        while True:
            ev = pipe.pop()
            if not ev:
                return
            if ev == gait.EV_IC:
                cur.footfall(eng.cadence_x10)
                self._last_ff_ms = self._ms()
                if self.learning and eng.activity == gait.RUN and eng.cadence_x10:
                    self._run_cad_sum += eng.cadence_x10
                    self._run_cad_n += 1
            elif ev == gait.EV_STEP:
                # a walker's heel strike is not an overstride (the coach cues only running)
                over = eng.activity == gait.RUN and self.coach.is_overstride(eng.strike, eng.strike_cdeg)
                cur.stance(eng.strike, eng.strike_cdeg, eng.contact_ms, over)
            elif ev == gait.EV_ACTIVITY:
                if eng.activity == gait.RUN and self.writer is None and self.cfg["auto_start"]:
                    self._want_start = True
            elif ev == _coach.EV_ALERT:
                self._alert()

    def _alert(self):
        c = self.coach
        kind = c.alert_kind
        self.cur.alert(kind)
        if kind == _coach.ALERT_LOW_CADENCE:
            self.buz.play(buzzer.LOW_CADENCE)
            self._queue_event(1, c.cadence_x10)  # "low_cadence"
        elif kind == _coach.ALERT_OVERSTRIDE:
            self.buz.play(buzzer.OVERSTRIDE)
            self._queue_event(2, self.engine.strike_cdeg // 10)  # "overstride", deg x10

    def _capture(self, n, t_read, gap):
        cap = self.capture
        try:
            if not cap.add(self._buf, n, t_read, gap):
                self.capture = None
        except OSError as e:  # the capture ends here; the session goes on
            self.capture = None
            self.hw.log("capture: write failed (%s)" % (e,))
            cap.close()  # closes the file even when the last block cannot be written

    # ------------------------------------------------------------------ clicks
    @micropython.native
    def _sync_metronome(self, now):
        c = self.coach
        on = c.schedule()
        m = self.met
        if on and self._fails and ticks_diff(self._ms(), self._last_ms) >= _SILENT_MS:
            on = False  # the coach is frozen without samples: the runner may have stopped
        if not on:
            if m.running:
                m.stop()
            return
        if not m.running or c.target_spm != self._met_spm or c.beat < self._met_beat:
            # (re)start on the coach's next onset; beat going back = the coach re-phased
            self._met_spm = c.target_spm
            m.set_spm(self._met_spm)
            m.beat = c.beat
            m.mask = c.mask
            m.start(ticks_add(c.next_onset, self.offset))
            m.skip_masked()
            while ticks_diff(m.next_onset, now) < 0:  # onsets already gone are not played late
                m.advance()
        elif c.mask != m.mask:
            m.mask = c.mask
            m.skip_masked()
        self._met_beat = c.beat

    # ------------------------------------------------------------------ slow work
    def _slow_work(self, now_ms):
        """Session bookkeeping and flash writes, at most one write per call."""
        if self._want_stop:
            self._stop_session(self._want_stop)
            return
        if self._want_start:
            self._want_start = False
            if self.writer is None and not self._no_record:
                self._start_session(now_ms)
            return
        if self.writer is not None:
            if self._pending_t >= 0:
                self._write_pending()
                return
            if self._evn:
                self._write_event()
                return
            if ticks_diff(now_ms, self._next_iv_ms) >= 0:
                self._close_interval(self.interval_ms)
                return
            if ticks_diff(now_ms, self._last_ff_ms) >= self.idle_stop_ms:
                self._want_stop = 5 if self._fails else 1  # "sensor_fault" or "idle"
                return
        elif self._evn:
            self._evn = 0  # no session: fault events are only for the console
        if ticks_diff(now_ms, self._next_batt_ms) >= 0:
            self._check_battery(now_ms)
            return
        if self.hw.button is not None:
            self._check_button(now_ms)
        if self.wdt is None and self.hw.make_wdt is not None and not self._in_service(now_ms):
            self.wdt = self.hw.make_wdt(_WDT_MS)
        if (self.writer is None and self.pipe is not None and not self._fails and not self.buz.busy
                and ticks_diff(now_ms, self._last_ff_ms) >= _DEEP_IDLE_MS and not self._in_service(now_ms)):
            self._deep_sleep()
        elif (self.writer is None and self._fails and not self._in_service(now_ms)
              and ticks_diff(now_ms, self._fault_since_ms) >= _DEAD_SENSOR_MS):
            self.hw.log("imu: no sensor for 10 min: deep sleep")
            self.running = False
            self._enter_deep_sleep(_DEAD_SENSOR_MS, False)  # look again later

    def _in_service(self, now_ms):
        if self._service and ticks_diff(now_ms, self._boot_ms) >= _SERVICE_MS:
            self._service = False
        return self._service

    def _queue_event(self, code, value):
        if self.writer is None:
            return
        if self._evn >= EVENT_QUEUE:
            self._ev_lost += 1  # counted in an "events_lost" event once the queue has room
            return
        i = self._evn
        self._evk[i] = code
        self._evt[i] = ticks_diff(self._ms(), self._start_ms)
        self._evv[i] = value
        self._evn = i + 1

    def _write_event(self):
        w = self.writer
        ok = w.event(self._evt[0], self._evk[0], self._evv[0])
        n = self._evn - 1
        for i in range(n):
            self._evk[i] = self._evk[i + 1]
            self._evt[i] = self._evt[i + 1]
            self._evv[i] = self._evv[i + 1]
        self._evn = n
        if self._ev_lost:
            lost = self._ev_lost
            self._ev_lost = 0
            self._queue_event(EV_LOST, lost)
        if not ok:
            self._write_failed()

    def _start_session(self, now_ms):
        hw = self.hw
        d = self.sessions_dir
        need = _SESSION_RESERVE
        raw_s = self.cfg["raw_capture_s"] if self.pipe is not None else 0  # no sensor yet: no rate
        raw_bytes = raw_s * 1000000 // self.period_us * 12 * 105 // 100 if raw_s else 0  # +5 % block heads
        try:
            sessionlog.ensure_dir(d)
            ok = sessionlog.ensure_space(d, need + raw_bytes, statvfs=hw.statvfs)
            if not ok and raw_bytes:
                raw_bytes = 0  # no room for the capture: record the session without it
                ok = sessionlog.ensure_space(d, need, statvfs=hw.statvfs)
            if not ok:
                self._flash_full()
                return
            rand = hw.rand16() if hw.rand16 is not None else self._us() & 0xFFFF
            sid = sessionlog.new_session_id(d, rand)
            epoch = self._epoch()
            self._begin_intervals(now_ms)  # before the writer exists: a Ctrl-C can stop it
            self.writer = sessionlog.SessionWriter(d, sid, {
                "firmware": FIRMWARE_VERSION, "config": self.cfg, "start_epoch": epoch,
                "start_ticks_ms": now_ms, "interval_ms": self.interval_ms})
        except OSError as e:
            hw.log("session: %s" % (e,))
            self.writer = None
            self._flash_full()
            return
        if self.writer.failed:
            self.writer = None
            self._flash_full()
            return
        self.writer.make_room = lambda: sessionlog.ensure_space(d, _SESSION_RESERVE, statvfs=hw.statvfs)
        self.sessions.append(self.writer.path)
        hw.log("session %s started" % sid)
        if self.config_problem:
            self._queue_event(sessionlog.EVENT_KINDS.index("config_fallback") + 1, 0)
        self.buz.play(buzzer.SESSION_START)
        if raw_bytes:
            from rawcapture import RawCapture

            try:
                self.capture = RawCapture(self.root + CAPTURE_PATH, self.period_us, raw_s,
                                          start_epoch=epoch, clock=self._us)
            except OSError:
                self.capture = None

    def _begin_intervals(self, now_ms):
        """A new session's clock and accumulators, from ``now_ms``."""
        self._start_ms = now_ms
        # A session started by hand may come long after the last footfall: the idle stop
        # counts from its start, or it would close at once (and end where it began).
        self._last_ff_ms = now_ms
        self._iv_index = 0
        self._iv_start_ms = now_ms
        self._next_iv_ms = ticks_add(now_ms, self.interval_ms)
        self.cur.reset()
        self._run_cad_sum = self._run_cad_n = self._run_ms = 0
        self._pending_t = -1
        self._evn = 0
        self._ev_lost = 0
        self._ovf_told = False

    def _close_interval(self, dur_ms):
        """Hand the interval under way to ``pending`` (written at the next quiet moment)."""
        if self._gap_pending:
            # The sensor is away: this interval's share of the hole is told now (flagged,
            # not read as standing still), the rest when the samples come back (_feed).
            since = self._last_ms if ticks_diff(self._last_ms, self._iv_start_ms) > 0 else self._iv_start_ms
            share = ticks_diff(ticks_add(self._iv_start_ms, dur_ms), since)
            if share > 0:
                self.cur.gap(share * 1000, self._gap_flags | sessionlog.FLAG_GAP)
                told = self._gap_told_ms + share
                self._gap_told_ms = told if told < _GAP_CAP_MS else _GAP_CAP_MS
        self._run_ms += self.cur.run_us // 1000
        self.pending.copy_from(self.cur)
        self.cur.reset()
        self._pending_t = self._iv_index * self.interval_ms // 1000
        self._pending_dur = dur_ms
        self._iv_index += 1
        self._ovf_told = False
        self._iv_start_ms = self._next_iv_ms
        self._next_iv_ms = ticks_add(self._next_iv_ms, self.interval_ms)

    def _write_pending(self):
        rec = self.pending.record(self._pending_t, self._pending_dur)
        self._pending_t = -1
        if not self.writer.interval(rec):
            self._write_failed()

    def _stop_session(self, reason):
        self._want_stop = 0
        w = self.writer
        if w is None:
            return
        now_ms = self._ms()
        # The session ends at its last footfall, whatever closed it: the wait for the idle
        # stop, or before the laptop connected or the button was held, is not the run's.
        end_ms = self._last_ff_ms
        if ticks_diff(end_ms, self._start_ms) < 0:
            end_ms = self._start_ms
        while self._evn and not w.closed:
            self._write_event()
        if self._pending_t >= 0 and not w.closed:
            self._write_pending()
        if w.closed:  # a write failed on the way (it signalled)
            self.writer = None
            return
        part = ticks_diff(now_ms, self._iv_start_ms)
        if part > 0 and ticks_diff(end_ms, self._iv_start_ms) > 0:
            self._close_interval(part)
            self._write_pending()
        if self.capture is not None:
            self.capture.close()
            self.capture = None
        if self.writer is not None:
            if self.writer.close({"reason": reason, "duration_ms": ticks_diff(end_ms, self._start_ms)}):
                self.hw.log("session closed (%s)" % sessionlog.END_REASONS[reason - 1])
                self.buz.play(buzzer.SESSION_STOP)
            else:  # no footer: the records written are kept (pod sync reads them as cut off)
                self._write_failed()
        self.writer = None
        if self.learning:
            self._learn_baseline()

    def _write_failed(self):
        """A record did not reach the flash (full, or an I/O error): stop recording."""
        if self.writer is not None:
            self.writer.abandon()
        self.writer = None
        if self.capture is not None:
            self.capture.close()
            self.capture = None
        self._flash_full()

    def _flash_full(self):
        self.flash_full = True
        self._no_record = True
        self.hw.log("flash full: not recording")
        self.buz.play(buzzer.FLASH_FULL)

    # ------------------------------------------------------------------ battery, button
    def _check_battery(self, now_ms):
        self._next_batt_ms = ticks_add(now_ms, _BATT_EVERY_MS)
        hw = self.hw
        if hw.adc is None:
            return
        # The median of five: the ESP32's ADC can read a spike low, and one reading at boot
        # decides alone (the pod may just have woken for a run).
        r = self._batt_uv
        try:
            for i in range(5):
                r[i] = hw.adc.read_uv()
        except (OSError, ValueError):
            return
        r.sort()
        mv = int(r[2] * hw.battery_divider) // 1000  # the divider may be a float
        self.battery_mv = mv
        if mv >= self.cfg["low_battery_mv"]:
            self._batt_low_n = 0
            return
        self._batt_low_n += 1
        if self._batt_low_n < _BATT_LOW_N and self.running:
            self._next_batt_ms = ticks_add(now_ms, 1000)  # look again soon
            return
        self.low_battery = True
        if self.running:
            self.cur.gap(0, sessionlog.FLAG_LOW_BATTERY)
            self._queue_event(sessionlog.EVENT_KINDS.index("low_battery") + 1, mv)
            self._stop_session(3)  # "low_battery"
            self._sleep_low_battery()

    def _sleep_low_battery(self):
        hw = self.hw
        hw.log("battery low (%d mV): sleeping" % self.battery_mv)
        if not hw.woke_from_deepsleep or self.running:
            self.buz.play(buzzer.LOW_BATTERY)
            self._drain_buzzer()
        try:
            if self.imu is not None:
                self.imu.sleep()
            elif hw.i2c is not None:  # low at boot: the sensor was never set up, but it
                mpu6050.sleep_sensor(hw.i2c, hw.imu_addr)  # may still sample from before
        except OSError:
            pass
        self.running = False
        self._enter_deep_sleep(_LOW_BATT_SLEEP_MS, False)

    def _check_button(self, now_ms):
        pressed = self.hw.button.value() == 0
        if not pressed:
            self._btn_since = None
            return
        if self._btn_since is None:
            self._btn_since = now_ms
        elif ticks_diff(now_ms, self._btn_since) >= _BUTTON_LONG_MS:
            self._btn_since = ticks_add(now_ms, 0x10000000)  # once per press
            if self.writer is not None:
                self._want_stop = 2  # "button"
            else:
                self._no_record = self.flash_full
                self._want_start = True

    # ------------------------------------------------------------------ sleeping
    def _idle(self):
        """Wait for the next thing to do: a buzzer deadline, the next FIFO read, or 1 s."""
        hw = self.hw
        now = self._us()
        if self.pipe is not None and not self._fails:
            wait = ticks_diff(self._next_read, now)
        else:
            wait = ticks_diff(self._retry_ms, self._ms()) * 1000
        dl = self.buz.next_deadline(now)
        if dl is not None:
            d = ticks_diff(dl, now)
            if wait <= 0 < d <= _READ_GUARD_US:
                wait = d  # the read waits for the click: sleep until then, do not spin
            elif d < wait:
                wait = d
        if self.writer is not None and (self._pending_t >= 0 or self._evn or self._want_stop):
            wait = wait if wait < 5000 else 5000  # records are waiting for a quiet moment
        if self._want_start:
            wait = 0
        if wait <= 0:
            return
        if wait > 1000000:
            wait = 1000000
        if (wait >= _LIGHT_MIN_US and hw.lightsleep is not None and not self.buz.sounding
                and (dl is None or ticks_diff(dl, now) >= _LIGHT_MIN_US) and not self._in_service(self._ms())):
            self.lightsleeps += 1
            hw.lightsleep(wait // 1000 - 1)  # wake 1 ms early; the rest below, precisely
            left = ticks_diff(ticks_add(now, wait), self._us())
            if left > 0:
                hw.sleep_us(left)
            return
        hw.sleep_us(wait)

    def _drain_buzzer(self):
        """Play the queued patterns to the end (before deep sleep), feeding the watchdog."""
        self.met.stop()
        self.buz.drain(self._us, self.hw.sleep_us, None if self.wdt is None else self.wdt.feed)

    def _deep_sleep(self):
        """Standby until the foot moves: the MPU6050's motion interrupt wakes the ESP32."""
        hw = self.hw
        self._drain_buzzer()
        wake = False
        try:
            self.imu.motion_interrupt(_MOTION_MG, _MOTION_MS)
            self.imu.standby()
            wake = hw.wake_on_motion is not None and hw.imu_int is not None
            if wake:
                hw.wake_on_motion(hw.imu_int)
        except (OSError, ValueError) as e:  # ValueError: IMU_INT_PIN cannot wake the chip
            hw.log("idle: no motion wake-up (%s)" % (e,))
            wake = False
        self.running = False
        hw.log("idle: deep sleep%s" % ("" if wake else " (no motion wake-up)"))
        # Without a motion wake-up, wake every 10 minutes to look again.
        self._enter_deep_sleep(None if wake else 600000, wake)

    def _enter_deep_sleep(self, ms, wake):
        self._led(False)
        if self.buz is not None:
            self.buz.stop()
        self.deep_slept = ms
        if self.hw.deepsleep is not None:
            if ms is None:  # until the motion wake-up: machine.deepsleep(None) is a TypeError
                self.hw.deepsleep()
            else:
                self.hw.deepsleep(ms)

    # ------------------------------------------------------------------ errors, led
    def _unexpected(self, e):
        """Any exception the loop did not expect: print, log, record, signal; go on."""
        self.errors += 1
        hw = self.hw
        try:  # even the message may fail (no memory left): nothing here may escape the loop
            hw.log("error: %s: %s" % (type(e).__name__, e))
            import sys

            if hasattr(sys, "print_exception"):
                sys.print_exception(e)
            path = self.root + ERROR_LOG
            try:
                size = os.stat(path)[6]
            except OSError:
                size = 0
            if size < _ERRLOG_MAX:
                with open(path, "a") as f:
                    f.write("%d %s: %s\n" % (self._ms(), type(e).__name__, e))
        except Exception:  # noqa: BLE001 - the flash itself may be the problem
            pass
        try:
            self._queue_event(EV_ERROR, self.errors)
            now_ms = self._ms()
            if ticks_diff(now_ms, self._last_beep_ms) >= _BEEP_GAP_MS and self.buz is not None:
                self._last_beep_ms = now_ms
                self.buz.play(buzzer.SENSOR_FAULT)
        except Exception:  # noqa: BLE001
            pass
        if self.errors & 7 == 0:  # a burst of errors: do not spin
            hw.sleep_ms(100)

    def _led(self, on):
        led = self.hw.led
        if led is not None:
            led.value(1 if bool(on) != bool(self.hw.led_active_low) else 0)
