"""Session files on the pod's flash: one append-only file per run, every record with a CRC32.

The pod writes a session with ``SessionWriter``; ``pod sync`` on the laptop imports this
same module under CPython and reads the files with ``parse_records`` / ``read_session``.

Use on the pod (the main loop calls these *between clicks*, never in a time-critical path:
one record is written and flushed once per call, a few tens of bytes every 10 s)::

    if not ensure_space("/sessions", 32768):      # before starting: about 1.5 h of records
        signal flash full, do not record
    sid = new_session_id("/sessions", rand16)
    w = SessionWriter("/sessions", sid, {"firmware": "0.1", "config": cfg,
                                         "start_epoch": None, "start_ticks_ms": t})
    w.interval({"t_offset_s": 0, "dur_ms": 10000, "steps": 30, ...})  # every interval
    w.event(12345, "low_cadence", 1652)                               # alerts and faults
    w.close({"reason": "idle", "duration_ms": 600000})                # totals filled in

Every method returns True when the record is on flash, False if writing failed (flash
full or an I/O error) twice: a failed write is tried once more, first calling
``w.make_room()`` (if set) when the flash was full. After a failure the writer is closed
(``w.failed`` holds the errno) and the caller stops recording and signals it. The
constructor writes the HEADER at once (check ``w.failed``) and raises OSError only if the
file cannot be created at all. A power cut loses at most the record being written: every
record is written with one ``write`` and flushed (on littlefs ``flush`` commits the
file), and a torn record at the end of a file is detected by its CRC.

Reading: ``read_session(path)`` / ``parse_records(data)`` build a dict per record (the
laptop; an hour is 360 intervals, too many dicts for the pod's heap); on the pod
``scan_session(path)`` gives the same verdict with a 128-byte buffer.

File names: ``<dir>/S000123-7f3a.pod`` while unsynced, renamed to ``S000123-7f3a.synced``
by ``mark_synced`` once the laptop has imported it (a rename is atomic on littlefs, costs
no data block, and survives a power cut either way). ``S000123`` is a persisted counter
(``<dir>/counter``), ``7f3a`` 16 random bits, so ids stay unique even if the counter is
lost. ``ensure_space`` deletes the oldest *synced* sessions when the flash is short and
never an unsynced one.

Record framing (all integers little-endian)::

    offset  size  field
    0       1     magic 0xA7
    1       1     type: 1 HEADER, 2 INTERVAL, 3 EVENT, 4 FOOTER
    2       2     payload length N (uint16)
    4       N     payload
    4+N     4     CRC32 (IEEE 802.3, as zlib/binascii.crc32) of bytes 0 .. 4+N-1

A reader that finds a payload longer than it knows parses the known prefix and ignores the
rest (later firmware appends fields at the end); an unknown type with a good CRC is kept
as ``{"type": "unknown", "code": n, "payload": bytes}``.

HEADER payload (first record of every file)::

    B  version            format version, 1
    B  flags              bit0: clock set (start_epoch valid)
    I  start_epoch        Unix seconds (UTC) at the start; 0 when the RTC was not set
    I  start_ticks_ms     time.ticks_ms() at the start (2**30 wrap)
    H  interval_ms        summary period (default 10000)
    B  n, n bytes         session id, ASCII ("S000123-7f3a")
    B  n, n bytes         firmware version, ASCII
    H  n, n bytes         config snapshot, UTF-8 JSON

INTERVAL payload (42 bytes; "none" = no footfall in the interval)::

    I  t_offset_s         start of the interval, seconds since the session start
    H  dur_ms             length of the interval (the last one may be short)
    H  steps              steps (both feet, the count the cadence is made of)
    H  cadence_mean_x10   spm x10, 0xFFFF none
    H  cadence_min_x10    spm x10, 0xFFFF none
    H  cadence_max_x10    spm x10, 0xFFFF none
    H  strikes_rear       footfalls of the pod's foot by strike type
    H  strikes_mid
    H  strikes_fore
    h  angle_mean_x10     mean strike angle, degrees x10, positive toe-up; -32768 none
    H  contact_mean_ms    mean ground contact time, 0xFFFF none
    H  overstrides        heel-first overstride footfalls
    I  target_ms          time with the cadence inside the target zone
    I  run_ms             time classified as running
    B  alerts_low_cadence alerts started in the interval
    B  alerts_overstride
    H  flags              FLAG_GAP 1, FLAG_I2C 2, FLAG_OVERFLOW 4, FLAG_LOW_BATTERY 8
    I  gap_ms             time without sensor data (I2C fault, FIFO overflow)

EVENT payload (9 bytes)::

    I  t_offset_ms        since the session start
    B  kind               see EVENT_KINDS (1 low_cadence ...)
    i  value              low_cadence: cadence spm x10; overstride: strike angle deg x10;
                          i2c_error: errno; gap: ms; low_battery: mV; fifo_overflow:
                          samples lost or -1 (one an interval: the interval's FLAG_OVERFLOW
                          and gap_ms tell the rest); events_lost: events that found the pod's
                          queue full (written when it has room again); others 0

FOOTER payload (19 bytes; the last record of a cleanly closed session)::

    B  reason             see END_REASONS (1 idle ...)
    I  duration_ms        to the last footfall, whatever stopped it (a wait left out)
    I  steps              totals over the session
    H  intervals          INTERVAL records written
    H  alerts_low_cadence
    H  alerts_overstride
    I  gap_ms

Parsed records are dicts with ``type`` ("header", "interval", "event", "footer"),
``offset`` (of the record in the file) and the field names above; "none" values are None,
``kind``/``reason`` are names, the header's ``config`` a dict (None if its JSON is bad, with
``config_raw`` kept) and ``start_epoch`` None when the clock was not set.
"""

