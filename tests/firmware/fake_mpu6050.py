"""A narrow I2C bus with an emulated MPU6050: its register map, FIFO and faults.

Runs unchanged under CPython and MicroPython (no dataclasses, no f-strings), so the
dual-runtime tests and the virtual pod (issue 5) share it. Only what the pod's driver
touches is emulated, following the MPU-6000/6050 Register Map rev 4.2:

- power-on defaults (PWR_MGMT_1 = 0x40: asleep; WHO_AM_I = ``who_am_i``; the rest 0);
  DEVICE_RESET restores them, empties the FIFO and counts ``resets``;
- config registers are stored as written; read-only registers ignore writes;
  self-clearing bits (DEVICE_RESET, FIFO_RESET, SIG_COND_RESET) read back as 0;
- the 1024-byte FIFO: ``push()`` appends one sample, in register order, of the sources
  enabled in FIFO_EN (ACCEL 6, TEMP 2, gyro X/Y/Z 2 each) when USER_CTRL.FIFO_EN is set and
  the chip is awake. When full, the oldest bytes are dropped for the new ones (the MPU6050
  behaviour; CONFIG bit 6, FIFO_MODE on the MPU6500, keeps the old ones instead) and
  INT_STATUS.FIFO_OFLOW_INT is set. FIFO_COUNT_H/L give the byte count (H latches L);
  FIFO_R_W pops one byte per read and repeats the last byte when empty;
- INT_STATUS: FIFO_OFLOW (bit 4), MOT (bit 6), DATA_RDY (bit 0); cleared by reading it
  (or by any read with INT_PIN_CFG.INT_RD_CLEAR). ``int_level()`` is the INT pin: with
  LATCH_INT_EN it stays active while an enabled status bit is pending;
- ACCEL/TEMP/GYRO data registers hold the latest sample;
- motion detection (approximate): with INT_ENABLE.MOT_EN, a sample whose accel differs
  from the previous one by more than MOT_THR (2 mg per count) on any axis, for MOT_DUR ms
  worth of consecutive samples, sets MOT_INT. It also works in cycle mode.

Reads and pushes allocate nothing, so the driver can be checked under
``micropython.heap_lock()`` with this bus underneath. Register writes are logged in
``FakeMPU6050.writes`` for tests; a long-running user (the virtual pod) sets
``log_writes = False`` so the log does not grow.

Faults (set and clear the attributes at any time):

- ``FakeMPU6050.nack = True``: every access raises OSError(EIO);
- ``FakeMPU6050.unplugged = True``: no ACK at all, OSError(ENODEV), missing from scan();
  setting it back to False is a power cycle (registers to power-on defaults);
- ``FakeI2C.timeout = True``: every transaction raises OSError(ETIMEDOUT);
- ``FakeI2C.stuck_bus = True``: a slave holds SDA low, every transaction raises
  OSError(ETIMEDOUT) until it is cleared, or recovered through ``FakeI2C.pins()``: 9 SCL
  clocks then a STOP (SDA rising while SCL is high), as ``mpu6050.recover_bus`` does;
- ``FakeI2C.fail_next(n, err)``: the next n transactions raise OSError(err), then it heals;
- ``FakeI2C.cut_next_read(reg, after, err)``: the next read starting at ``reg`` transfers
  ``after`` bytes (FIFO bytes are consumed) and then raises OSError(err), as a glitch
  in the middle of a burst does.

Usage::

    mpu = FakeMPU6050()
    bus = FakeI2C(mpu)
    imu = MPU6050(bus)                 # the driver configures the fake
    mpu.push(0, 0, 2048, 0, 0, 0)      # one sample (int16 counts) into the FIFO
    mpu.period_us()                    # sample period the registers ask for (virtual pod)
"""

try:
    import errno

    EIO = errno.EIO
    ENODEV = errno.ENODEV
    ETIMEDOUT = errno.ETIMEDOUT
except (ImportError, AttributeError):  # pragma: no cover - both runtimes have errno
    EIO, ENODEV, ETIMEDOUT = 5, 19, 110

FIFO_SIZE = 1024

# Registers (see firmware/mpu6050.py for their meaning).
SMPLRT_DIV = 0x19
CONFIG = 0x1A
GYRO_CONFIG = 0x1B
ACCEL_CONFIG = 0x1C
MOT_THR = 0x1F
MOT_DUR = 0x20
FIFO_EN = 0x23
INT_PIN_CFG = 0x37
INT_ENABLE = 0x38
INT_STATUS = 0x3A
ACCEL_XOUT_H = 0x3B
TEMP_OUT_H = 0x41
GYRO_XOUT_H = 0x43
SIGNAL_PATH_RESET = 0x68
MOT_DETECT_CTRL = 0x69
USER_CTRL = 0x6A
PWR_MGMT_1 = 0x6B
PWR_MGMT_2 = 0x6C
FIFO_COUNTH = 0x72
FIFO_COUNTL = 0x73
FIFO_R_W = 0x74
WHO_AM_I = 0x75

