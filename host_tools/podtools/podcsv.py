"""pod-imu CSV version 1: the pod's recording format, and its ground-truth sidecar.

    # pod-imu 1
    # rate_hz=204.8 accel_fs_g=16 gyro_fs_dps=2000
    # source: free text
    t_us,ax,ay,az,gx,gy,gz
    0,1965,184,577,-1,-2,-1

Counts are signed 16-bit MPU6050 counts at the declared full-scale ranges; ``t_us`` is the
time since the start of the recording (gaps allowed, rate may be non-integer: trust t_us).

The sidecar ``NAME.events.csv`` has one row per stride of the instrumented foot: ``ic_us``
(initial contact) and ``tc_us`` (the toe-off that precedes it). The simulator adds the
per-stride truth it knows: ``contact_ms`` (of the stance that starts at ic_us),
``strike_angle_deg``, ``strike``, ``overstride``, ``activity``.
"""

import csv
import io
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import PodError

MAGIC = "# pod-imu 1"
COLUMNS = ("t_us", "ax", "ay", "az", "gx", "gy", "gz")
EVENT_COLUMNS = ("ic_us", "tc_us", "contact_ms", "strike_angle_deg", "strike", "overstride", "activity")
ACCEL_RANGES_G = (2, 4, 8, 16)
GYRO_RANGES_DPS = (250, 500, 1000, 2000)
GYRO_LSB_PER_DPS = {250: 131.0, 500: 65.5, 1000: 32.8, 2000: 16.4}  # MPU6050 datasheet


@dataclass
class Recording:
    """A pod-imu recording: ``t_us`` (int64, N) and ``imu`` (int16 counts, N x 6)."""

    t_us: np.ndarray
    imu: np.ndarray
    rate_hz: float
    accel_fs_g: int = 16
    gyro_fs_dps: int = 2000
    source: str = ""
    meta: dict = field(default_factory=dict)

    def __len__(self):
        return len(self.t_us)

    @property
    def duration_s(self):
        return float(self.t_us[-1] - self.t_us[0]) / 1e6 if len(self.t_us) else 0.0

    @property
    def period_us(self):
        return int(round(1e6 / self.rate_hz))

    @property
    def accel_lsb_per_g(self):
        return 32768 // self.accel_fs_g

    @property
    def gyro_lsb_per_dps(self):
        return GYRO_LSB_PER_DPS[self.gyro_fs_dps]


def _fmt_rate(rate):
    text = ("%.6f" % rate).rstrip("0").rstrip(".")
    return text


def write(path, rec):
    """Write ``rec`` as pod-imu CSV v1 (integers only; values must already be int16)."""
    imu = np.asarray(rec.imu)
    t = np.asarray(rec.t_us)
    if imu.ndim != 2 or imu.shape[1] != 6 or len(t) != len(imu):
        raise ValueError("recording needs t_us (N) and imu (N x 6)")
    if imu.size and (imu.min() < -32768 or imu.max() > 32767):
        raise ValueError("IMU counts must be int16")
    extra = "".join(" %s=%s" % (k, v) for k, v in rec.meta.items())
    header = [
        MAGIC,
        "# rate_hz=%s accel_fs_g=%d gyro_fs_dps=%d%s" % (_fmt_rate(rec.rate_hz), rec.accel_fs_g, rec.gyro_fs_dps, extra),
        "# source: %s" % (rec.source.replace("\n", " ") or "unknown"),
        ",".join(COLUMNS),
    ]
    table = np.column_stack([t.astype(np.int64), imu.astype(np.int64)])
    buf = io.StringIO()
    buf.write("\n".join(header) + "\n")
    np.savetxt(buf, table, fmt="%d", delimiter=",")
    Path(path).write_text(buf.getvalue())


def _parse_meta(line, path):
    meta = {}
    for item in line.lstrip("#").split():
        if "=" not in item:
            raise PodError("%s: line 2: expected key=value pairs, got %r" % (path, item))
        key, value = item.split("=", 1)
        meta[key] = value
    return meta


_INT = re.compile(r"\s*[-+]?\d{1,18}\s*$")  # a plain integer that fits numpy's int64


def _sample_ok(line):
    parts = line.split(",")
    return len(parts) == 7 and all(_INT.match(p) for p in parts)