import json
import os
import struct

from compat import const

try:
    # In MicroPython's ESP32 builds since binascii.crc32 follows the ROM level (EXTRA_FEATURES);
    # older or trimmed builds lack it, hence the table-driven fallback below.
    from binascii import crc32 as _crc32_native
except ImportError:
    _crc32_native = None

MAGIC = const(0xA7)
HEADER = const(1)
INTERVAL = const(2)
EVENT = const(3)
FOOTER = const(4)
FORMAT_VERSION = const(1)

FLAG_GAP = const(1)
FLAG_I2C = const(2)
FLAG_OVERFLOW = const(4)
FLAG_LOW_BATTERY = const(8)

# Codes are positions in these tuples plus one; append new names at the end only.
EVENT_KINDS = ("low_cadence", "overstride", "i2c_error", "gap", "low_battery", "fifo_overflow",
               "sensor_lost", "sensor_back", "config_fallback", "flash_full", "error", "events_lost")
END_REASONS = ("idle", "button", "low_battery", "flash_full", "sensor_fault", "shutdown", "error")

SUFFIX = ".pod"
SYNCED_SUFFIX = ".synced"
COUNTER_NAME = "counter"

_FRAME = const(4)  # magic, type, uint16 length
_CRC = const(4)
_CLOCK_SET = const(1)
_NONE_U16 = const(0xFFFF)
_NONE_I16 = const(-32768)
_MAX_PAYLOAD = const(0xFFFF)
_ENOSPC = const(28)

_INTERVAL_FMT = "<IHHHHHHHHhHHIIBBHI"
_INTERVAL_LEN = const(42)
_EVENT_FMT = "<IBi"
_EVENT_LEN = const(9)
_FOOTER_FMT = "<BIIHHHI"
_FOOTER_LEN = const(19)
_HEADER_FIXED_FMT = "<BBIIH"
_HEADER_FIXED_LEN = const(12)

