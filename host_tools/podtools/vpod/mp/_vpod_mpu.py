"""A simulated MPU6050 for the virtual pod: register map, 1024-byte FIFO, motion source.

The FIFO fills lazily: whenever the firmware touches the chip, every sample due by the
virtual clock since the last touch is appended (accel, temperature, gyro in the order the
datasheet gives, as selected by FIFO_EN), at the rate the firmware configured
(gyro output rate / (1 + SMPLRT_DIV)). A full FIFO drops its oldest bytes and sets
FIFO_OFLOW, as the chip does with CONFIG.FIFO_MODE = 0.

Samples come from a ``Source``: the launcher's binary recording (int16 LE x 6 per sample on
a uniform grid, see podtools.vpod.pod.write_imu_bin), or a body at rest when none is given.
Counts are rescaled from the recording's full-scale ranges to the ones configured.

The device object has the duck-typed I2C-target interface the machine.I2C stand-in
delegates to: readfrom_mem_into, readfrom_mem, writeto_mem, scan.
"""

import _vpod

_WHO_AM_I = 0x75
_SMPLRT_DIV = 0x19
_CONFIG = 0x1A
_GYRO_CONFIG = 0x1B
_ACCEL_CONFIG = 0x1C
_FIFO_EN = 0x23
_INT_STATUS = 0x3A
_ACCEL_XOUT_H = 0x3B
_USER_CTRL = 0x6A
_PWR_MGMT_1 = 0x6B
_FIFO_COUNTH = 0x72
_FIFO_R_W = 0x74
_FIFO_SIZE = 1024
_TEMP_COUNTS = -4000  # about 24.8 C: (T - 36.53) * 340
_CHUNK = 256  # recording samples read per file access


class Source:
    """World time -> six int16 counts, from the launcher's binary file or at rest."""

    def __init__(self, path=None):
        self.rest = (0, 0, 2048, 0, 0, 0)  # 1 g on z at +-16 g
        self.period_ns = 5000000
        self.n = 0
        self.fs = (16, 2000)
        self.f = None
        self.base = -1
        self.buf = bytearray(12 * _CHUNK)
        self.mv = memoryview(self.buf)
        if path:
            self.f = open(path, "rb")
            head = self.f.readline().decode().split()
            # "vpodimu1 period_ns n accel_fs gyro_fs rest_ax rest_ay rest_az"
            self.period_ns = int(head[1])
            self.n = int(head[2])
            self.fs = (int(head[3]), int(head[4]))
            self.rest = (int(head[5]), int(head[6]), int(head[7]), 0, 0, 0)
            self.data0 = self.f.tell()

    def sample(self, w_us, out):
        """Fill ``out`` (list of 6) with the counts at world time ``w_us``."""
        i = w_us * 1000 // self.period_ns
        if self.f is None or i >= self.n or i < 0:
            for k in range(6):
                out[k] = self.rest[k]
            return
        if not (self.base <= i < self.base + _CHUNK):
            self.base = i
            self.f.seek(self.data0 + 12 * i)
            self.f.readinto(self.buf)
        j = 12 * (i - self.base)
        b = self.buf
        for k in range(6):
            v = b[j + 2 * k] | b[j + 2 * k + 1] << 8
            out[k] = v - 65536 if v & 0x8000 else v


