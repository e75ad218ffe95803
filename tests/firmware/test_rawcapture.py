"""Raw capture files: header, blocks, exact stamps within a run, gaps, the N-second limit.

The file is parsed here with a few lines of struct (the laptop's converter needs numpy and
is tested in tests/test_rawconv.py).
"""
import struct
from array import array

import rawcapture as rc
from _support import IS_MICROPYTHON, skip
from compat import TICKS_MAX, ticks_add, ticks_diff
from test_sessionlog import make_fs_dir


def _fifo(first, n):
    """n FIFO samples, big-endian; sample k holds (k, -k, 2k, k+1000, -32768, 32767) from first."""
    out = bytearray()
    for k in range(first, first + n):
        out += struct.pack(">6h", k, -k, 2 * k, k + 1000, -32768, 32767)
    return out


def _parse(data):
    head = struct.unpack_from(rc.HEADER_FMT, data, 0)
    blocks = []
    i = head[2]
    while i < len(data):
        marker, flags, n, stamp = struct.unpack_from("<BBHI", data, i)
        assert marker == rc.BLOCK_MARKER
        body = data[i + 8:i + 8 + 12 * n]
        blocks.append((flags, n, stamp, [struct.unpack_from(">6h", body, 12 * j) for j in range(len(body) // 12)]))
        i += 8 + 12 * n
    return head, blocks


def _read(path):
    with open(path, "rb") as f:
        return f.read()


def test_header_blocks_and_exact_stamps():
    d = make_fs_dir()
    path = d + "/cap.raw"
    start = TICKS_MAX - 20000  # the stamps wrap during the capture
    cap = rc.RawCapture(path, 5000, seconds=2, start_epoch=1767225600, block_samples=16, clock=lambda: start)
    k = 0
    t = start
    for burst in (5, 20, 11, 40, 3):
        t = ticks_add(t, burst * 5000)
        assert cap.add(_fifo(k, burst), burst, t)
        k += burst
    cap.close()
    assert not cap.active and cap.samples == k == 79 and cap.gaps == 0
    head, blocks = _parse(_read(path))
    assert head[0] == rc.MAGIC and head[1] == 1 and head[3] == 16 and head[4] == 5000
    assert head[5] == 16 and head[6] == 12 and head[7] == 2000 and head[8] == start
    assert head[9] == 2 and head[10] == 1767225600
    assert [b[1] for b in blocks] == [16, 16, 16, 16, 15]
    assert blocks[0][0] == rc.RUN_START and all(b[0] == 0 for b in blocks[1:])
    first = ticks_add(start, 25000 - 4 * 5000 - 2500)  # read at start+25 ms brought 5 samples
    assert blocks[0][2] == first
    for j, b in enumerate(blocks):
        assert b[2] == ticks_add(first, 16 * j * 5000)  # exact multiples of the period
    samples = [s for b in blocks for s in b[3]]
    assert samples[0] == (0, 0, 0, 1000, -32768, 32767) and samples[78] == (78, -78, 156, 1078, -32768, 32767)
    assert [s[0] for s in samples] == list(range(79))


def test_gap_starts_a_new_run_with_a_measured_stamp():
    d = make_fs_dir()
    path = d + "/gap.raw"
    cap = rc.RawCapture(path, 5000, seconds=10, block_samples=32)
    cap.add(_fifo(0, 10), 10, 1000000)
    cap.add(bytearray(0), 0, 1100000, True)  # FIFO overflow: the driver returns 0 and flags a gap
    cap.add(_fifo(500, 10), 10, 1600000)
    cap.add(_fifo(510, 4), 4, 1620000)
    cap.close()
    assert cap.gaps == 1 and cap.samples == 24
    _, blocks = _parse(_read(path))
    assert [(b[0], b[1]) for b in blocks] == [(rc.RUN_START, 10), (rc.RUN_START | rc.GAP, 14)]
    assert blocks[0][2] == 1000000 - 9 * 5000 - 2500
    assert blocks[1][2] == 1600000 - 9 * 5000 - 2500
    assert ticks_diff(blocks[1][2], blocks[0][2]) > 10 * 5000  # the jump shows the lost time
    assert blocks[1][3][0][0] == 500 and blocks[1][3][13][0] == 513


def test_stops_after_n_seconds_and_add_sample_encodes_big_endian():
    d = make_fs_dir()
    path = d + "/short.raw"
    cap = rc.RawCapture(path, 250000, seconds=1, block_samples=3)  # 4 Hz: 4 samples
    assert cap.add_sample((1, -2, 300, -400, 32767, -32768), 0)
    assert cap.add(_fifo(7, 2), 2, 750000)
    assert not cap.add(_fifo(9, 5), 5, 2000000)  # only one more fits, then it closes
    assert not cap.active and cap.samples == 4 and not cap.add(_fifo(0, 1), 1)
    _, blocks = _parse(_read(path))
    samples = [s for b in blocks for s in b[3]]
    assert samples == [(1, -2, 300, -400, 32767, -32768), (7, -7, 14, 1007, -32768, 32767),
                       (8, -8, 16, 1008, -32768, 32767), (9, -9, 18, 1009, -32768, 32767)]
    assert [b[1] for b in blocks] == [3, 1]


def test_rejects_bad_parameters():
    for kw in ({"period_us": 0, "seconds": 1}, {"period_us": 5000, "seconds": 0},
               {"period_us": 5000, "seconds": 1, "block_samples": 0}):
        try:
            rc.RawCapture(None, **kw)
        except ValueError:
            continue
        raise AssertionError("accepted %r" % (kw,))


def test_add_sample_does_not_allocate():
    if not IS_MICROPYTHON:
        skip("heap_lock is MicroPython's")
    import micropython

    d = make_fs_dir()
    cap = rc.RawCapture(d + "/nalloc.raw", 5000, seconds=60, block_samples=64)
    s = array("h", (1, 2, 3, 4, 5, 6))
    cap.add_sample(s, 0)
    micropython.heap_lock()
    try:
        for _ in range(60):  # stays inside the block: no write
            cap.add_sample(s)
    finally:
        micropython.heap_unlock()
    cap.close()
    assert cap.samples == 61