# (key, kind) in payload order after t_offset_s; kind: 0 plain, 1 uint16 or None, 2 int16 or None
_INTERVAL_FIELDS = (
    ("t_offset_s", 0, 0xFFFFFFFF), ("dur_ms", 0, 0xFFFF), ("steps", 0, 0xFFFF),
    ("cadence_mean_x10", 1, 0xFFFE), ("cadence_min_x10", 1, 0xFFFE), ("cadence_max_x10", 1, 0xFFFE),
    ("strikes_rear", 0, 0xFFFF), ("strikes_mid", 0, 0xFFFF), ("strikes_fore", 0, 0xFFFF),
    ("angle_mean_x10", 2, 32767), ("contact_mean_ms", 1, 0xFFFE), ("overstrides", 0, 0xFFFF),
    ("target_ms", 0, 0xFFFFFFFF), ("run_ms", 0, 0xFFFFFFFF),
    ("alerts_low_cadence", 0, 0xFF), ("alerts_overstride", 0, 0xFF),
    ("flags", 0, 0xFFFF), ("gap_ms", 0, 0xFFFFFFFF),
)


# --- CRC32 -----------------------------------------------------------------------------

_table = None


def _make_table():
    # The reflected IEEE polynomial 0xEDB88320, one entry per byte value (1 KB).
    from array import array

    t = array("I", [0] * 256)
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0xEDB88320 if c & 1 else c >> 1
        t[i] = c
    return t


