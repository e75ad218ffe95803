"""The virtual pod's shared hardware state, for the MicroPython side (unix port only).

The stand-ins ``machine``, ``esp32`` and ``time`` in this directory are thin faces over the
objects here: one virtual clock, the trace file, the flash block device, the battery, the
I2C fault schedule and the reset machinery. ``supervisor.py`` calls ``configure(cfg)``
once per process (one process = one power-on or hard reset of the pod).

Time: ``CLOCK.now()`` is virtual microseconds since this boot. With a finite ``speed`` the
clock runs with real time but every sleep is compressed by ``speed`` (computation counts
1:1, so ``speed=1`` is real time). With ``speed=None`` ("max") nothing real counts: time
only moves when the firmware sleeps, waits for the I2C bus, or reads the clock (1 us per
read, so polling loops still progress); runs are then deterministic and as fast as the
interpreter. "World" time (``world()``) keeps running across resets; the IMU recording
and the trace are on world time.
"""

import gc
import json
import os
import sys

import utime  # the unix port's own time module: `time` is shadowed by our time.py

_TICKS_PERIOD = 0x40000000  # 2**30, the ESP32's ticks period
_EPOCH_2000_FROM_1970 = 946684800  # seconds from 1970-01-01 to 2000-01-01

# machine.reset_cause() values, as on the ESP32 port.
PWRON_RESET = 1
HARD_RESET = 2
WDT_RESET = 3
DEEPSLEEP_RESET = 4
SOFT_RESET = 5

# Process exit status the launcher reads: restart with this cause (cause number + 100).
EXIT_RESTART = 100

CFG = {}
BOOT = {"cause": PWRON_RESET, "wake": 0, "n": 0}


class Reset(BaseException):
    """Raised to leave all firmware code: a hard reset, deep sleep, watchdog or power cut.

    A BaseException (not Exception) so firmware ``except Exception`` blocks let it pass.
    """

    def __init__(self, cause, kind, sleep_us=0):
        super().__init__(kind)
        self.cause = cause
        self.kind = kind
        self.sleep_us = sleep_us


class SoftReboot(BaseException):
    """machine.soft_reset() and SystemExit: back to the supervisor for a soft reboot."""


