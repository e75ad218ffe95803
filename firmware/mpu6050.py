"""MPU6050 driver for the pod: FIFO bursts of accel+gyro, decoded without allocation.

The bus is injected (a ``machine.I2C`` on the pod, ``FakeI2C`` in tests and on the virtual
pod); this module never imports ``machine``. Typical use in the main loop::

    imu = MPU6050(i2c, addr=0x68, rate_hz=200)    # probe, reset, configure, FIFO on
    buf = bytearray(40 * SAMPLE_BYTES)            # one buffer for the whole run
    raw = array.array("h", (0,) * 6)
    while True:
        try:
            n = imu.read_fifo(buf)                 # whole samples only, no allocation
        except OSError:
            ...                                    # back off, retry, maybe imu.init()
        if imu.take_gap():
            ...                                    # FIFO overflowed: samples were lost
        for i in range(n):
            decode(buf, i, raw)                    # ax, ay, az, gx, gy, gz (int16)

Scales are fixed for running: accelerometer +-16 g (``ACCEL_LSB_PER_G`` = 2048 counts per g,
foot strikes reach well over 8 g) and gyroscope +-2000 deg/s (16.4 counts per deg/s, given
as ``GYRO_LSB_PER_DPS_X10`` = 164 to stay in integers).

Sample rate: with the digital low-pass filter on (DLPF_CFG 1..6) the gyro output rate is
1 kHz, so ``SMPLRT_DIV = 1000 / rate_hz - 1`` (rounded to the nearest divider). The actual
rate is ``1000 // (div + 1)`` Hz, exactly ``period_us`` microseconds per sample; both are
attributes, use ``period_us`` for timestamps.

DLPF choice (``dlpf=None``): the widest filter whose bandwidth stays below the Nyquist
frequency of the rate the divider gives, so the filter is the anti-alias filter::

    rate >= 400 Hz -> DLPF_CFG 1 (accel 184 Hz, gyro 188 Hz)
    rate >= 200 Hz -> DLPF_CFG 2 (accel  94 Hz, gyro  98 Hz)
    rate >= 100 Hz -> DLPF_CFG 3 (accel  44 Hz, gyro  42 Hz)
    lower          -> DLPF_CFG 4 (accel  21 Hz, gyro  20 Hz)

DLPF_CFG 0 and 7 are refused: they switch the gyro to 8 kHz and break the divider above.

FIFO: accel (6 bytes) then gyro (6 bytes) per sample, big-endian, in register order, so a
sample is ``ax ay az gx gy gz`` as int16. The FIFO holds 1024 bytes (85 whole samples, 425 ms
at 200 Hz). When it overflows the MPU6050 drops its oldest bytes, and as 1024 is not a
multiple of 12 the sample boundaries are lost: ``read_fifo`` therefore treats an overflow
(INT_STATUS FIFO_OFLOW, or a full count) by resetting the FIFO, counting it in
``overflows``, returning 0 and setting ``gap`` so the caller records a gap in the session.

Error policy (as in Peter Hinch's drivers): problems at initialisation raise ``OSError``
with a short message (no device, wrong chip, reset timeout). At run time, bus errors
(``OSError`` ETIMEDOUT, EIO, ENODEV) propagate unchanged from ``read_fifo`` so the main loop
can retry with back-off; after the bus works again call ``init()`` (the sensor may have been
power-cycled by a loose connector) and record a gap. If SDA is stuck low, release it with
``recover_bus`` and rebuild the I2C object.

Compatible chips: WHO_AM_I 0x68 is the MPU6050 (and MPU6000). Known relatives and clones
that answer at the same address with the same registers for everything used here are
accepted and described in ``warning`` (a string, otherwise None); nothing is printed.
Caveat for the MPU6500 family: their FIFO is 512 bytes by default, so only the FIFO_OFLOW
flag (not the full count) detects their overflows.

Standby: ``motion_interrupt()`` then ``standby()`` puts the chip into accelerometer-only
cycle mode (gyros off, about 20 uA at 5 Hz wake-ups, datasheet) with the INT pin latched
high on motion, the ESP32's deep-sleep wake-up source. ``sleep()`` is full sleep (about
5 uA) with no wake-up.
"""

