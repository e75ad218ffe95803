"""Convert a pod's raw IMU capture (``firmware/rawcapture.py``) to pod-imu CSV v1.

    rec, warnings = rawconv.decode(data)        # bytes of the capture file
    rawconv.convert("capture.raw", "run.csv")   # the same, written with podcsv.write

``t_us`` starts at 0 at the first sample. Within a run of contiguous samples it steps by the
exact sample period; a run that starts after a gap begins at its block's measured stamp, so
lost samples show up as a jump in ``t_us`` (pod-imu CSV allows gaps). A truncated last block
(power cut while capturing) keeps its whole samples and is reported in the warnings.
"""

import struct
from pathlib import Path

import numpy as np

from . import podcsv
from .errors import PodError

MAGIC = b"PRAW"
HEADER_FMT = "<4sBBHIBBHIIII"
HEADER_LEN = struct.calcsize(HEADER_FMT)  # 32
BLOCK_MARKER = 0xB1
BLOCK_HEAD = 8
RUN_START = 1
GAP = 2
_TICKS_MAX = (1 << 30) - 1
_TICKS_HALF = 1 << 29


def _ticks_diff(end, start):
    return ((end - start + _TICKS_HALF) & _TICKS_MAX) - _TICKS_HALF


def parse_header(data):
    """The capture header as a dict; PodError if ``data`` is not a raw capture."""
    if len(data) < HEADER_LEN or data[:4] != MAGIC:
        raise PodError("not a pod raw capture (no PRAW header)")
    (_, version, hlen, block_samples, period_us, accel_fs, sample_bytes, gyro_fs, start_ticks,
     seconds, epoch, _) = struct.unpack_from(HEADER_FMT, data, 0)
    if version != 1:
        raise PodError("raw capture version %d is newer than these tools (update podtools)" % version)
    if sample_bytes != 12 or period_us <= 0 or hlen < HEADER_LEN:
        raise PodError("raw capture header is damaged (sample_bytes=%d period_us=%d)" % (sample_bytes, period_us))
    return {"version": version, "header_len": hlen, "block_samples": block_samples,
            "period_us": period_us, "rate_hz": 1e6 / period_us, "accel_fs_g": accel_fs,
            "gyro_fs_dps": gyro_fs, "start_ticks_us": start_ticks, "seconds": seconds,
            "start_epoch": epoch or None}


def decode(data, source="pod raw capture"):
    """Decode a capture's bytes: ``(podcsv.Recording, warnings)``; PodError if they are not
    a capture or hold no samples."""
    head = parse_header(data)
    period = head["period_us"]
    warnings = []
    chunks, times = [], []
    i = head["header_len"]
    t_abs = None  # unwrapped ticks of the next contiguous sample
    last_stamp = last_stamp_t = 0
    gaps = 0
    while i < len(data):
        if len(data) - i < BLOCK_HEAD:
            warnings.append("truncated block header at offset %d" % i)
            break
        marker, flags, n, stamp = struct.unpack_from("<BBHI", data, i)
        if marker != BLOCK_MARKER:
            warnings.append("bad block marker at offset %d; the rest is ignored" % i)
            break
        body = data[i + BLOCK_HEAD:i + BLOCK_HEAD + 12 * n]
        whole = len(body) // 12
        if whole < n:
            warnings.append("truncated last block at offset %d: %d of %d samples" % (i, whole, n))
        if t_abs is None:
            block_t = 0
        elif flags & RUN_START:
            block_t = last_stamp_t + _ticks_diff(stamp, last_stamp)
            block_t = max(block_t, t_abs)  # an estimate never runs backwards into the last run
            gaps += 1
        else:
            block_t = t_abs
            drift = _ticks_diff(stamp, last_stamp) - (block_t - last_stamp_t)
            if drift:
                warnings.append("block at offset %d: stamp off by %d us" % (i, drift))
        last_stamp, last_stamp_t = stamp, block_t
        if whole:
            chunks.append(np.frombuffer(body[:whole * 12], dtype=">i2").reshape(whole, 6))
            times.append(block_t + period * np.arange(whole, dtype=np.int64))
        t_abs = block_t + period * whole
        i += BLOCK_HEAD + 12 * n
    if not chunks:
        raise PodError("the capture holds no samples")
    imu = np.concatenate(chunks).astype(np.int16)
    t_us = np.concatenate(times)
    meta = {"period_us": period}
    if gaps:
        meta["gaps"] = gaps
    if head["start_epoch"]:
        meta["start_epoch"] = head["start_epoch"]
    rec = podcsv.Recording(t_us=t_us, imu=imu, rate_hz=head["rate_hz"], accel_fs_g=head["accel_fs_g"],
                           gyro_fs_dps=head["gyro_fs_dps"], source=source, meta=meta)
    return rec, warnings


def convert(raw_path, csv_path, source=None):
    """Read ``raw_path``, write pod-imu CSV to ``csv_path``; returns ``(recording, warnings)``."""
    raw_path = Path(raw_path)
    try:
        data = raw_path.read_bytes()
    except FileNotFoundError:
        raise PodError("%s: no such file" % raw_path) from None
    try:
        rec, warnings = decode(data, source or "pod raw capture %s" % raw_path.name)
    except PodError as e:
        raise PodError("%s: %s" % (raw_path, e)) from None
    podcsv.write(csv_path, rec)
    return rec, warnings
