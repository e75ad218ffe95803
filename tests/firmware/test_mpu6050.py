"""The MPU6050 driver against the emulated register map and FIFO, under both runtimes."""
import array

import fake_mpu6050 as fk
from _support import IS_MICROPYTHON, skip
from fake_mpu6050 import FakeI2C, FakeMPU6050
from mpu6050 import MPU6050, SAMPLE_BYTES, decode, dlpf_for_rate, recover_bus


def _nosleep(ms):
    return None


def _make(who=0x68, rate_hz=200, **kw):
    mpu = FakeMPU6050(who_am_i=who)
    bus = FakeI2C(mpu)
    imu = MPU6050(bus, rate_hz=rate_hz, sleep_ms=_nosleep, **kw)
    return mpu, bus, imu


def _raises_oserror(func, *args):
    try:
        func(*args)
    except OSError as e:
        return e
    raise AssertionError("no OSError")


def test_init_sequence_configures_registers():
    mpu, bus, imu = _make()
    r = mpu.regs
    assert mpu.resets == 1
    assert r[fk.PWR_MGMT_1] == 0x01  # awake, PLL on the X gyro
    assert r[fk.PWR_MGMT_2] == 0
    assert r[fk.ACCEL_CONFIG] == 0x18  # +-16 g
    assert r[fk.GYRO_CONFIG] == 0x18  # +-2000 dps
    assert r[fk.CONFIG] == 2  # DLPF 94/98 Hz for 200 Hz
    assert r[fk.SMPLRT_DIV] == 4  # 1 kHz / 5 = 200 Hz
    assert r[fk.FIFO_EN] == 0x78  # accel + gyro xyz
    assert r[fk.USER_CTRL] == 0x40  # FIFO on
    assert r[fk.INT_ENABLE] == 0x10  # FIFO overflow flag
    assert mpu.fifo_resets >= 1 and mpu.count == 0
    assert imu.rate_hz == 200 and imu.period_us == 5000
    assert mpu.period_us() == 5000
    assert imu.warning is None and imu.who_am_i == 0x68
    # The reset is written before any configuration.
    regs_written = [w[0] for w in mpu.writes]
    assert regs_written.index(fk.PWR_MGMT_1) < regs_written.index(fk.SMPLRT_DIV)
    assert mpu.writes[0] == (fk.PWR_MGMT_1, 0x80)


def test_rates_dividers_and_dlpf():
    for rate, div, actual, period, dlpf in (
        (100, 9, 100, 10000, 3),
        (200, 4, 200, 5000, 2),
        (250, 3, 250, 4000, 2),
        (300, 2, 333, 3000, 2),
        (400, 2, 333, 3000, 2),  # the filter for the rate it gets: 184 Hz would alias at 333
        (500, 1, 500, 2000, 1),
        (1000, 0, 1000, 1000, 1),
    ):
        mpu, bus, imu = _make(rate_hz=rate)
        assert mpu.regs[fk.SMPLRT_DIV] == div, rate
        assert imu.rate_hz == actual and imu.period_us == period, rate
        assert mpu.regs[fk.CONFIG] == dlpf == dlpf_for_rate(actual), rate
        assert mpu.period_us() == period
    mpu, bus, imu = _make(dlpf=5)
    assert mpu.regs[fk.CONFIG] == 5


class _SlowResetMPU(FakeMPU6050):
    """Does not answer for the first two transactions after a DEVICE_RESET."""

    busy = 0

    def write_reg(self, reg, value):
        FakeMPU6050.write_reg(self, reg, value)
        if reg == fk.PWR_MGMT_1 and value & 0x80:
            self.busy = 2

    def check(self):
        FakeMPU6050.check(self)
        if self.busy:
            self.busy -= 1
            raise OSError(fk.EIO)


def test_reset_poll_tolerates_a_busy_chip():
    mpu = _SlowResetMPU()
    imu = MPU6050(FakeI2C(mpu), sleep_ms=_nosleep)
    assert mpu.resets == 1 and mpu.regs[fk.PWR_MGMT_1] == 0x01 and imu.who_am_i == 0x68