import time

from compat import const, micropython

# Register addresses (MPU-6000/6050 Register Map rev 4.2; MOT_DUR and MOT_DETECT_CTRL from
# the older rev 3 documents, still implemented by the silicon).
_SMPLRT_DIV = const(0x19)
_CONFIG = const(0x1A)
_GYRO_CONFIG = const(0x1B)
_ACCEL_CONFIG = const(0x1C)
_MOT_THR = const(0x1F)  # WOM_THR on the MPU6500 family (4 mg per count there)
_MOT_DUR = const(0x20)
_LP_ACCEL_ODR = const(0x1E)  # MPU6500 family: wake-up rate in cycle mode
_ACCEL_CONFIG2 = const(0x1D)  # MPU6500 family: the accelerometer's own low-pass filter
_FIFO_EN = const(0x23)
_INT_PIN_CFG = const(0x37)
_INT_ENABLE = const(0x38)
_INT_STATUS = const(0x3A)
_ACCEL_XOUT_H = const(0x3B)
_SIGNAL_PATH_RESET = const(0x68)
_MOT_DETECT_CTRL = const(0x69)  # ACCEL_INTEL_CTRL on the MPU6500 family
_USER_CTRL = const(0x6A)
_PWR_MGMT_1 = const(0x6B)
_PWR_MGMT_2 = const(0x6C)
_FIFO_COUNTH = const(0x72)
_FIFO_R_W = const(0x74)
_WHO_AM_I = const(0x75)

# Bits and values.
_DEVICE_RESET = const(0x80)  # PWR_MGMT_1 bit 7, self-clearing
_SLEEP = const(0x40)  # PWR_MGMT_1 bit 6
_CYCLE = const(0x20)  # PWR_MGMT_1 bit 5
_TEMP_DIS = const(0x08)  # PWR_MGMT_1 bit 3
_CLK_PLL_XGYRO = const(0x01)  # CLKSEL 1: PLL on the X gyro, more stable than the 8 MHz RC
_STBY_GYRO = const(0x07)  # PWR_MGMT_2 STBY_XG|STBY_YG|STBY_ZG
_FS_2000DPS = const(0x18)  # GYRO_CONFIG FS_SEL = 3
_AFS_16G = const(0x18)  # ACCEL_CONFIG AFS_SEL = 3
_ACCEL_HPF_5HZ = const(0x01)  # ACCEL_CONFIG ACCEL_HPF = 1: 5 Hz high-pass for motion detect
_FIFO_ACCEL_GYRO = const(0x78)  # FIFO_EN XG|YG|ZG|ACCEL (bit 7 TEMP left off)
_USER_FIFO_EN = const(0x40)  # USER_CTRL bit 6
_USER_FIFO_RESET = const(0x04)  # USER_CTRL bit 2, self-clearing
_INT_MOT = const(0x40)  # INT_ENABLE MOT_EN / INT_STATUS MOT_INT
_INT_FIFO_OFLOW = const(0x10)  # INT_ENABLE FIFO_OFLOW_EN / INT_STATUS FIFO_OFLOW_INT
_LATCH_INT_EN = const(0x20)  # INT_PIN_CFG: INT held until INT_STATUS is read
_INT_ACTIVE_LOW = const(0x80)  # INT_PIN_CFG INT_LEVEL
_MOT_DETECT_DEFAULT = const(0x15)  # accel on-delay +1 ms, FF and MOT decrement 1

_WHO_MPU6050 = const(0x68)
_FIFO_SIZE = const(1024)  # bytes in the MPU6050's FIFO
_GYRO_RATE_HZ = const(1000)  # gyro output rate with the DLPF on
_RESET_WAIT_MS = const(100)  # DEVICE_RESET takes up to 100 ms (register map, PWR_MGMT_1)
_RESET_POLLS = const(10)

SAMPLE_BYTES = const(12)  # accel xyz + gyro xyz, 2 bytes each
MAX_FIFO_SAMPLES = const(85)  # 1024 // 12 whole samples fit in the FIFO
ACCEL_LSB_PER_G = const(2048)  # at +-16 g
GYRO_LSB_PER_DPS_X10 = const(164)  # 16.4 counts per deg/s at +-2000 deg/s, times 10

