"""Raw IMU capture: the MPU6050's FIFO bytes for N seconds into a compact binary file.

Runners can contribute field recordings this way; on the laptop
``podtools.rawconv`` turns the file into pod-imu CSV v1. Use in the main loop::

    cap = RawCapture("/capture.raw", imu.period_us, seconds=60, start_epoch=None)
    while cap.active:
        n = imu.read_fifo(buf)                       # whole 12-byte samples
        cap.add(buf, n, time.ticks_us(), imu.take_gap())
    # add() closes the file itself after `seconds` worth of samples; cap.close() ends early

``add`` copies the bytes into a preallocated block buffer (nothing allocated per sample, a
few small views per call) and writes a block when it is full; the file is flushed every
``flush_blocks`` blocks, so a power cut loses at most that much. Samples stay exactly as the
FIFO gives them (big-endian int16 ax ay az gx gy gz); ``add_sample`` takes one decoded
sample (six ints) for sources without a FIFO.

Time: each block carries the ticks of its first sample. Within a run of contiguous samples
the stamps are exact multiples of ``period_us`` from the run's first stamp (the sensor's
clock, not the loop's, times the samples). A run starts at the first block and after every
gap (the driver's overflow flag, ``gap=True``): its stamp is estimated from the ticks of the
read that brought the samples, ``ticks - (n - 1) * period - period / 2`` (the newest sample is
on average half a period old), so a gap appears as a jump in the stamps. ``seconds`` counts
captured samples (``seconds * 1e6 // period_us``); time lost in gaps is not counted.

File layout (header little-endian; samples big-endian as in the FIFO)::

    header, 32 bytes
    0   4s  magic b"PRAW"
    4   B   version (1)
    5   B   header length (32; a reader skips what it does not know)
    6   H   block_samples (most samples in one block)
    8   I   period_us (exact sample period: 1000 * (SMPLRT_DIV + 1) with the DLPF on)
    12  B   accel_fs_g (16)
    13  B   sample_bytes (12)
    14  H   gyro_fs_dps (2000)
    16  I   start_ticks_us (ticks when the capture was created)
    20  I   seconds requested
    24  I   start_epoch (Unix seconds; 0 when the clock was not set)
    28  I   reserved (0)

    block, repeated
    0   B   marker 0xB1
    1   B   flags: bit0 RUN_START (stamp is measured; samples before it may be missing),
                   bit1 GAP (the driver reported lost samples before this block)
    2   H   n (samples in this block)
    4   I   stamp: ticks_us of the block's first sample (2**30 wrap)
    8   12n samples: ax ay az gx gy gz, int16 big-endian each
"""

import struct

from compat import const, ticks_add, ticks_us

MAGIC = b"PRAW"
VERSION = const(1)
HEADER_LEN = const(32)
BLOCK_MARKER = const(0xB1)
BLOCK_HEAD = const(8)
SAMPLE_BYTES = const(12)
RUN_START = const(1)
GAP = const(2)
HEADER_FMT = "<4sBBHIBBHIIII"


