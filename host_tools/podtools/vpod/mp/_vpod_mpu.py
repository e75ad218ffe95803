"""The virtual pod's IMU: the tests' FakeMPU6050 register map, fed on the virtual clock.

The register map, FIFO, interrupts and bus faults are tests/firmware/fake_mpu6050.py (one
emulation for the dual-runtime tests and the virtual pod). This module only feeds it:
whenever the firmware touches the bus, every sample due since the last touch (at the rate
the registers configure, ``period_us()``) is pushed, taken from a ``Source`` on world time
and rescaled from the recording's full-scale ranges to the configured ones. It also applies
the launcher's fault schedule to the fake's fault switches.

The machine.I2C stand-in delegates each transfer to ``imu().bus``: any object with
readfrom_mem_into, readfrom_mem, writeto_mem and scan will do.
"""

import _vpod
import fake_mpu6050

_GYRO_CONFIG = 0x1B
_ACCEL_CONFIG = 0x1C
_CATCH_UP_MAX = 520  # more samples than the 1024-byte FIFO holds even 2 bytes each
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
        self.base = -1 - _CHUNK  # no chunk loaded yet
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




class Imu:
    """A FakeMPU6050 on a FakeI2C bus, fed from ``source`` as virtual time passes."""

    def __init__(self, source, addr=0x68):
        self.source = source
        self.mpu = fake_mpu6050.FakeMPU6050(addr)
        self.mpu.log_writes = False  # a run of hours must not grow a log
        self.bus = fake_mpu6050.FakeI2C(self.mpu)
        self.t_next = None  # world us of the next sample
        self.s = [0] * 6
        self.active = {}  # fault kind -> active now

    def sync(self):
        """Apply the fault schedule, then push every sample due by now."""
        if _vpod.CFG.get("i2c_faults"):
            self._faults()
        mpu = self.mpu
        w = _vpod.world()
        if mpu.asleep() or mpu.unplugged:
            self.t_next = None
            return
        period = mpu.period_us()
        if self.t_next is None:
            self.t_next = w + period
            return
        if w < self.t_next:
            return
        n = (w - self.t_next) // period + 1
        if n > _CATCH_UP_MAX:  # unattended for long: only the newest can still be in the FIFO
            self.t_next += (n - _CATCH_UP_MAX) * period
            n = _CATCH_UP_MAX
        s = self.s
        regs = mpu.regs
        afs = 2 << (regs[_ACCEL_CONFIG] >> 3 & 3)  # 2, 4, 8, 16 g
        gfs = 250 << (regs[_GYRO_CONFIG] >> 3 & 3)  # 250 .. 2000 dps
        rafs, rgfs = self.source.fs
        for _ in range(n):
            self.source.sample(self.t_next, s)
            for k in range(6):
                v = s[k] * rafs // afs if k < 3 else s[k] * rgfs // gfs
                s[k] = 32767 if v > 32767 else -32768 if v < -32768 else v
            mpu.push(s[0], s[1], s[2], s[3], s[4], s[5], _TEMP_COUNTS)
            self.t_next += period

    def _faults(self):
        w = _vpod.world()
        now = {"nack": False, "unplug": False, "timeout": False}
        for f in _vpod.CFG["i2c_faults"]:
            start = f.get("at_us", 0)
            on = start <= w < start + f.get("dur_us", 1 << 62)
            if f["kind"] == "stuck":
                if on and not f.get("fired"):
                    f["fired"] = True
                    self.bus.stuck_bus = True
                    _vpod.trace("i2c_fault", kind="stuck")
            elif on:
                now[f["kind"]] = True
        for kind, on in now.items():
            if self.active.get(kind, False) != on:
                self.active[kind] = on
                _vpod.trace("i2c_fault", kind=kind, on=1 if on else 0)
        self.mpu.nack = now["nack"]
        self.mpu.unplugged = now["unplug"]
        self.bus.timeout = now["timeout"]

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


_imu = []


def imu():
    """The pod's one IMU, built at first use from the launcher's configuration."""
    if not _imu:
        _imu.append(Imu(Source(_vpod.CFG.get("imu")), _vpod.CFG.get("imu_addr", 0x68)))
    return _imu[0]