def test_bad_arguments_refused():
    bus = FakeI2C(FakeMPU6050())
    for kw in ({"rate_hz": 2000}, {"rate_hz": 1}, {"dlpf": 0}, {"dlpf": 7}):
        try:
            MPU6050(bus, sleep_ms=_nosleep, **kw)
        except ValueError:
            pass
        else:
            raise AssertionError(kw)


def test_mpu6500_family_wakes_on_motion_through_its_own_registers():
    # Same sampling registers, but wake-on-motion is ACCEL_INTEL_CTRL (0x69) + WOM_THR (0x1F,
    # 4 mg) + LP_ACCEL_ODR (0x1E), with the accel filter in ACCEL_CONFIG2 (0x1D); 512 B FIFO.
    mpu, bus, imu = _make(who=0x70)
    assert imu.family_6500 and imu.fifo_bytes == 512
    assert mpu.regs[0x1D] == imu.dlpf  # the accelerometer filtered like the gyro
    imu.motion_interrupt(160, 5)
    imu.standby(5)
    r = mpu.regs
    assert r[0x69] == 0xC0 and r[0x1F] == 40 and r[0x1D] == 0x09 and r[0x1E] == 4
    assert r[0x38] == 0x40 and r[0x37] & 0x20 and r[0x6C] == 0x07 and r[0x6B] & 0x20
    assert r[0x1C] == 0x18  # no MPU6050 high-pass bits written into ACCEL_CONFIG
    mpu, bus, imu = _make(who=0x68)
    imu.motion_interrupt(160, 5)
    imu.standby(5)
    assert not imu.family_6500 and imu.fifo_bytes == 1024
    assert mpu.regs[0x69] == 0x15 and mpu.regs[0x1F] == 80 and mpu.regs[0x20] == 5 and mpu.regs[0x6C] == 0x47


def test_wrong_who_am_i_is_an_error():
    mpu = FakeMPU6050(who_am_i=0x12)
    e = _raises_oserror(MPU6050, FakeI2C(mpu))
    assert "not an MPU6050" in str(e) and "0x12" in str(e)
    assert mpu.resets == 0  # nothing written to an unknown chip


def test_no_device_is_an_error():
    e = _raises_oserror(MPU6050, FakeI2C())
    assert str(e) == "no MPU6050 at 0x68"
    e = _raises_oserror(MPU6050, FakeI2C(FakeMPU6050(addr=0x68)), 0x69)
    assert str(e) == "no MPU6050 at 0x69"


def test_compatible_id_warns_and_works():
    for who in (0x70, 0x71, 0x73, 0x98):
        mpu, bus, imu = _make(who=who)
        assert imu.who_am_i == who
        assert imu.warning and ("0x%02x" % who) in imu.warning
        mpu.push(1, 2, 3, 4, 5, 6)
        buf = bytearray(10 * SAMPLE_BYTES)
        assert imu.read_fifo(buf) == 1


def test_fifo_burst_decodes_exact_values():
    mpu, bus, imu = _make()
    samples = (
        (0, 0, 2048, 0, 0, 0),
        (-1, 1, -2048, 164, -164, 0),
        (32767, -32768, 0, -32768, 32767, -1),
        (-32768, -32768, -32768, 32767, 32767, 32767),
        (256, -256, 255, -255, 128, -129),
    )
    for s in samples:
        mpu.push(*s)
    assert mpu.count == len(samples) * 12
    buf = bytearray(16 * SAMPLE_BYTES)
    n = imu.read_fifo(buf)
    assert n == len(samples)
    assert mpu.count == 0
    for out in (array.array("h", (0,) * 6), array.array("i", (0,) * 6)):
        for i in range(n):
            decode(buf, i, out)
            assert tuple(out) == samples[i], (i, tuple(out))
            imu.decode(buf, i, out)
            assert tuple(out) == samples[i]
    # The data registers hold the latest sample, big-endian.
    assert mpu.regs[fk.ACCEL_XOUT_H] == 0x01 and mpu.regs[fk.ACCEL_XOUT_H + 1] == 0x00