class MPU6050:
    """The register map and FIFO; ``addr`` is 0x68 (AD0 low) or 0x69."""

    def __init__(self, source, addr=0x68):
        self.source = source
        self.addr = addr
        self.regs = bytearray(128)
        self.fifo = bytearray(_FIFO_SIZE)
        self.sample_now = [0] * 6
        self._power_on()

    def _power_on(self):
        r = self.regs
        for i in range(128):
            r[i] = 0
        r[_WHO_AM_I] = 0x68
        r[_PWR_MGMT_1] = 0x40  # asleep after power-on
        self.head = 0  # index of the oldest FIFO byte
        self.count = 0
        self.t_next = None  # world us of the next sample into the FIFO

    # -- the I2C-target interface --

    def scan(self):
        return [self.addr]

    def readfrom_mem_into(self, addr, reg, buf):
        self._fill()
        n = len(buf)
        if reg == _FIFO_R_W:
            for i in range(n):
                buf[i] = self._pop()
            return
        self._latch()
        r = self.regs
        for i in range(n):
            a = reg + i
            if a == _INT_STATUS:
                buf[i] = r[a]
                r[a] = 0  # cleared on read
            else:
                buf[i] = r[a & 0x7F]

    def readfrom_mem(self, addr, reg, n):
        buf = bytearray(n)
        self.readfrom_mem_into(addr, reg, buf)
        return bytes(buf)

    def writeto_mem(self, addr, reg, buf):
        self._fill()
        for i in range(len(buf)):
            self._write(reg + i, buf[i])

    # -- the chip --

    def _write(self, reg, v):
        r = self.regs
        if reg == _PWR_MGMT_1 and v & 0x80:  # DEVICE_RESET
            self._power_on()
            return
        if reg == _USER_CTRL and v & 0x04:  # FIFO_RESET, self-clearing
            self.head = self.count = 0
            v &= ~0x04
        if reg in (_WHO_AM_I, _INT_STATUS, _FIFO_COUNTH, _FIFO_COUNTH + 1):
            return  # read-only
        if reg == _FIFO_R_W:
            return
        old_run = self._running()
        r[reg & 0x7F] = v
        if self._running() and not old_run:
            self.t_next = _vpod.world() + self._period()
        elif not self._running():
            self.t_next = None
        elif reg in (_SMPLRT_DIV, _CONFIG):
            self.t_next = _vpod.world() + self._period()

    def _running(self):
        r = self.regs
        return not (r[_PWR_MGMT_1] & 0x40) and r[_USER_CTRL] & 0x40 and r[_FIFO_EN]

    def _period(self):
        dlpf = self.regs[_CONFIG] & 7
        out_hz = 8000 if dlpf in (0, 7) else 1000  # gyro output rate, datasheet 4.2
        return (1 + self.regs[_SMPLRT_DIV]) * 1000000 // out_hz

    def _packet(self):
        en = self.regs[_FIFO_EN]
        return (6 if en & 0x08 else 0) + (2 if en & 0x80 else 0) + 2 * ((en >> 4 & 1) + (en >> 5 & 1) + (en >> 6 & 1))

    def _scaled(self, w):
        s = self.sample_now
        self.source.sample(w, s)
        afs = 2 << (self.regs[_ACCEL_CONFIG] >> 3 & 3)  # 2, 4, 8, 16 g
        gfs = 250 << (self.regs[_GYRO_CONFIG] >> 3 & 3)  # 250 .. 2000 dps
        rafs, rgfs = self.source.fs
        for k in range(6):
            v = s[k] * rafs // afs if k < 3 else s[k] * rgfs // gfs
            s[k] = 32767 if v > 32767 else -32768 if v < -32768 else v
        return s

    def _latch(self):
        # The output registers 0x3B..0x48 hold the latest sample.
        if self.regs[_PWR_MGMT_1] & 0x40:
            return
        s = self._scaled(_vpod.world())
        r = self.regs
        vals = (s[0], s[1], s[2], _TEMP_COUNTS, s[3], s[4], s[5])
        for k in range(7):
            v = vals[k] & 0xFFFF
            r[_ACCEL_XOUT_H + 2 * k] = v >> 8
            r[_ACCEL_XOUT_H + 2 * k + 1] = v & 0xFF
        r[_INT_STATUS] |= 0x01  # DATA_RDY

    def _push(self, b):
        if self.count == _FIFO_SIZE:  # full: the oldest byte is overwritten
            self.fifo[self.head] = b
            self.head = (self.head + 1) % _FIFO_SIZE
            self.regs[_INT_STATUS] |= 0x10  # FIFO_OFLOW
            return
        self.fifo[(self.head + self.count) % _FIFO_SIZE] = b
        self.count += 1

    def _pop(self):
        if self.count == 0:
            return 0  # the chip returns the last byte read; 0 is as good for a fake
        b = self.fifo[self.head]
        self.head = (self.head + 1) % _FIFO_SIZE
        self.count -= 1
        return b

    def _fill(self):
        if self.t_next is None:
            return
        w = _vpod.world()
        if w < self.t_next:
            self._count_regs()
            return
        period = self._period()
        n = (w - self.t_next) // period + 1
        pkt = self._packet()
        keep = _FIFO_SIZE // pkt + 2
        if n > keep:  # long unattended: only the last samples can still be in the FIFO
            self.t_next += (n - keep) * period
            n = keep
            self.regs[_INT_STATUS] |= 0x10
        en = self.regs[_FIFO_EN]
        for _ in range(n):
            s = self._scaled(self.t_next)
            if en & 0x08:
                for k in range(3):
                    self._push(s[k] >> 8 & 0xFF)
                    self._push(s[k] & 0xFF)
            if en & 0x80:
                self._push(_TEMP_COUNTS >> 8 & 0xFF)
                self._push(_TEMP_COUNTS & 0xFF)
            for k in range(3):
                if en & (0x40 >> k):
                    self._push(s[3 + k] >> 8 & 0xFF)
                    self._push(s[3 + k] & 0xFF)
            self.t_next += period
        self._count_regs()

    def _count_regs(self):
        self.regs[_FIFO_COUNTH] = self.count >> 8
        self.regs[_FIFO_COUNTH + 1] = self.count & 0xFF

    def motion_after(self, w_us, limit_us, threshold_counts=400):
        """World time of the first sample after ``w_us`` whose acceleration differs from the
        previous one by more than ``threshold_counts`` (at the recording's range), or None."""
        prev = [0] * 6
        cur = [0] * 6
        step = self.source.period_ns // 1000 or 1000
        self.source.sample(w_us, prev)
        t = w_us + step
        while t < w_us + limit_us:
            self.source.sample(t, cur)
            if abs(cur[0] - prev[0]) + abs(cur[1] - prev[1]) + abs(cur[2] - prev[2]) > threshold_counts:
                return t
            prev, cur = cur, prev
            t += step
        return None