def read(path):
    """Read a pod-imu CSV v1 file; a malformed file raises PodError with the line."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise PodError("%s: no such file" % path) from None
    except (OSError, UnicodeDecodeError) as e:
        raise PodError("%s: cannot read (%s)" % (path, e)) from None
    lines = text.splitlines()
    if not lines or lines[0].strip() != MAGIC:
        raise PodError("%s: not a pod-imu v1 recording (first line must be %r)" % (path, MAGIC))
    meta, source, i = {}, "", 1
    while i < len(lines) and lines[i].startswith("#"):
        line = lines[i]
        if line.startswith("# source:"):
            source = line[len("# source:"):].strip()
        elif "=" in line:
            meta.update(_parse_meta(line, path))
        i += 1
    if i >= len(lines) or tuple(c.strip() for c in lines[i].split(",")) != COLUMNS:
        raise PodError("%s: line %d: expected the column header %s" % (path, i + 1, ",".join(COLUMNS)))
    try:
        rate = float(meta.pop("rate_hz"))
        accel_fs = int(meta.pop("accel_fs_g", 16))
        gyro_fs = int(meta.pop("gyro_fs_dps", 2000))
    except KeyError:
        raise PodError("%s: header lacks rate_hz" % path) from None
    except ValueError as e:
        raise PodError("%s: bad header value (%s)" % (path, e)) from None
    if not 1 <= rate <= 10000:
        raise PodError("%s: rate_hz=%s is out of range" % (path, rate))
    if accel_fs not in ACCEL_RANGES_G or gyro_fs not in GYRO_RANGES_DPS:
        raise PodError("%s: unsupported ranges accel_fs_g=%d gyro_fs_dps=%d" % (path, accel_fs, gyro_fs))
    body = [ln for ln in lines[i + 1:] if ln.strip()]
    if body and not text.endswith("\n") and not _sample_ok(body[-1]):
        # Cut off mid-line (a copy or a capture interrupted): that sample is dropped.
        print("warning: %s: the last line is incomplete and was left out" % path, file=sys.stderr)
        body.pop()
    if body:
        try:
            table = np.loadtxt(io.StringIO("\n".join(body)), delimiter=",", dtype=np.int64, ndmin=2)
        except ValueError:
            n = i + 2
            for ln in lines[i + 1:]:
                if ln.strip() and not _sample_ok(ln):
                    break
                n += 1
            if n > len(lines):
                raise PodError("%s: sample rows need 7 integers t_us,ax,ay,az,gx,gy,gz" % path) from None
            raise PodError("%s: line %d: expected 7 integers t_us,ax,ay,az,gx,gy,gz, got %r"
                           % (path, n, lines[n - 1][:60])) from None
        if table.shape[1] != 7:
            raise PodError("%s: sample rows need 7 integer columns" % path)
    else:
        table = np.zeros((0, 7), dtype=np.int64)
    t_us, imu = table[:, 0], table[:, 1:]
    if imu.size and (imu.min() < -32768 or imu.max() > 32767):
        raise PodError("%s: IMU counts outside the int16 range" % path)
    if len(t_us) > 1 and np.any(np.diff(t_us) <= 0):
        bad = int(np.argmax(np.diff(t_us) <= 0)) + 1
        raise PodError("%s: t_us does not increase at sample %d" % (path, bad))
    if len(t_us) > 10:  # (a short step: lost samples, even half of them, leave it at the period)
        step = float(np.percentile(np.diff(t_us), 10))
        if not 0.8 < step * rate / 1e6 < 1.25:
            raise PodError("%s: the header says rate_hz=%g, but the samples come every %.0f us (%.4g Hz)"
                           % (path, rate, step, 1e6 / step))
    return Recording(t_us=t_us, imu=imu.astype(np.int16), rate_hz=rate, accel_fs_g=accel_fs,
                     gyro_fs_dps=gyro_fs, source=source, meta=meta)


def is_recording(head):
    """Whether a file's first bytes are a pod-imu recording's (errors.replaceable)."""
    return head.startswith(b"# pod-imu ")


def is_events(head):
    """Whether a file's first bytes are a truth sidecar's (errors.replaceable)."""
    return head.startswith(b"ic_us,")


def events_path(rec_path):
    """``NAME.csv`` -> ``NAME.events.csv``."""
    p = Path(rec_path)
    return p.with_name(p.name[:-4] + ".events.csv" if p.name.endswith(".csv") else p.name + ".events.csv")


_CHOICES = {"strike": ("rearfoot", "midfoot", "forefoot"), "activity": ("walk", "run")}


def _convert(column, value):
    if value == "":
        return None
    if column in ("ic_us", "tc_us", "contact_ms", "overstride"):
        x = float(value)
        if not -2.0**62 < x < 2.0**62:  # (nan and inf fail this too)
            raise ValueError("%s %s is out of range" % (column, value))
        return int(x)
    if column == "strike_angle_deg":
        x = float(value)
        if not -90.0 <= x <= 90.0:  # (nan fails this too)
            raise ValueError("strike_angle_deg %s is not an angle of the foot" % value)
        return x
    if column in _CHOICES and value not in _CHOICES[column]:
        raise ValueError("%s %r is not one of %s" % (column, value, ", ".join(_CHOICES[column])))
    return value


def read_events(path):
    """Read a sidecar: a list of dicts, one per stride, with the columns present."""
    path = Path(path)
    try:
        with path.open(newline="") as f:
            reader = csv.DictReader(f)
            rows = list(reader)
            columns = reader.fieldnames or ()
    except FileNotFoundError:
        raise PodError("%s: no ground truth beside the recording" % path) from None
    except (OSError, UnicodeDecodeError) as e:
        raise PodError("%s: cannot read (%s)" % (path, e)) from None
    if "ic_us" not in [c.strip() for c in columns]:
        # (an idle recording's truth is the header alone: no strides)
        raise PodError("%s: line 1: expected a header with ic_us (and tc_us)" % path)
    out = []
    for n, row in enumerate(rows, start=2):
        try:
            out.append({k: _convert(k, (v or "").strip()) for k, v in row.items() if k})
        except ValueError as e:
            raise PodError("%s: line %d: %s" % (path, n, e)) from None
        if out[-1].get("ic_us") is None:
            raise PodError("%s: line %d: ic_us is required" % (path, n))
    # one row per stride, in time order (scoring pairs each detection with the next truth)
    out.sort(key=lambda e: e["ic_us"])
    for a, b in zip(out, out[1:]):
        if a["ic_us"] == b["ic_us"]:
            raise PodError("%s: two rows have ic_us %d: one row per stride" % (path, a["ic_us"]))
    return out


def write_events(path, events):
    """Write sidecar rows (dicts); columns are the known ones present in any row, in order."""
    present = [c for c in EVENT_COLUMNS if any(c in e for e in events)] or ["ic_us", "tc_us"]
    with Path(path).open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(present)
        for e in events:
            row = []
            for c in present:
                v = e.get(c)
                if v is None:
                    row.append("")
                elif isinstance(v, float):
                    row.append("%.2f" % v)
                else:
                    row.append(str(v))
            w.writerow(row)