def test_read_fifo_leaves_what_does_not_fit():
    mpu, bus, imu = _make()
    buf = bytearray(4 * SAMPLE_BYTES)
    for i in range(10):
        mpu.push(i, 0, 0, 0, 0, -i)
    out = array.array("h", (0,) * 6)
    got = []
    while True:
        n = imu.read_fifo(buf)
        if not n:
            break
        assert n <= 4
        for i in range(n):
            decode(buf, i, out)
            got.append(out[0])
            assert out[5] == -out[0]
    assert got == list(range(10))
    assert imu.read_fifo(buf) == 0  # empty FIFO: nothing, no error


def test_partial_sample_stays_in_fifo():
    mpu, bus, imu = _make()
    mpu.push(7, 7, 7, 7, 7, 7)
    bus.writeto_mem(0x68, fk.FIFO_R_W, b"\x01\x02\x03")  # 3 stray bytes: 15 in the FIFO
    buf = bytearray(8 * SAMPLE_BYTES)
    assert imu.read_fifo(buf) == 1
    assert mpu.count == 3


def test_overflow_detected_and_recovered():
    mpu, bus, imu = _make()
    for i in range(100):  # 1200 bytes into a 1024-byte FIFO
        mpu.push(i, i, i, i, i, i)
    assert mpu.dropped == 1200 - 1024
    buf = bytearray(20 * SAMPLE_BYTES)
    assert imu.read_fifo(buf) == 0
    assert imu.overflows == 1 and imu.gap
    assert mpu.count == 0  # FIFO reset
    assert imu.take_gap() is True and imu.take_gap() is False
    # Sampling continues on a clean boundary.
    mpu.push(-5, 4, 3, 2, 1, 0)
    assert imu.read_fifo(buf) == 1
    out = array.array("h", (0,) * 6)
    decode(buf, 0, out)
    assert tuple(out) == (-5, 4, 3, 2, 1, 0)
    assert not imu.gap


def test_full_count_is_an_overflow_without_the_flag():
    mpu, bus, imu = _make()
    for _ in range(86):  # 1032 bytes: 8 dropped
        mpu.push(1, 1, 1, 1, 1, 1)
    bus.readfrom_mem(0x68, fk.INT_STATUS, 1)  # someone else read (and cleared) the flag
    assert mpu.regs[fk.INT_STATUS] == 0 and mpu.count == 1024
    assert imu.read_fifo(bytearray(120)) == 0
    assert imu.overflows == 1 and imu.take_gap()


class _SamplingI2C(FakeI2C):
    """The sensor goes on sampling while the burst is read: ``during`` samples arrive."""

    def __init__(self, mpu):
        super().__init__(mpu)
        self.mpu = mpu
        self.during = 0

    def readfrom_mem_into(self, addr, reg, buf, addrsize=8):
        if reg == fk.FIFO_R_W:
            for _ in range(self.during):
                self.mpu.push(7, 7, 7, 7, 7, 7)
            self.during = 0
        return super().readfrom_mem_into(addr, reg, buf, addrsize)


def test_a_fifo_that_fills_up_during_the_burst_is_an_overflow():
    mpu = FakeMPU6050()
    bus = _SamplingI2C(mpu)
    imu = MPU6050(bus, rate_hz=1000, sleep_ms=_nosleep)
    for i in range(80):  # 960 bytes counted ...
        mpu.push(i, i, i, i, i, i)
    bus.during = 10  # ... then 120 more: 56 of the oldest overwritten under the read
    assert imu.read_fifo(bytearray(85 * SAMPLE_BYTES)) == 0  # not 80 misaligned samples
    assert imu.overflows == 1 and imu.take_gap() and mpu.count == 0
    mpu.push(1, 2, 3, 4, 5, 6)  # a clean start
    buf = bytearray(85 * SAMPLE_BYTES)
    assert imu.read_fifo(buf) == 1
    out = array.array("h", (0,) * 6)
    decode(buf, 0, out)
    assert tuple(out) == (1, 2, 3, 4, 5, 6)