# Chips seen answering at 0x68/0x69 with an MPU6050-compatible register set for what this
# driver uses. Reported in GitHub issues of MPU6050/MPU9250 libraries (0x98: "MPU6050A"
# clones, 0x72/0x74/0x75: unbranded MPU65xx/92xx variants).
COMPATIBLE_IDS = {
    0x70: "MPU6500",
    0x71: "MPU9250",
    0x72: "MPU6050/MPU6500 clone",
    0x73: "MPU9255",
    0x74: "MPU6515 or MPU9250 clone",
    0x75: "MPU9250 variant without magnetometer",
    0x98: "MPU6050 clone (MPU6050A)",
}

# The MPU6500 family among them: the same sampling and FIFO registers, but a 512-byte FIFO,
# a separate accelerometer filter, and wake-on-motion set up through other registers.
MPU6500_FAMILY = (0x70, 0x71, 0x72, 0x73, 0x74, 0x75)

# Low-power wake-up rates in cycle mode: PWR_MGMT_2 LP_WAKE_CTRL values (bits 7:6); on the
# MPU6500 family LP_ACCEL_ODR values (0.98, 3.91, 15.63, 31.25 Hz).
_LP_WAKE = {1: 0, 5: 1, 20: 2, 40: 3}
_LP_ODR_6500 = {1: 2, 5: 4, 20: 6, 40: 7}
_WOM_EN_6500 = const(0xC0)  # ACCEL_INTEL_CTRL: ACCEL_INTEL_EN | ACCEL_INTEL_MODE (compare)
_FCHOICE_B_6500 = const(0x08)  # ACCEL_CONFIG2: bypass the accel DLPF (as wake-on-motion wants)


def _default_sleep_ms(ms):
    sleep_ms = getattr(time, "sleep_ms", None)
    if sleep_ms is not None:
        sleep_ms(ms)
    else:  # CPython (host replay): init path only, a float is fine here
        time.sleep(ms / 1000)


def dlpf_for_rate(rate_hz):
    """The DLPF_CFG whose bandwidth is the widest below rate_hz / 2 (see module docstring)."""
    if rate_hz >= 400:
        return 1
    if rate_hz >= 200:
        return 2
    if rate_hz >= 100:
        return 3
    return 4


@micropython.native  # runs for every sample: ~1.5x faster than bytecode (unix port)
def decode(buf, i, out):
    """Sample ``i`` of ``buf`` (12 big-endian bytes) into ``out[0:6]``: ax ay az gx gy gz.

    ``out`` is a preallocated ``array('h', ...)`` or ``array('i', ...)`` (or list); nothing
    is allocated, so it may run under ``micropython.heap_lock()``.
    """
    o = i * SAMPLE_BYTES
    for k in range(6):
        v = (buf[o] << 8) | buf[o + 1]
        out[k] = v - ((v & 0x8000) << 1)  # two's complement: subtract 65536 when bit 15 set
        o += 2