def crc32_py(data, crc=0):
    """CRC32 in pure Python, equal to ``binascii.crc32(data, crc)``; slow, for builds without it."""
    global _table
    if _table is None:
        _table = _make_table()
    t = _table
    crc = crc ^ 0xFFFFFFFF
    for b in data:
        crc = t[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


crc32 = _crc32_native if _crc32_native is not None else crc32_py


# --- encoding --------------------------------------------------------------------------


def _clamp(v, lo, hi):
    v = int(v)
    return lo if v < lo else hi if v > hi else v


def _encode_interval(buf, off, s):
    vals = []
    for key, kind, hi in _INTERVAL_FIELDS:
        v = s.get(key)
        if kind == 1:
            vals.append(_NONE_U16 if v is None else _clamp(v, 0, hi))
        elif kind == 2:
            vals.append(_NONE_I16 if v is None else _clamp(v, -hi, hi))
        else:
            vals.append(_clamp(v or 0, 0, hi))
    if vals[17] > 0:  # gap_ms -> FLAG_GAP, so the flag never disagrees with the time
        vals[16] |= FLAG_GAP
    struct.pack_into(_INTERVAL_FMT, buf, off, *vals)
    return vals


def _code(names, value):
    if isinstance(value, int):
        return value
    for i, n in enumerate(names):
        if n == value:
            return i + 1
    raise ValueError("unknown name %r" % (value,))


def _name(names, code):
    return names[code - 1] if 1 <= code <= len(names) else "code_%d" % code


def _header_payload(h):
    sid = str(h["session_id"]).encode()
    fw = str(h.get("firmware", "?")).encode()
    cfg = h.get("config", {})
    cfg = (cfg if isinstance(cfg, str) else json.dumps(cfg)).encode()
    if len(sid) > 255 or len(fw) > 255:
        raise ValueError("session id and firmware version must be under 256 bytes")
    if len(cfg) > _MAX_PAYLOAD - 64:
        raise ValueError("config snapshot too large")
    epoch = h.get("start_epoch")
    flags = 0 if epoch is None else _CLOCK_SET
    fixed = struct.pack(_HEADER_FIXED_FMT, FORMAT_VERSION, flags, _clamp(epoch or 0, 0, 0xFFFFFFFF),
                        h.get("start_ticks_ms", 0) & 0x3FFFFFFF, _clamp(h.get("interval_ms", 10000), 0, 0xFFFF))
    # one join, not a chain of +: each + would copy the ~700-byte config snapshot again
    return b"".join((fixed, bytes((len(sid),)), sid, bytes((len(fw),)), fw, struct.pack("<H", len(cfg)), cfg))


def encode_record(rtype, payload):
    """One framed record (bytes): frame + payload + CRC. Used for the header and by tests."""
    n = len(payload)
    if n > _MAX_PAYLOAD:
        raise ValueError("payload too long")
    frame = struct.pack("<BBH", MAGIC, rtype, n)
    return b"".join((frame, payload, struct.pack("<I", crc32(payload, crc32(frame)))))


# --- decoding (pure; also used by the laptop) ------------------------------------------


def _decode_header(p):
    if len(p) < _HEADER_FIXED_LEN + 4:
        return None
    version, flags, epoch, ticks, interval_ms = struct.unpack_from(_HEADER_FIXED_FMT, p, 0)
    fields = []
    i = _HEADER_FIXED_LEN
    for width in (1, 1, 2):  # session id, firmware (uint8 length), config (uint16 length)
        if i + width > len(p):
            return None
        n = p[i] if width == 1 else p[i] | (p[i + 1] << 8)
        i += width
        if i + n > len(p):
            return None
        fields.append(bytes(p[i:i + n]))
        i += n
    try:
        sid, fw, raw = fields[0].decode(), fields[1].decode(), fields[2].decode()
    except ValueError:  # UnicodeError is a ValueError on both runtimes
        return None
    try:
        cfg = json.loads(raw)
    except ValueError:
        cfg = None
    return {"type": "header", "version": version, "clock_set": bool(flags & _CLOCK_SET),
            "start_epoch": epoch if flags & _CLOCK_SET else None, "start_ticks_ms": ticks,
            "interval_ms": interval_ms, "session_id": sid, "firmware": fw,
            "config": cfg, "config_raw": raw}


def _decode_interval(p):
    if len(p) < _INTERVAL_LEN:
        return None
    vals = struct.unpack_from(_INTERVAL_FMT, p, 0)
    d = {"type": "interval"}
    for i in range(len(vals)):
        key, kind, _ = _INTERVAL_FIELDS[i]
        v = vals[i]
        if (kind == 1 and v == _NONE_U16) or (kind == 2 and v == _NONE_I16):
            v = None
        d[key] = v
    return d


def _decode_event(p):
    if len(p) < _EVENT_LEN:
        return None
    t, kind, value = struct.unpack_from(_EVENT_FMT, p, 0)
    return {"type": "event", "t_offset_ms": t, "kind": _name(EVENT_KINDS, kind), "value": value}


def _decode_footer(p):
    if len(p) < _FOOTER_LEN:
        return None
    r, dur, steps, n, low, over, gap = struct.unpack_from(_FOOTER_FMT, p, 0)
    return {"type": "footer", "reason": _name(END_REASONS, r), "duration_ms": dur, "steps": steps,
            "intervals": n, "alerts_low_cadence": low, "alerts_overstride": over, "gap_ms": gap}


_DECODERS = {HEADER: _decode_header, INTERVAL: _decode_interval, EVENT: _decode_event, FOOTER: _decode_footer}


def parse_records(data):
    """Decode a session file's bytes: ``(records, end, problem)``.

    ``records`` are the good records before the first bad one, ``end`` the offset where the
    good data stops (``len(data)`` for a clean file) and ``problem`` None or a one-line
    description of what is wrong at ``end`` (truncated record, bad CRC, bad magic, ...).
    """
    records = []
    mv = memoryview(data)
    size = len(data)
    i = 0
    while i < size:
        if size - i < _FRAME:
            return records, i, "truncated record frame at offset %d" % i
        if data[i] != MAGIC:
            return records, i, "bad magic 0x%02x at offset %d" % (data[i], i)
        rtype = data[i + 1]
        n = data[i + 2] | (data[i + 3] << 8)
        end = i + _FRAME + n + _CRC
        if end > size:
            return records, i, "truncated record at offset %d (%d of %d bytes)" % (i, size - i, end - i)
        stored = struct.unpack_from("<I", data, end - _CRC)[0]
        if crc32(mv[i:end - _CRC]) != stored:
            return records, i, "CRC mismatch in record at offset %d" % i
        payload = mv[i + _FRAME:end - _CRC]
        dec = _DECODERS.get(rtype)
        if dec is None:
            rec = {"type": "unknown", "code": rtype, "payload": bytes(payload)}
        else:
            rec = dec(payload)
            if rec is None:
                return records, i, "malformed record of type %d at offset %d" % (rtype, i)
        rec["offset"] = i
        records.append(rec)
        i = end
    return records, i, None


def read_session(path):
    """Read and validate a session file: ``(records, problem)``; problem is None when clean.

    A missing header is a problem too; a session without a footer is not (the pod lost
    power or is still recording): look for ``records[-1]["type"] == "footer"``.
    """
    with open(path, "rb") as f:
        data = f.read()
    records, end, problem = parse_records(data)
    if problem is not None:
        problem = "%s (%d good records kept)" % (problem, len(records))
    elif not records:
        problem = "empty file"
    if records and records[0]["type"] != "header":
        problem = "first record is not a header" + ("; " + problem if problem else "")
    return records, problem


def scan_session(path):
    """Check a session file on the pod with a 128-byte buffer: ``(n_records, end, problem, last_type)``.

    The same verdict as ``parse_records`` (``end`` is where good data stops, ``problem`` None
    when clean, ``last_type`` the type code of the last good record, FOOTER when it was
    closed) without holding the file or any record in memory.
    """
    buf = bytearray(128)
    mv = memoryview(buf)
    n = last = pos = 0
    with open(path, "rb") as f:
        while True:
            got = f.readinto(mv[0:_FRAME]) or 0
            if got == 0:
                return n, pos, None, last
            if got < _FRAME:
                return n, pos, "truncated record frame at offset %d" % pos, last
            if buf[0] != MAGIC:
                return n, pos, "bad magic 0x%02x at offset %d" % (buf[0], pos), last
            rtype = buf[1]
            left = buf[2] | (buf[3] << 8)
            size = _FRAME + left + _CRC
            c = crc32(mv[0:_FRAME])
            while left:
                k = left if left < 128 else 128
                if (f.readinto(mv[0:k]) or 0) < k:
                    return n, pos, "truncated record at offset %d" % pos, last
                c = crc32(mv[0:k], c)
                left -= k
            if (f.readinto(mv[0:_CRC]) or 0) < _CRC:
                return n, pos, "truncated record at offset %d" % pos, last
            if struct.unpack_from("<I", buf, 0)[0] != c:
                return n, pos, "CRC mismatch in record at offset %d" % pos, last
            n += 1
            last = rtype
            pos += size


# --- files and names -------------------------------------------------------------------


def _exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def ensure_dir(path):
    """Create ``path`` (one level) if it does not exist."""
    if not _exists(path):
        os.mkdir(path)


def session_path(fs_dir, session_id):
    return fs_dir + "/" + session_id + SUFFIX


def session_id_of(name):
    """``S000123-7f3a.pod`` or ``.synced`` (or a path to one) -> ``S000123-7f3a``."""
    name = name.rsplit("/", 1)[-1]
    return name.split(".", 1)[0]


def _counter_of(name):
    # "S000123-7f3a.pod" -> 123; -1 when the name is not a session file
    if not name or name[0] != "S" or not (name.endswith(SUFFIX) or name.endswith(SYNCED_SUFFIX)):
        return -1
    num = name[1:].split("-", 1)[0].split(".", 1)[0]
    return int(num) if num.isdigit() else -1


def new_session_id(fs_dir, rand16):
    """A fresh id ``S%06d-%04x``: persisted counter + 1 (never below an existing file's) + rand16.

    The counter file is replaced by a rename, so a power cut leaves the old or the new value.
    """
    ensure_dir(fs_dir)
    n = 0
    try:
        with open(fs_dir + "/" + COUNTER_NAME) as f:
            n = int(f.read().strip() or 0)
    except (OSError, ValueError):
        n = 0
    for name in os.listdir(fs_dir):
        c = _counter_of(name)
        if c > n:
            n = c
    n += 1
    tmp = fs_dir + "/" + COUNTER_NAME + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(n))
    os.rename(tmp, fs_dir + "/" + COUNTER_NAME)
    return "S%06d-%04x" % (n, rand16 & 0xFFFF)