def test_no_allocation_in_read_fifo_and_decode():
    if not IS_MICROPYTHON:
        skip("heap_lock exists only on MicroPython")
    import micropython

    mpu, bus, imu = _make()
    mpu.log_writes = False
    buf = bytearray(40 * SAMPLE_BYTES)
    out = array.array("h", (0,) * 6)
    sums = array.array("i", (0,) * 6)
    imu.read_fifo(buf)  # first call with this buffer builds its views
    for i in range(30):
        mpu.push(i, -i, 2048, 32767, -32768, 1)
    micropython.heap_lock()
    try:
        n = imu.read_fifo(buf)
        for i in range(n):
            decode(buf, i, out)
            for k in range(6):
                sums[k] += out[k]
        for _ in range(90):  # overflow and its recovery, still without allocating
            mpu.push(1, 1, 1, 1, 1, 1)
        n2 = imu.read_fifo(buf)
    finally:
        micropython.heap_unlock()
    assert n == 30 and n2 == 0 and imu.overflows == 1
    assert sums[0] == 435 and sums[1] == -435 and sums[2] == 30 * 2048
    assert sums[3] == 30 * 32767 and sums[4] == -30 * 32768 and sums[5] == 30


def test_bus_faults_raise_and_clearing_them_resumes():
    mpu, bus, imu = _make()
    buf = bytearray(10 * SAMPLE_BYTES)
    for fault, err in (("timeout", fk.ETIMEDOUT), ("stuck_bus", fk.ETIMEDOUT)):
        mpu.push(1, 2, 3, 4, 5, 6)
        setattr(bus, fault, True)
        e = _raises_oserror(imu.read_fifo, buf)
        assert e.args[0] == err, (fault, e.args)
        setattr(bus, fault, False)
        assert imu.read_fifo(buf) == 1
    mpu.push(1, 2, 3, 4, 5, 6)
    mpu.nack = True
    assert _raises_oserror(imu.read_fifo, buf).args[0] == fk.EIO
    mpu.nack = False
    assert imu.read_fifo(buf) == 1
    bus.fail_next(2, fk.EIO)
    mpu.push(1, 2, 3, 4, 5, 6)
    assert _raises_oserror(imu.read_fifo, buf).args[0] == fk.EIO
    assert _raises_oserror(imu.read_fifo, buf).args[0] == fk.EIO
    assert imu.read_fifo(buf) == 1


def test_burst_cut_by_a_bus_error_resyncs_the_fifo():
    mpu, bus, imu = _make()
    buf = bytearray(10 * SAMPLE_BYTES)
    for i in range(3):
        mpu.push(i, i, i, i, i, i)
    bus.cut_next_read(fk.FIFO_R_W, 17)  # 1 sample and 5 bytes of the next, then EIO
    assert _raises_oserror(imu.read_fifo, buf).args[0] == fk.EIO
    assert mpu.count == 36 - 17  # misaligned now
    assert imu.read_fifo(buf) == 0
    assert imu.resyncs == 1 and imu.take_gap() and mpu.count == 0
    mpu.push(9, 8, 7, 6, 5, 4)
    assert imu.read_fifo(buf) == 1
    out = array.array("h", (0,) * 6)
    decode(buf, 0, out)
    assert tuple(out) == (9, 8, 7, 6, 5, 4)
    assert imu.resyncs == 1 and not imu.gap