class RawCapture:
    """Writes one raw capture file; see the module docstring for the layout and the timing."""

    def __init__(self, path_or_file, period_us, seconds, start_epoch=None, accel_fs_g=16,
                 gyro_fs_dps=2000, block_samples=64, flush_blocks=8, clock=None):
        if period_us <= 0 or seconds <= 0:
            raise ValueError("period_us and seconds must be positive")
        if not 1 <= block_samples <= 1024:
            raise ValueError("block_samples must be 1..1024")
        self.period_us = period_us
        self.block_samples = block_samples
        self._flush_blocks = flush_blocks
        self._clock = clock or ticks_us
        self.remaining = seconds * 1000000 // period_us  # samples still to capture
        self.samples = 0
        self.blocks = 0
        self.gaps = 0
        # One block (head + samples) reused for the whole capture: no allocation per sample.
        self._buf = bytearray(BLOCK_HEAD + block_samples * SAMPLE_BYTES)
        self._mv = memoryview(self._buf)
        self._n = 0  # samples in the current block
        self._stamp = 0  # ticks of the current block's first sample
        self._next_stamp = 0  # ticks the next contiguous sample will carry
        self._flags = 0  # flags of the open block
        self._pending = RUN_START  # flags for the next block to open
        self._started = False
        self._owns = not hasattr(path_or_file, "write")
        self._f = open(path_or_file, "wb") if self._owns else path_or_file
        start = self._clock()
        self._f.write(struct.pack(HEADER_FMT, MAGIC, VERSION, HEADER_LEN, block_samples, period_us,
                                  accel_fs_g, SAMPLE_BYTES, gyro_fs_dps, start, seconds,
                                  start_epoch or 0, 0))
        self._f.flush()

    @property
    def active(self):
        return self._f is not None

    def _begin(self, n_new, ticks, gap):
        # A new run starts with the next sample: estimate its time from the read's ticks.
        if self._n:
            self._write_block()
        if gap:
            self._pending |= GAP
            self.gaps += 1
        if ticks is None:
            ticks = self._clock()
        p = self.period_us
        self._next_stamp = ticks_add(ticks, -((n_new - 1) * p + p // 2))
        self._pending |= RUN_START
        self._started = True

    def _write_block(self):
        b = self._buf
        n = self._n
        b[0] = BLOCK_MARKER
        b[1] = self._flags
        b[2] = n & 0xFF
        b[3] = n >> 8
        struct.pack_into("<I", b, 4, self._stamp)
        self._f.write(self._mv[0:BLOCK_HEAD + n * SAMPLE_BYTES])
        self.blocks += 1
        self._flags = 0
        self._n = 0
        if self.blocks % self._flush_blocks == 0:
            self._f.flush()

    def _room(self):
        # Called before storing a sample: open a block if none is open, return its free slots.
        if self._n == 0:
            self._stamp = self._next_stamp
            self._flags = self._pending
            self._pending = 0
        return self.block_samples - self._n

    def add(self, buf, n, ticks=None, gap=False):
        """Store ``n`` FIFO samples (``n * 12`` bytes) from ``buf``; ``ticks`` is when they
        were read, ``gap`` the driver's overflow flag. Returns False once the capture is over."""
        if self._f is None:
            return False
        if gap or not self._started:
            if n <= 0:
                if gap:  # remember it for the next read that brings samples
                    if self._n:
                        self._write_block()
                    self._started = False
                    self._pending |= GAP
                    self.gaps += 1
                return True
            self._begin(n, ticks, gap)
        if n > self.remaining:
            n = self.remaining
        src = memoryview(buf)
        i = 0
        while i < n:
            k = self._room()
            if k > n - i:
                k = n - i
            o = BLOCK_HEAD + self._n * SAMPLE_BYTES
            self._mv[o:o + k * SAMPLE_BYTES] = src[i * SAMPLE_BYTES:(i + k) * SAMPLE_BYTES]
            self._count(k)
            i += k
        if self.remaining <= 0:
            self.close()
            return False
        return True

    def _count(self, k):
        self._n += k
        self.samples += k
        self.remaining -= k
        self._next_stamp = ticks_add(self._next_stamp, k * self.period_us)
        if self._n == self.block_samples:
            self._write_block()

    def add_sample(self, s, ticks=None, gap=False):
        """Store one sample given as six ints (ax, ay, az, gx, gy, gz) in counts."""
        if self._f is None:
            return False
        if gap or not self._started:
            self._begin(1, ticks, gap)
        self._room()
        b = self._buf
        o = BLOCK_HEAD + self._n * SAMPLE_BYTES
        for j in range(6):
            v = s[j]
            b[o] = (v >> 8) & 0xFF  # big-endian, as the FIFO delivers it
            b[o + 1] = v & 0xFF
            o += 2
        self._count(1)
        if self.remaining <= 0:
            self.close()
            return False
        return True

    def close(self):
        """Write the partial block, flush and close (an owned file). Safe to call twice.
        False if the last block could not be written (the blocks before it stay readable);
        the file is closed either way."""
        f = self._f
        if f is None:
            return True
        try:
            if self._n:
                self._write_block()
            f.flush()
            return True
        except OSError:
            return False
        finally:
            self._f = None
            if self._owns:
                try:
                    f.close()
                except OSError:
                    pass