_READ_ONLY = (INT_STATUS, FIFO_COUNTH, FIFO_COUNTL, WHO_AM_I)
_INT_FIFO_OFLOW = 0x10
_INT_MOT = 0x40
_INT_DATA_RDY = 0x01
_LP_WAKE_HZ = (1, 5, 20, 40)  # LP_WAKE_CTRL 0..3 (0 is 1.25 Hz)


def _i16(v):
    return -32768 <= v <= 32767


class FakeMPU6050:
    """The register map and FIFO of one MPU6050 (see the module docstring)."""

    def __init__(self, addr=0x68, who_am_i=0x68):
        self.addr = addr
        self.who_am_i = who_am_i
        self.regs = bytearray(128)
        self.fifo = bytearray(FIFO_SIZE)  # ring buffer
        self._head = 0  # index of the oldest byte
        self.count = 0  # bytes in the FIFO
        self._last = 0  # last byte read from FIFO_R_W
        self._count_l = 0  # FIFO_COUNTL latched by reading FIFO_COUNTH
        self._prev = [0, 0, 0]  # previous accel sample, for the motion high-pass
        self._mot_run = 0  # consecutive samples above MOT_THR
        self._prev_ok = False  # _prev holds a sample (the high-pass has settled)
        self.nack = False
        self._unplugged = False
        self.resets = 0  # DEVICE_RESETs seen
        self.fifo_resets = 0  # FIFO_RESETs seen
        self.dropped = 0  # bytes lost to FIFO overflow
        self.writes = []  # (reg, value) log of every register write, for tests
        self.log_writes = True
        self.power_on()

    # -- state -----------------------------------------------------------------------
    def power_on(self):
        """Registers to their power-on values and an empty FIFO (also DEVICE_RESET)."""
        regs = self.regs
        for i in range(len(regs)):
            regs[i] = 0
        regs[PWR_MGMT_1] = 0x40  # asleep after power-up
        regs[WHO_AM_I] = self.who_am_i
        self._head = 0
        self.count = 0
        self._mot_run = 0
        self._prev_ok = False

    @property
    def unplugged(self):
        return self._unplugged

    @unplugged.setter
    def unplugged(self, value):
        if self._unplugged and not value:
            self.power_on()  # plugging back in powers the chip up from scratch
        self._unplugged = value

    def asleep(self):
        return bool(self.regs[PWR_MGMT_1] & 0x40)

    def cycling(self):
        """Cycle mode: accel-only wake-ups at ``lp_wake_hz()``."""
        return bool(self.regs[PWR_MGMT_1] & 0x20) and not self.asleep()

    def lp_wake_hz(self):
        return _LP_WAKE_HZ[self.regs[PWR_MGMT_2] >> 6]

    def period_us(self):
        """Microseconds between samples as the registers configure it (for a virtual clock)."""
        if self.cycling():
            return 800000 if self.lp_wake_hz() == 1 else 1000000 // self.lp_wake_hz()
        dlpf = self.regs[CONFIG] & 0x07
        base_hz = 8000 if dlpf in (0, 7) else 1000  # gyro output rate
        return (self.regs[SMPLRT_DIV] + 1) * 1000000 // base_hz

    def fifo_enabled(self):
        return bool(self.regs[USER_CTRL] & 0x40)

    def int_level(self):
        """True while the INT pin is active (latched mode; pulses are not modelled)."""
        cfg = self.regs[INT_PIN_CFG]
        pending = self.regs[INT_STATUS] & self.regs[INT_ENABLE]
        active = bool(pending) and bool(cfg & 0x20)
        return active

    def fifo_bytes(self):
        """A copy of the FIFO contents, oldest first (tests only: allocates)."""
        out = bytearray(self.count)
        for i in range(self.count):
            out[i] = self.fifo[(self._head + i) % FIFO_SIZE]
        return out

    # -- samples ---------------------------------------------------------------------
    def _fifo_put(self, value):
        if self.count >= FIFO_SIZE:
            self.regs[INT_STATUS] |= _INT_FIFO_OFLOW
            self.dropped += 1
            if self.regs[CONFIG] & 0x40:  # FIFO_MODE (MPU6500): keep old data
                return
            self._head = (self._head + 1) % FIFO_SIZE  # MPU6050: oldest byte lost
            self.count -= 1
        self.fifo[(self._head + self.count) % FIFO_SIZE] = value
        self.count += 1

    def _put16(self, reg, value, to_fifo):
        value &= 0xFFFF
        self.regs[reg] = value >> 8
        self.regs[reg + 1] = value & 0xFF
        if to_fifo:
            self._fifo_put(value >> 8)
            self._fifo_put(value & 0xFF)

    def push(self, ax, ay, az, gx, gy, gz, temp=0):
        """One sample (int16 counts) from the sensor: data registers, FIFO, interrupts.

        Ignored (returns False) while the chip sleeps; in cycle mode only the
        accelerometer is sampled and nothing enters the FIFO.
        """
        if not (_i16(ax) and _i16(ay) and _i16(az) and _i16(gx) and _i16(gy) and _i16(gz) and _i16(temp)):
            raise ValueError("sample value out of int16 range")
        if self.asleep() or self._unplugged:
            return False
        regs = self.regs
        cycling = self.cycling()
        fen = regs[FIFO_EN] if (self.fifo_enabled() and not cycling) else 0
        stby = regs[PWR_MGMT_2]
        self._put16(ACCEL_XOUT_H, ax, fen & 0x08)
        self._put16(ACCEL_XOUT_H + 2, ay, fen & 0x08)
        self._put16(ACCEL_XOUT_H + 4, az, fen & 0x08)
        self._put16(TEMP_OUT_H, temp, fen & 0x80)
        if not cycling:
            self._put16(GYRO_XOUT_H, gx if not stby & 4 else 0, fen & 0x40)
            self._put16(GYRO_XOUT_H + 2, gy if not stby & 2 else 0, fen & 0x20)
            self._put16(GYRO_XOUT_H + 4, gz if not stby & 1 else 0, fen & 0x10)
        regs[INT_STATUS] |= _INT_DATA_RDY
        self._motion(ax, ay, az)
        return True

    def _motion(self, ax, ay, az):
        prev = self._prev
        # High-pass as a first difference; threshold 2 mg per count -> accel counts.
        lsb_per_g = 16384 >> ((self.regs[ACCEL_CONFIG] >> 3) & 3)
        thr = self.regs[MOT_THR] * 2 * lsb_per_g // 1000
        big = abs(ax - prev[0]) > thr or abs(ay - prev[1]) > thr or abs(az - prev[2]) > thr
        big = big and self._prev_ok  # the first sample only seeds the filter
        self._prev_ok = True
        prev[0] = ax
        prev[1] = ay
        prev[2] = az
        if not self.regs[INT_ENABLE] & _INT_MOT:
            self._mot_run = 0
            return
        if not big:
            self._mot_run = 0
            return
        self._mot_run += 1
        ms = self._mot_run * self.period_us() // 1000
        if ms >= self.regs[MOT_DUR]:
            self.regs[INT_STATUS] |= _INT_MOT

    # -- register access, as the bus sees it ------------------------------------------
    def read_reg(self, reg):
        regs = self.regs
        if reg == FIFO_R_W:
            if self.count:
                self._last = self.fifo[self._head]
                self._head = (self._head + 1) % FIFO_SIZE
                self.count -= 1
            value = self._last
        elif reg == FIFO_COUNTH:
            self._count_l = self.count & 0xFF
            value = self.count >> 8
        elif reg == FIFO_COUNTL:
            value = self._count_l
        else:
            value = regs[reg & 0x7F]
        if reg == INT_STATUS or regs[INT_PIN_CFG] & 0x10:  # INT_RD_CLEAR: any read clears
            regs[INT_STATUS] = 0
        return value

    def write_reg(self, reg, value):
        if self.log_writes:
            self.writes.append((reg, value))
        regs = self.regs
        if reg == PWR_MGMT_1 and value & 0x80:
            self.resets += 1
            self.power_on()
            return
        if reg == FIFO_R_W:
            self._fifo_put(value)
            return
        if reg in _READ_ONLY:
            return
        if reg == USER_CTRL:
            if value & 0x04:
                self.fifo_resets += 1
                self._head = 0
                self.count = 0
            if value & 0x01:  # SIG_COND_RESET clears the data registers
                for r in range(ACCEL_XOUT_H, GYRO_XOUT_H + 6):
                    regs[r] = 0
            value &= ~0x07  # reset bits self-clear
        elif reg == SIGNAL_PATH_RESET:
            value = 0
        regs[reg] = value

    def check(self):
        """Raise the OSError a real transaction would raise now, if any."""
        if self._unplugged:
            raise OSError(ENODEV)
        if self.nack:
            raise OSError(EIO)