class MPU6050:
    """One MPU6050 on an injected I2C bus, sampling into its FIFO at ``rate_hz``."""

    decode = staticmethod(decode)

    def __init__(self, i2c, addr=0x68, rate_hz=200, dlpf=None, sleep_ms=None):
        if rate_hz < 4 or rate_hz > 1000:  # SMPLRT_DIV is 8 bits: 1000 / 256 ~ 4 Hz
            raise ValueError("rate_hz must be 4..1000, got %d" % rate_hz)
        self._div = (_GYRO_RATE_HZ + rate_hz // 2) // rate_hz - 1  # nearest divider
        self.period_us = (self._div + 1) * 1000  # exact: 1 kHz / (div + 1)
        self.rate_hz = _GYRO_RATE_HZ // (self._div + 1)  # actual rate, rounded down
        if dlpf is None:
            dlpf = dlpf_for_rate(self.rate_hz)  # 400 asked is 333 Hz: below its Nyquist
        if dlpf < 1 or dlpf > 6:
            raise ValueError("dlpf must be 1..6 (0 and 7 switch the gyro to 8 kHz), got %d" % dlpf)
        self.i2c = i2c
        self.addr = addr
        self.dlpf = dlpf
        self._sleep_ms = sleep_ms or _default_sleep_ms
        self.who_am_i = None
        self.family_6500 = False
        self.fifo_bytes = _FIFO_SIZE
        self.warning = None
        self.overflows = 0
        self.resyncs = 0  # FIFO resets after a burst cut short by a bus error
        self.gap = False
        self._unsure = False  # a burst failed midway: sample boundaries unknown
        # Scratch buffers, allocated once: the per-read path must not allocate.
        self._w1 = bytearray(1)  # register writes
        self._r1 = bytearray(1)  # INT_STATUS
        self._r2 = bytearray(2)  # FIFO_COUNT_H/L
        self._vbuf = None  # the caller's sample buffer the cached views belong to
        self._views = ()  # _views[n] = memoryview of the first n samples of _vbuf
        self.init()

    # -- register access -------------------------------------------------------------
    def _write(self, reg, value):
        self._w1[0] = value
        self.i2c.writeto_mem(self.addr, reg, self._w1)

    def _read(self, reg):
        self.i2c.readfrom_mem_into(self.addr, reg, self._r1)
        return self._r1[0]

    # -- set-up ----------------------------------------------------------------------
    def probe(self):
        """Read WHO_AM_I; return it, or raise OSError for no device or an unknown chip."""
        try:
            who = self._read(_WHO_AM_I)
        except OSError:
            who = -1  # no ACK (or a broken bus): reported below, outside the handler
        if who < 0:
            raise OSError("no MPU6050 at 0x%02x" % self.addr)
        if who == _WHO_MPU6050:
            self.warning = None
        elif who in COMPATIBLE_IDS:
            self.warning = "WHO_AM_I 0x%02x: %s, not an MPU6050; treated as compatible" % (
                who,
                COMPATIBLE_IDS[who],
            )
        else:
            raise OSError("device at 0x%02x is not an MPU6050 (WHO_AM_I 0x%02x)" % (self.addr, who))
        self.who_am_i = who
        self.family_6500 = who in MPU6500_FAMILY
        self.fifo_bytes = 512 if self.family_6500 else _FIFO_SIZE
        return who

    def reset(self):
        """DEVICE_RESET, then wait until the bit clears (all registers back to defaults)."""
        self._write(_PWR_MGMT_1, _DEVICE_RESET)
        for _ in range(_RESET_POLLS):
            self._sleep_ms(_RESET_WAIT_MS // _RESET_POLLS)
            try:
                if not self._read(_PWR_MGMT_1) & _DEVICE_RESET:
                    return
            except OSError:
                pass  # the chip may not answer while it resets: poll again
        raise OSError("MPU6050 at 0x%02x did not finish its reset" % self.addr)

    def init(self):
        """Probe, reset and configure for sampling into the FIFO; safe to call again."""
        self.probe()
        self.reset()
        self._write(_PWR_MGMT_1, _CLK_PLL_XGYRO)  # wake (SLEEP=0) on the gyro PLL
        self._write(_PWR_MGMT_2, 0)  # all axes on
        self._sleep_ms(10)  # PLL start-up; the gyro settles within its 30 ms (datasheet)
        self._write(_SMPLRT_DIV, self._div)
        self._write(_CONFIG, self.dlpf)  # EXT_SYNC off, bit 6 (FIFO_MODE on MPU6500) 0
        self._write(_GYRO_CONFIG, _FS_2000DPS)
        self._write(_ACCEL_CONFIG, _AFS_16G)
        if self.family_6500:  # its accelerometer has its own filter (bandwidths as the gyro's)
            self._write(_ACCEL_CONFIG2, self.dlpf)
        self._write(_INT_PIN_CFG, 0)  # active high, push-pull, 50 us pulses
        # FIFO_OFLOW_EN makes sure the overflow flag is set in INT_STATUS.
        self._write(_INT_ENABLE, _INT_FIFO_OFLOW)
        self._write(_FIFO_EN, _FIFO_ACCEL_GYRO)
        self.reset_fifo()

    def reset_fifo(self):
        """Empty the FIFO and restart it on a sample boundary; clears pending interrupts."""
        self._write(_USER_CTRL, _USER_FIFO_RESET)
        self._write(_USER_CTRL, _USER_FIFO_EN)
        self._read(_INT_STATUS)  # reading clears it, so an old overflow is not seen again
        self._unsure = False

    # -- sampling --------------------------------------------------------------------
    def _views_for(self, buf):
        # Slicing a memoryview allocates on MicroPython, so the prefixes of the caller's
        # buffer are built once (FIFO reads always start at offset 0). Reuse one buffer.
        # (The building is a separate method: its closure would allocate a cell per call.)
        if buf is not self._vbuf:
            self._build_views(buf)
        return self._views

    def _build_views(self, buf):
        mv = memoryview(buf)
        n = min(len(buf) // SAMPLE_BYTES, MAX_FIFO_SAMPLES)
        self._views = tuple(mv[: k * SAMPLE_BYTES] for k in range(n + 1))
        self._vbuf = buf

    def fifo_count(self):
        """Bytes waiting in the FIFO."""
        self.i2c.readfrom_mem_into(self.addr, _FIFO_COUNTH, self._r2)
        return (self._r2[0] << 8) | self._r2[1]

    def read_fifo(self, buf):
        """Burst the waiting whole samples into ``buf``; return how many (0 on overflow).

        At most ``len(buf) // 12`` samples are read; the rest stay for the next call.
        Allocates nothing once ``buf`` has been seen (use the same buffer every time).
        Bus errors propagate as OSError. If one cut a burst short, the FIFO no longer
        starts on a sample boundary: the next call resets it, counts ``resyncs``, sets
        ``gap`` and returns 0.
        """
        views = self._views_for(buf)
        if self._unsure:  # the last burst broke off: drop the FIFO, samples were lost
            self.resyncs += 1
            self.gap = True
            self.reset_fifo()
            return 0
        if self._read(_INT_STATUS) & _INT_FIFO_OFLOW:
            return self._overflowed()
        count = self.fifo_count()
        if count >= self.fifo_bytes:  # full: the next sample is (or was) written over old ones
            return self._overflowed()
        n = count // SAMPLE_BYTES
        if n >= len(views):
            n = len(views) - 1
        if n <= 0:
            return 0
        self._unsure = True  # until the burst completes
        self.i2c.readfrom_mem_into(self.addr, _FIFO_R_W, views[n])
        self._unsure = False
        # Well past half full, it may have filled up during the burst (1 KB takes ~25 ms at
        # 400 kHz, 25 samples at 1 kHz): then the oldest bytes were overwritten under the read
        # and the burst is not on sample boundaries. (Read on time, it is a quarter full.)
        if count > self.fifo_bytes >> 1 and self._read(_INT_STATUS) & _INT_FIFO_OFLOW:
            return self._overflowed()
        return n

    def _overflowed(self):
        self.overflows += 1
        self.gap = True
        self.reset_fifo()
        return 0

    def take_gap(self):
        """True once after samples were lost (FIFO overflow); clears the flag."""
        gap = self.gap
        self.gap = False
        return gap

    # -- wake-up and power -----------------------------------------------------------
    def int_status(self):
        """Read (and so clear) INT_STATUS; bit 6 is motion, bit 4 FIFO overflow."""
        return self._read(_INT_STATUS)

    def motion_interrupt(self, threshold_mg=100, duration_ms=5, active_low=False):
        """Latch the INT pin on motion: any axis, high-passed at 5 Hz, above threshold_mg
        (2 mg per MOT_THR count) for duration_ms (1 ms per MOT_DUR count). The MPU6500
        family's wake-on-motion compares each sample with the first in 4 mg steps and has
        no duration: threshold_mg is rounded to it, duration_ms unused."""
        thr = threshold_mg // 2
        if thr < 1 or thr > 255:
            raise ValueError("threshold_mg must be 2..511, got %d" % threshold_mg)
        if duration_ms < 1 or duration_ms > 255:
            raise ValueError("duration_ms must be 1..255, got %d" % duration_ms)
        self._write(_INT_PIN_CFG, _LATCH_INT_EN | (_INT_ACTIVE_LOW if active_low else 0))
        if self.family_6500:
            # Wake-on-motion: each sample compared with the first, above WOM_THR (4 mg per
            # count) on any axis; no duration counter (register map, "Wake-on-Motion").
            self._write(_ACCEL_CONFIG2, _FCHOICE_B_6500 | 1)
            self._write(_MOT_THR, (thr + 1) >> 1)
            self._write(_MOT_DETECT_CTRL, _WOM_EN_6500)
        else:
            self._write(_ACCEL_CONFIG, _AFS_16G | _ACCEL_HPF_5HZ)
            self._write(_MOT_THR, thr)
            self._write(_MOT_DUR, duration_ms)
            self._write(_MOT_DETECT_CTRL, _MOT_DETECT_DEFAULT)
        self._write(_INT_ENABLE, _INT_MOT)
        self._read(_INT_STATUS)  # clear anything pending so INT starts low

    def standby(self, wake_hz=5):
        """Accelerometer-only cycle mode for deep-sleep standby (call motion_interrupt
        first). wake_hz is 1 (1.25 Hz), 5, 20 or 40."""
        if wake_hz not in _LP_WAKE:
            raise ValueError("wake_hz must be 1, 5, 20 or 40, got %d" % wake_hz)
        self._write(_USER_CTRL, 0)  # FIFO off: nothing reads it while the ESP32 sleeps
        self._write(_FIFO_EN, 0)
        if self.family_6500:
            self._write(_LP_ACCEL_ODR, _LP_ODR_6500[wake_hz])
            self._write(_PWR_MGMT_2, _STBY_GYRO)
        else:
            self._write(_PWR_MGMT_2, (_LP_WAKE[wake_hz] << 6) | _STBY_GYRO)
        # Internal 8 MHz oscillator (CLKSEL 0): the gyro PLL is off with the gyros.
        self._write(_PWR_MGMT_1, _CYCLE | _TEMP_DIS)

    def sleep(self):
        """Full sleep: no sampling and no wake-up interrupt. init() wakes it again."""
        self._write(_PWR_MGMT_1, _SLEEP | _TEMP_DIS)


def sleep_sensor(i2c, addr=0x68):
    """Full sleep for a sensor no MPU6050 object drives (a watchdog or brown-out reset may
    have left it sampling): one register write, no probe."""
    i2c.writeto_mem(addr, _PWR_MGMT_1, bytes((_SLEEP | _TEMP_DIS,)))


def _default_delay_us(us):
    sleep_us = getattr(time, "sleep_us", None)
    if sleep_us is not None:
        sleep_us(us)
    else:
        time.sleep(us / 1000000)


def recover_bus(scl, sda, delay_us=None, half_period_us=5):
    """Free a bus whose SDA a slave holds low (it was interrupted mid-byte).

    ``scl`` and ``sda`` are Pin-like objects (``init(mode, pull, value=...)``, ``value()``)
    for the bus pins, taken over from the I2C peripheral. Clocks SCL 9 times (enough for
    the slave to finish any byte and its ACK), then sends a STOP (SDA rising while SCL is
    high). Returns True when SDA is high afterwards. The caller must then rebuild the I2C
    object on these pins. ``half_period_us`` 5 gives 100 kHz.
    """
    delay = delay_us or _default_delay_us
    scl.init(scl.OPEN_DRAIN, scl.PULL_UP, value=1)
    sda.init(sda.OPEN_DRAIN, sda.PULL_UP, value=1)  # released: the slave may hold it low
    delay(half_period_us)
    for _ in range(9):
        scl.value(0)
        delay(half_period_us)
        scl.value(1)
        delay(half_period_us)
    # STOP: SDA low while SCL is low, raise SCL, then release SDA.
    scl.value(0)
    delay(half_period_us)
    sda.value(0)
    delay(half_period_us)
    scl.value(1)
    delay(half_period_us)
    sda.value(1)
    delay(half_period_us)
    return sda.value() == 1
