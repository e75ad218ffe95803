"""Raw capture -> pod-imu CSV on the laptop, through the pod's own RawCapture writer."""
import struct
from pathlib import Path

import numpy as np
import pytest
import rawcapture

from podtools import podcsv, rawconv
from podtools.errors import PodError

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def _fifo(rows):
    return b"".join(struct.pack(">6h", *map(int, r)) for r in rows)


def _capture(path, bursts, period_us=5000, seconds=60, block_samples=16, start=(1 << 30) - 30000):
    """Write a capture; ``bursts`` is [(rows, read_ticks, gap)]."""
    cap = rawcapture.RawCapture(str(path), period_us, seconds, start_epoch=1767225600,
                                block_samples=block_samples, clock=lambda: start)
    for rows, ticks, gap in bursts:
        cap.add(_fifo(rows), len(rows), ticks, gap)
    cap.close()
    return cap


def _rows(first, n):
    k = np.arange(first, first + n)
    return np.column_stack([k, -k, 2 * k, k % 7, -32768 + 0 * k, 32767 + 0 * k])


def test_contiguous_capture_converts_to_csv(tmp_path):
    raw, csv = tmp_path / "cap.raw", tmp_path / "cap.csv"
    t = (1 << 30) - 30000  # ticks wrap during the capture
    bursts, k = [], 0
    for n in (5, 20, 11, 40, 3):
        t = (t + n * 5000) & ((1 << 30) - 1)
        bursts.append((_rows(k, n), t, False))
        k += n
    _capture(raw, bursts)
    rec, warnings = rawconv.convert(raw, csv)
    assert warnings == []
    back = podcsv.read(csv)
    assert back.rate_hz == 200 and back.accel_fs_g == 16 and back.gyro_fs_dps == 2000
    assert back.meta["start_epoch"] == "1767225600" and "gaps" not in back.meta
    assert np.array_equal(back.t_us, 5000 * np.arange(79))
    assert np.array_equal(back.imu, _rows(0, 79))


def test_gap_shows_in_t_us(tmp_path):
    raw = tmp_path / "gap.raw"
    _capture(raw, [(_rows(0, 10), 1_000_000, False), (np.zeros((0, 6)), 1_100_000, True),
                   (_rows(100, 30), 1_600_000, False)])
    rec, warnings = rawconv.decode(raw.read_bytes())
    assert warnings == [] and rec.meta["gaps"] == 1 and len(rec) == 40
    assert np.array_equal(rec.t_us[:10], 5000 * np.arange(10))
    # the run after the gap starts at its measured stamp: (1.6 s - 29.5 periods) - (1.0 s - 9.5 periods)
    t_gap = (1_600_000 - 29 * 5000 - 2500) - (1_000_000 - 9 * 5000 - 2500)
    assert rec.t_us[10] == t_gap and np.array_equal(np.diff(rec.t_us[10:]), np.full(29, 5000))
    assert np.array_equal(rec.imu[10:], _rows(100, 30))


def test_non_integer_rate_and_truncated_tail(tmp_path):
    raw, csv = tmp_path / "odd.raw", tmp_path / "odd.csv"
    _capture(raw, [(_rows(0, 50), 200_000, False)], period_us=3000)  # SMPLRT_DIV 2: 333.33 Hz
    data = raw.read_bytes()
    raw.write_bytes(data[:-20])  # power cut in the last block
    rec, warnings = rawconv.convert(raw, csv)
    assert len(rec) == 48 and "truncated last block" in warnings[0]
    back = podcsv.read(csv)
    assert abs(back.rate_hz - 1e6 / 3000) < 1e-3 and np.array_equal(back.t_us, 3000 * np.arange(48))


def test_not_a_capture_is_a_user_error(tmp_path):
    bad = tmp_path / "x.raw"
    bad.write_bytes(b"hello world, not a capture at all")
    with pytest.raises(PodError, match="not a pod raw capture"):
        rawconv.convert(bad, tmp_path / "x.csv")
    with pytest.raises(PodError, match="no such file"):
        rawconv.convert(tmp_path / "missing.raw", tmp_path / "x.csv")


@pytest.mark.skipif(not (SHARED / "gaitmap_walk_left.csv").exists(), reason="shared data not present")
def test_real_recording_round_trips_bit_exact(tmp_path):
    src = podcsv.read(SHARED / "gaitmap_walk_left.csv")
    imu = src.imu[:3000]
    raw = tmp_path / "real.raw"
    bursts, t = [], 0
    for i in range(0, len(imu), 37):  # uneven FIFO bursts
        chunk = imu[i:i + 37]
        t += len(chunk) * 5000
        bursts.append((chunk, t, False))
    _capture(raw, bursts, block_samples=64)
    rec, warnings = rawconv.decode(raw.read_bytes())
    assert warnings == [] and np.array_equal(rec.imu, imu)
    assert np.array_equal(rec.t_us, 5000 * np.arange(len(imu)))