class Clock:
    """Virtual microseconds since this boot; see the module docstring."""

    def __init__(self):
        self.speed = 1.0
        self.skip = 0  # virtual us added by compressed sleeps (finite speed)
        self.det = 0  # the whole clock in "max" mode
        self.real0 = utime.ticks_us()
        self.timers = []  # machine.Timer objects with a callback pending
        self.wdt = None  # the armed machine.WDT, if any
        self.busy = False  # a timer callback is running: do not re-enter
        self.next_heap = 10000000  # next heap statistics trace, virtual us

    def setup(self, speed):
        self.speed = speed
        self.skip = 0
        self.det = 0
        self.real0 = utime.ticks_us()

    def now(self):
        if self.speed is None:
            self.det += 1  # a clock read costs 1 us, so busy-wait loops terminate
            return self.det
        return utime.ticks_diff(utime.ticks_us(), self.real0) + self.skip

    def advance(self, us):
        """Time spent by hardware (an I2C transfer): only counted in "max" mode."""
        if self.speed is None:
            self.det += us

    def _pass(self, us):
        if us <= 0:
            return
        if self.speed is None:
            self.det += us
            return
        real = int(us / self.speed)
        if real > 0:
            utime.sleep_us(real)
        self.skip += us - real

    def sleep_us(self, us):
        """Sleep ``us`` virtual microseconds, running due timer callbacks on the way."""
        end = self.now() + us
        while True:
            self.service()
            now = self.now()
            step = end - now
            if step <= 0:
                return
            nxt = self.next_due()
            if nxt is not None and nxt - now < step:
                step = max(nxt - now, 0)
            self._pass(step)
            if step == 0 and nxt is not None:
                self.service()

    def next_due(self):
        best = None
        for t in self.timers:
            if best is None or t._due < best:
                best = t._due
        return best

    def service(self):
        """Run due timer callbacks, check the watchdog, trace the heap now and then."""
        if self.busy:
            return
        self.busy = True
        try:
            now = self.now()
            if self.timers:
                for t in list(self.timers):
                    if t._due <= now:
                        t._fire(now)
            if self.wdt is not None and now - self.wdt._fed > self.wdt._timeout_us:
                trace("wdt", timeout_ms=self.wdt._timeout_us // 1000)
                raise Reset(WDT_RESET, "wdt")
            brownout = CFG.get("brownout_at_us")
            if brownout is not None and _world0[0] + now >= brownout:
                CFG["brownout_at_us"] = None
                trace("brownout")
                raise Reset(PWRON_RESET, "brownout")
            if now >= self.next_heap:
                self.next_heap = now + 10000000
                trace("heap", free=gc.mem_free(), alloc=gc.mem_alloc())
        finally:
            self.busy = False

    def soft_reset(self):
        """Timers stop; the watchdog does not: an ESP32's cannot be stopped once started."""
        for t in list(self.timers):
            t.deinit()
        self.timers = []

    def wdt_left_us(self):
        """Virtual us before the armed watchdog fires (None: none armed)."""
        if self.wdt is None:
            return None
        return self.wdt._timeout_us - (self.now() - self.wdt._fed)

    def idle_real_us(self, us):
        """The REPL waited ``us`` of real time for the serial line: that is pod time too
        (in "max" mode nothing else would move the clock); then the watchdog may fire."""
        if self.speed is None:
            self.det += us
        self.service()


CLOCK = Clock()
_world0 = [0]  # world us at this boot
_trace_file = [None]


def world():
    """World microseconds: since the launcher started, continuous over resets."""
    return _world0[0] + CLOCK.now()


def trace(ev, **fields):
    """Append one JSON line to the trace: ``{"ev", "w" (world us), "boot", ...}``."""
    f = _trace_file[0]
    if f is None:
        return
    fields["ev"] = ev
    if "w" not in fields:
        fields["w"] = _world0[0] + (CLOCK.det if CLOCK.speed is None else CLOCK.now())
    fields["boot"] = BOOT["n"]
    f.write(json.dumps(fields))
    f.write("\n")


# ---- the real-time clock (calendar), on the ESP32's 2000 epoch ----

_rtc = {"base_us": 0, "set": False, "mem": b""}  # calendar us at this boot's t=0


def _days_from_civil(y, m, d):
    # Days since 2000-01-01 of a proleptic Gregorian date (the classic era-based method).
    y -= m <= 2
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 730425  # 730425 = days from 0000-03-01 to 2000-01-01


def mktime2000(y, mo, d, h, mi, s):
    return ((_days_from_civil(y, mo, d) * 24 + h) * 60 + mi) * 60 + s


def gmtime2000(secs):
    """(year, month, mday, hour, minute, second, weekday, yearday), weekday 0 = Monday."""
    days, rem = divmod(int(secs), 86400)
    z = days + 730425
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    y = yoe + era * 400
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + (3 if mp < 10 else -9)
    y += m <= 2
    wd = (days + 5) % 7  # 2000-01-01 was a Saturday (5)
    yd = days - _days_from_civil(y, 1, 1) + 1
    return (y, m, d, rem // 3600, rem // 60 % 60, rem % 60, wd, yd)


def rtc_us():
    return _rtc["base_us"] + CLOCK.now()


def rtc_set_us(us):
    _rtc["base_us"] = us - CLOCK.now()
    _rtc["set"] = True
    trace("rtc_set", rtc_s=us // 1000000)


# ---- the battery: a LiPo discharge curve behind the board's divider ----

# (state of charge %, cell mV): a typical 1S LiPo curve at light load.
_LIPO = ((100, 4200), (90, 4060), (80, 3980), (70, 3920), (60, 3870), (50, 3820), (40, 3790),
         (30, 3770), (20, 3740), (10, 3680), (5, 3450), (0, 3000))


def battery_mv():
    """Cell voltage now: start charge minus the charge drawn, awake at ``ma`` and in deep
    sleep at ``sleep_ma`` (the launcher adds up the deep sleeps in ``slept_us``)."""
    b = CFG.get("battery", {})
    slept = CFG.get("slept_us", 0)
    mah = ((world() - slept) * b.get("ma", 40) + slept * b.get("sleep_ma", 0.23)) / 3600e6
    soc = b.get("soc", 90) - mah / b.get("mah", 500) * 100
    if soc >= 100:
        return 4200
    for i in range(1, len(_LIPO)):
        s1, v1 = _LIPO[i]
        if soc >= s1:
            s0, v0 = _LIPO[i - 1]
            return int(v1 + (v0 - v1) * (soc - s1) / (s0 - s1))
    return 3000


# ---- the flash: littlefs2 over the image file, with power-cut injection ----


class Flash:
    """A file-backed block device (the extended interface littlefs uses).

    ``cut_after``: the N-th block write or erase of this boot is the last one: it lands
    only partly (a random prefix) and the process dies on the spot, as at a power cut.
    """

    def __init__(self, path, block_size, cut_after=None):
        self.f = open(path, "r+b")
        self.f.seek(0, 2)
        self.bs = block_size
        self.n = self.f.tell() // block_size
        self.writes = 0
        self.cut_after = cut_after

    def readblocks(self, block, buf, off=0):
        self.f.seek(block * self.bs + off)
        self.f.readinto(buf)

    def _count(self):
        self.writes += 1
        return self.cut_after is not None and self.writes >= self.cut_after

    def writeblocks(self, block, buf, off=None):
        if off is None:  # the simple interface: whole blocks, erase included
            off = 0
        self.f.seek(block * self.bs + off)
        if self._count():
            self.f.write(memoryview(buf)[: _rand(len(buf) + 1)])
            power_cut("write", block)
        self.f.write(buf)

    def ioctl(self, op, arg):
        if op == 4:  # block count
            return self.n
        if op == 5:  # block size
            return self.bs
        if op == 6:  # erase one block: NOR flash erases to 0xFF
            self.f.seek(arg * self.bs)
            if self._count():
                self.f.write(b"\xff" * _rand(self.bs + 1))
                power_cut("erase", arg)
            self.f.write(b"\xff" * self.bs)
            return 0
        return 0  # init, deinit, sync: nothing to do for a file


def _rand(n):
    # A fresh random number in [0, n) that needs no seeding (os.urandom is the OS's).
    b = os.urandom(4)
    return (b[0] | b[1] << 8 | b[2] << 16 | b[3] << 24) % n


def power_cut(kind, block):
    """Stop dead: no finally block, no flush, nothing else reaches the flash."""
    trace("power_cut", at=kind, block=block, writes=FLASH[0].writes)
    sys.stdout.flush() if hasattr(sys.stdout, "flush") else None
    os.system("kill -9 $PPID")  # the shell's parent is this process
    raise Reset(PWRON_RESET, "power_cut")  # not reached


FLASH = [None]


def configure(cfg):
    """Set up this boot from the launcher's JSON config (see podtools.vpod.pod)."""
    CFG.clear()
    CFG.update(cfg)
    _trace_file[0] = open(cfg["trace"], "a")
    BOOT["n"] = cfg.get("boot", 0)
    BOOT["cause"] = cfg.get("cause", PWRON_RESET)
    BOOT["wake"] = cfg.get("wake", 0)
    _world0[0] = cfg.get("world_us", 0)
    speed = cfg.get("speed", 1.0)
    CLOCK.setup(None if speed == "max" else float(speed))
    rtc = cfg.get("rtc")  # from the boot before; else a clock set earlier and kept since
    if not rtc and cfg.get("clock_unix_us") is not None:
        rtc = {"us": cfg["clock_unix_us"] - _EPOCH_2000_FROM_1970 * 1000000, "set": True}
    if rtc:
        _rtc["base_us"] = rtc["us"]
        _rtc["set"] = rtc.get("set", False)
        _rtc["mem"] = bytes.fromhex(rtc.get("mem", "")) if hasattr(bytes, "fromhex") else b""
    FLASH[0] = Flash(cfg["flash"], cfg.get("block_size", 4096), cfg.get("cut_after"))


def restart(cause, kind, sleep_us=0):
    """Leave the process so the launcher boots the pod again with ``cause``."""
    rtc = {"us": rtc_us() + sleep_us, "set": _rtc["set"], "mem": _hex(_rtc["mem"])}
    trace("reset", cause=cause, kind=kind, sleep_us=sleep_us, rtc=rtc,
          world_next=world() + sleep_us, wake=CFG.get("_wake", 0))
    sys.exit(EXIT_RESTART + cause)


def _hex(b):
    return "".join("%02x" % x for x in b)