class FakePin:
    """A Pin-like line of FakeI2C's bus: ``init(mode, pull, value=)``, ``value([v])``."""

    IN = 1
    OUT = 3
    OPEN_DRAIN = 7
    PULL_UP = 1

    def __init__(self, bus, name):
        self.bus = bus
        self.name = name
        self.mode = None
        self.driven = 1  # what this side drives (1 = released on an open-drain line)
        self.history = []  # every value written

    def init(self, mode=-1, pull=-1, value=None):
        if mode != -1:
            self.mode = mode
        if value is not None:
            self.value(value)

    def value(self, v=None):
        if v is None:
            return self.bus._line(self.name)
        v = 1 if v else 0
        self.history.append(v)
        old = self.driven
        self.driven = v
        self.bus._edge(self.name, old, v)
        return None

    __call__ = value


class FakeI2C:
    """The ``machine.I2C`` methods the driver uses, routed to Fake devices by address."""

    def __init__(self, *devices):
        self.devices = {}
        for d in devices:
            self.add(d)
        self.timeout = False
        self.stuck_bus = False
        self.stuck_clocks = 9  # SCL clocks before the stuck slave releases SDA
        self._fail_count = 0
        self._fail_errno = ETIMEDOUT
        self._cut_reg = -1  # cut_next_read: register, bytes before the error, errno
        self._cut_after = 0
        self._cut_errno = EIO
        self.transactions = 0
        self._scl = FakePin(self, "scl")
        self._sda = FakePin(self, "sda")
        self._clocks = 0  # SCL rising edges during recovery
        self.recoveries = 0

    def add(self, device):
        self.devices[device.addr] = device

    def fail_next(self, n, err=ETIMEDOUT):
        """The next ``n`` transactions raise OSError(err), then the bus works again."""
        self._fail_count = n
        self._fail_errno = err

    def cut_next_read(self, reg, after, err=EIO):
        """The next read starting at reg raises OSError(err) after ``after`` bytes."""
        self._cut_reg = reg
        self._cut_after = after
        self._cut_errno = err

    # -- bus recovery through the pins --------------------------------------------------
    def pins(self):
        """(scl, sda) Pin-like objects on this bus, for ``recover_bus``."""
        return self._scl, self._sda

    def _line(self, name):
        if name == "sda":
            held = self.stuck_bus and self._clocks < self.stuck_clocks
            return 0 if held or not self._sda.driven else 1
        return self._scl.driven

    def _edge(self, name, old, new):
        if name == "scl" and new and not old and self.stuck_bus:
            self._clocks += 1
        if name == "sda" and new and not old and self._scl.driven:
            # STOP condition: once the slave has let SDA go, the bus is free again.
            if self.stuck_bus and self._clocks >= self.stuck_clocks:
                self.stuck_bus = False
                self.recoveries += 1
            self._clocks = 0

    # -- transactions --------------------------------------------------------------------
    def _device(self, addr):
        self.transactions += 1
        if self._fail_count:
            self._fail_count -= 1
            raise OSError(self._fail_errno)
        if self.stuck_bus or self.timeout:
            raise OSError(ETIMEDOUT)
        dev = self.devices.get(addr)
        if dev is None:
            raise OSError(ENODEV)
        dev.check()
        return dev

    def scan(self):
        if self.stuck_bus or self.timeout:
            return []
        return sorted(a for a, d in self.devices.items() if not d.unplugged)

    def readfrom_mem_into(self, addr, reg, buf, addrsize=8):
        dev = self._device(addr)
        cut = -1
        if reg == self._cut_reg:
            cut = self._cut_after
            self._cut_reg = -1
        for i in range(len(buf)):
            if i == cut:
                raise OSError(self._cut_errno)
            buf[i] = dev.read_reg(reg)
            if reg != FIFO_R_W:  # FIFO_R_W does not auto-increment
                reg += 1
        return None

    def readfrom_mem(self, addr, reg, n, addrsize=8):
        buf = bytearray(n)
        self.readfrom_mem_into(addr, reg, buf)
        return bytes(buf)

    def writeto_mem(self, addr, reg, buf, addrsize=8):
        dev = self._device(addr)
        for i in range(len(buf)):
            dev.write_reg(reg, buf[i])
            if reg != FIFO_R_W:
                reg += 1
        return None