def test_unplugged_sensor_needs_init_after_replug():
    mpu, bus, imu = _make()
    buf = bytearray(10 * SAMPLE_BYTES)
    mpu.unplugged = True
    assert bus.scan() == []
    assert _raises_oserror(imu.read_fifo, buf).args[0] == fk.ENODEV
    assert _raises_oserror(imu.init).args[0] == "no MPU6050 at 0x68"
    mpu.unplugged = False  # power-cycled: asleep, FIFO off
    assert bus.scan() == [0x68]
    assert mpu.push(1, 1, 1, 1, 1, 1) is False
    imu.init()
    mpu.push(1, 2, 3, 4, 5, 6)
    assert imu.read_fifo(buf) == 1


def test_recover_bus_clocks_scl_nine_times_then_stop():
    mpu, bus, imu = _make()
    bus.stuck_bus = True
    scl, sda = bus.pins()
    assert sda.value() == 0  # held low by the slave
    delays = []
    ok = recover_bus(scl, sda, delays.append)
    assert ok is True
    assert not bus.stuck_bus and bus.recoveries == 1
    assert scl.mode == scl.OPEN_DRAIN and sda.mode == sda.OPEN_DRAIN
    h = scl.history
    rising = sum(1 for j in range(1, len(h)) if h[j - 1] == 0 and h[j] == 1)
    assert rising == 10  # 9 clocks + the SCL rise of the STOP
    assert sda.history[-2:] == [0, 1]  # STOP: SDA low, then released while SCL high
    assert delays and all(d == 5 for d in delays)
    # The bus works again.
    mpu.push(1, 2, 3, 4, 5, 6)
    assert imu.read_fifo(bytearray(24)) == 1


def test_recover_bus_reports_failure_if_sda_stays_low():
    mpu, bus, imu = _make()
    bus.stuck_bus = True
    bus.stuck_clocks = 50  # a slave that never lets go within 9 clocks
    scl, sda = bus.pins()
    assert recover_bus(scl, sda, _nosleep) is False
    assert bus.stuck_bus


def test_motion_interrupt_and_standby():
    mpu, bus, imu = _make()
    imu.motion_interrupt(threshold_mg=100, duration_ms=5)
    r = mpu.regs
    assert r[fk.MOT_THR] == 50 and r[fk.MOT_DUR] == 5
    assert r[fk.INT_ENABLE] == 0x40 and r[fk.INT_PIN_CFG] == 0x20
    assert r[fk.ACCEL_CONFIG] == 0x19  # +-16 g with the 5 Hz high-pass
    assert r[fk.MOT_DETECT_CTRL] == 0x15
    imu.standby(wake_hz=5)
    assert r[fk.PWR_MGMT_1] == 0x28  # CYCLE | TEMP_DIS, internal oscillator
    assert r[fk.PWR_MGMT_2] == 0x47  # LP_WAKE 5 Hz, gyros in standby
    assert r[fk.USER_CTRL] == 0 and r[fk.FIFO_EN] == 0
    assert mpu.period_us() == 200000
    mpu.push(0, 0, 2048, 0, 0, 0)
    mpu.push(0, 0, 2048, 0, 0, 0)  # still: no interrupt
    assert not mpu.int_level()
    mpu.push(2048, 0, 2048, 0, 0, 0)  # a 1 g jolt
    assert mpu.int_level()  # latched until INT_STATUS is read
    assert imu.int_status() & 0x40
    assert not mpu.int_level()
    for kw in ({"threshold_mg": 0}, {"threshold_mg": 600}, {"duration_ms": 0}):
        try:
            imu.motion_interrupt(**kw)
        except ValueError:
            pass
        else:
            raise AssertionError(kw)
    try:
        imu.standby(wake_hz=7)
    except ValueError:
        pass
    else:
        raise AssertionError("wake_hz 7")


def test_sleep_and_wake_again():
    mpu, bus, imu = _make()
    imu.sleep()
    assert mpu.asleep()
    assert mpu.push(1, 1, 1, 1, 1, 1) is False
    imu.init()
    assert not mpu.asleep()
    mpu.push(1, 1, 1, 1, 1, 1)
    assert imu.read_fifo(bytearray(24)) == 1