def list_sessions(fs_dir):
    """``[(name, size, synced)]`` of the session files in ``fs_dir``, oldest (lowest counter) first."""
    try:
        names = os.listdir(fs_dir)
    except OSError:
        return []
    out = []
    for name in names:
        c = _counter_of(name)
        if c >= 0:
            out.append((c, name, os.stat(fs_dir + "/" + name)[6], name.endswith(SYNCED_SUFFIX)))
    out.sort()
    return [(name, size, synced) for _, name, size, synced in out]


def mark_synced(path):
    """Rename ``X.pod`` to ``X.synced`` (atomic on littlefs); returns the new path. Idempotent."""
    if path.endswith(SYNCED_SUFFIX):
        base = path[:-len(SYNCED_SUFFIX)]
    elif path.endswith(SUFFIX):
        base = path[:-len(SUFFIX)]
    else:
        raise ValueError("not a session file: %s" % path)
    new = base + SYNCED_SUFFIX
    if _exists(base + SUFFIX):
        os.rename(base + SUFFIX, new)
    elif not _exists(new):
        raise OSError(2, "no such session: %s" % path)  # ENOENT
    return new


def _avail_blocks(st):
    """f_bavail, or 0 when it exceeds f_blocks: littlefs counts blocks in use, and on a full
    flash (copy-on-write blocks in flight) that can pass the total; the difference then
    wraps to 2**32 - 1."""
    return st[4] if st[4] <= st[2] else 0


def free_bytes(fs_dir, statvfs=None):
    st = (statvfs or os.statvfs)(fs_dir)
    return _avail_blocks(st) * st[1]  # f_bavail * f_frsize


def ensure_space(fs_dir, need_bytes, statvfs=None, reserve_blocks=2):
    """Make ``need_bytes`` free (plus ``reserve_blocks`` spare blocks littlefs needs to work).

    Deletes the oldest synced sessions first and never an unsynced one; returns False if
    there is still not enough room (the caller then does not record and signals flash full).
    ``statvfs`` is injectable (tests simulate a full disk); it defaults to ``os.statvfs``.
    """
    statvfs = statvfs or os.statvfs
    victims = None  # synced sessions, newest first (listed once: a stat per file, and
    while True:  # there may be hundreds to go through while the watchdog waits)
        st = statvfs(fs_dir)
        if _avail_blocks(st) * st[1] >= need_bytes + reserve_blocks * st[0]:
            return True
        if victims is None:
            victims = [name for name, _, synced in list_sessions(fs_dir) if synced]
            victims.reverse()
        if not victims:
            return False
        os.remove(fs_dir + "/" + victims.pop())


# --- writer ----------------------------------------------------------------------------


class SessionWriter:
    """Appends one session's records to ``<fs_dir>/<session_id>.pod``; see the module docstring.

    Each call packs one record into a preallocated buffer, writes it with one ``write`` and
    flushes: tens of milliseconds on flash, so call it between clicks, never before one.
    """

    def __init__(self, fs_dir, session_id, header):
        ensure_dir(fs_dir)
        self.path = session_path(fs_dir, session_id)
        if _exists(self.path):
            raise ValueError("session exists: %s" % self.path)
        h = dict(header)
        h["session_id"] = session_id
        first = encode_record(HEADER, _header_payload(h))
        # 64 bytes hold the largest fixed record (INTERVAL: 4 + 42 + 4); reused for every record.
        self._buf = bytearray(64)
        self._mv = memoryview(self._buf)
        self.failed = 0
        self.make_room = None  # () -> frees flash (old synced sessions) when a write finds it full
        self.intervals = 0
        self.steps = 0
        self.alerts_low_cadence = 0
        self.alerts_overstride = 0
        self.gap_ms = 0
        self.end_ms = 0
        self._f = open(self.path, "wb")
        self._put(first)

    @property
    def closed(self):
        return self._f is None

    def _put(self, data):
        """Write and flush one record; a failed one is tried once more, after ``make_room()``
        when the flash was full. littlefs commits a file at each flush or not at all, so the
        file reopened for the retry ends with the last record that did get written."""
        if self._f is None:
            return False
        retry = True
        while True:
            try:
                self._f.write(data)
                self._f.flush()
                self.failed = 0
                return True
            except OSError as e:
                self.failed = e.args[0] if e.args else -1
                self._shut()
            if not retry:
                return False
            retry = False
            try:
                if self.failed == _ENOSPC and self.make_room is not None:
                    self.make_room()
                self._f = open(self.path, "ab")
            except OSError:
                return False

    def _shut(self):
        try:
            self._f.close()
        except OSError:
            pass
        self._f = None

    def _frame(self, rtype, n):
        # payload already packed at _buf[4:4+n]; add frame and CRC, write.
        b = self._buf
        b[0] = MAGIC
        b[1] = rtype
        b[2] = n & 0xFF
        b[3] = n >> 8
        c = crc32(self._mv[0:_FRAME + n])
        struct.pack_into("<I", b, _FRAME + n, c)
        return self._put(self._mv[0:_FRAME + n + _CRC])

    def interval(self, summary):
        """Append one INTERVAL record from a dict with the INTERVAL keys (missing keys are 0/None).

        Out-of-range values are clamped, never raised: a summary must not end a run.
        """
        if self._f is None:
            return False
        v = _encode_interval(self._buf, _FRAME, summary)
        if not self._frame(INTERVAL, _INTERVAL_LEN):
            return False
        self.intervals += 1
        self.steps += v[2]
        self.alerts_low_cadence += v[14]
        self.alerts_overstride += v[15]
        self.gap_ms += v[17]
        self.end_ms = v[0] * 1000 + v[1]
        return True

    def event(self, t_offset_ms, kind, value=0):
        """Append an EVENT: ``kind`` a name from EVENT_KINDS (or its code), ``value`` an int32."""
        if self._f is None:
            return False
        struct.pack_into(_EVENT_FMT, self._buf, _FRAME, _clamp(t_offset_ms, 0, 0xFFFFFFFF),
                         _code(EVENT_KINDS, kind), _clamp(value, -0x80000000, 0x7FFFFFFF))
        return self._frame(EVENT, _EVENT_LEN)

    def close(self, footer=None):
        """Append the FOOTER and close. ``footer``: {"reason": name, "duration_ms": ...}; totals
        not given are the sums of the intervals written. Returns False if it could not be written."""
        if self._f is None:
            return False
        f = footer or {}
        struct.pack_into(_FOOTER_FMT, self._buf, _FRAME, _code(END_REASONS, f.get("reason", "shutdown")),
                         _clamp(f.get("duration_ms", self.end_ms), 0, 0xFFFFFFFF),
                         _clamp(f.get("steps", self.steps), 0, 0xFFFFFFFF),
                         _clamp(f.get("intervals", self.intervals), 0, 0xFFFF),
                         _clamp(f.get("alerts_low_cadence", self.alerts_low_cadence), 0, 0xFFFF),
                         _clamp(f.get("alerts_overstride", self.alerts_overstride), 0, 0xFFFF),
                         _clamp(f.get("gap_ms", self.gap_ms), 0, 0xFFFFFFFF))
        ok = self._frame(FOOTER, _FOOTER_LEN)
        if self._f is not None:
            self._shut()
        return ok

    def abandon(self):
        """Close without a footer (e.g. before deep sleep after an error)."""
        if self._f is not None:
            self._shut()
