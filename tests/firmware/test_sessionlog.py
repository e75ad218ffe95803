"""Session files: round trip, corrupt tails, synced marks, flash-full policy, CRC fallback.

Under MicroPython the files live on a littlefs2 filesystem in RAM (``os.VfsLfs2`` over a
bytearray block device, mounted like the pod's flash); under CPython in a temp directory.
"""
import os

import sessionlog as sl
from _support import IS_MICROPYTHON, skip

_BLOCK = 512
_mounts = [0, None]  # count, the mount point in use (one RAM disk at a time keeps the heap small)
_tmp = []


class RamBlockDev:
    """A block device in RAM with the extended interface littlefs needs (offsets, erase)."""

    def __init__(self, block_size, count):
        self.block_size = block_size
        self.count = count
        self.data = bytearray(block_size * count)

    def readblocks(self, block, buf, offset=0):
        a = block * self.block_size + offset
        buf[:] = self.data[a:a + len(buf)]

    def writeblocks(self, block, buf, offset=None):
        a = block * self.block_size + (offset or 0)
        self.data[a:a + len(buf)] = buf

    def ioctl(self, op, arg):
        if op == 4:  # block count
            return self.count
        if op == 5:  # block size
            return self.block_size
        if op == 6:  # erase: nothing to do in RAM
            return 0
        return None


def make_fs_dir(blocks=256):
    """A fresh empty directory (path) on littlefs (MicroPython) or in a temp dir (CPython)."""
    if IS_MICROPYTHON and hasattr(os, "VfsLfs2"):
        if _mounts[1] is not None:
            os.umount(_mounts[1])
            _mounts[1] = None
        bdev = RamBlockDev(_BLOCK, blocks)
        os.VfsLfs2.mkfs(bdev)
        _mounts[0] += 1
        mount = "/lfs%d" % _mounts[0]
        os.mount(os.VfsLfs2(bdev), mount)
        _mounts[1] = mount
        return mount
    if IS_MICROPYTHON:
        import time

        path = "/tmp/podtest%d" % time.ticks_us()
        os.mkdir(path)
        return path
    import tempfile

    if not _tmp:
        import atexit
        import shutil

        _tmp.append(tempfile.mkdtemp(prefix="podtest"))
        atexit.register(shutil.rmtree, _tmp[0], True)
    return tempfile.mkdtemp(dir=_tmp[0])


def _read(path):
    with open(path, "rb") as f:
        return f.read()


def _write(path, data):
    with open(path, "wb") as f:
        f.write(data)


HEADER = {"firmware": "0.1.0", "config": {"target_spm": 180, "metronome": "fading"},
          "start_epoch": 1767225600, "start_ticks_ms": 0x3FFFFF00, "interval_ms": 10000}


def _interval(i, **kw):
    d = {"t_offset_s": 10 * i, "dur_ms": 10000, "steps": 30 + i, "cadence_mean_x10": 1795,
         "cadence_min_x10": 1702, "cadence_max_x10": 1843, "strikes_rear": 10, "strikes_mid": 4,
         "strikes_fore": 1, "angle_mean_x10": -35, "contact_mean_ms": 241, "overstrides": 3,
         "target_ms": 7500, "run_ms": 10000, "alerts_low_cadence": 1, "alerts_overstride": 0,
         "flags": 0, "gap_ms": 0}
    d.update(kw)
    return d


def _session(d, n_intervals=3, close=True):
    sid = sl.new_session_id(d, 0x7F3A)
    w = sl.SessionWriter(d, sid, HEADER)
    for i in range(n_intervals):
        assert w.interval(_interval(i))
    assert w.event(12345, "low_cadence", 1652)
    assert w.event(15000, "gap", 220)
    if close:
        assert w.close({"reason": "idle", "duration_ms": 30000})
    return w.path


def test_round_trip_all_record_types():
    d = make_fs_dir()
    path = _session(d)
    assert path == d + "/S000001-7f3a.pod"
    recs, problem = sl.read_session(path)
    assert problem is None, problem
    assert [r["type"] for r in recs] == ["header", "interval", "interval", "interval", "event", "event", "footer"]
    h = recs[0]
    assert h["session_id"] == "S000001-7f3a" and h["firmware"] == "0.1.0"
    assert h["config"] == HEADER["config"] and h["start_epoch"] == 1767225600 and h["clock_set"]
    assert h["start_ticks_ms"] == 0x3FFFFF00 and h["interval_ms"] == 10000 and h["version"] == 1
    for i in range(3):
        got = recs[1 + i]
        for k, v in _interval(i).items():
            assert got[k] == v, (k, got[k], v)
    assert recs[4]["kind"] == "low_cadence" and recs[4]["value"] == 1652 and recs[4]["t_offset_ms"] == 12345
    assert recs[5]["kind"] == "gap" and recs[5]["value"] == 220
    f = recs[6]
    assert f["reason"] == "idle" and f["duration_ms"] == 30000 and f["intervals"] == 3
    assert f["steps"] == 30 + 31 + 32 and f["alerts_low_cadence"] == 3 and f["gap_ms"] == 0
    assert recs[1]["offset"] > 0 and recs[6]["offset"] + 4 + 19 + 4 == len(_read(path))


def test_none_values_unknown_clock_and_clamping():
    d = make_fs_dir()
    w = sl.SessionWriter(d, sl.new_session_id(d, 1), {"firmware": "x", "config": {}, "start_epoch": None})
    w.interval({"t_offset_s": 0, "dur_ms": 4000, "steps": 0, "cadence_mean_x10": None,
                "cadence_min_x10": None, "cadence_max_x10": None, "angle_mean_x10": None,
                "contact_mean_ms": None, "gap_ms": 4000, "alerts_overstride": 999})
    w.interval({"t_offset_s": 4, "steps": 70000, "angle_mean_x10": -99999})  # clamped, not raised
    w.close()
    recs, problem = sl.read_session(w.path)
    assert problem is None
    assert recs[0]["start_epoch"] is None and not recs[0]["clock_set"]
    a, b = recs[1], recs[2]
    assert a["cadence_mean_x10"] is None and a["angle_mean_x10"] is None and a["contact_mean_ms"] is None
    assert a["flags"] & sl.FLAG_GAP and a["gap_ms"] == 4000 and a["alerts_overstride"] == 255
    assert b["steps"] == 0xFFFF and b["angle_mean_x10"] == -32767 and b["strikes_rear"] == 0
    assert recs[3]["reason"] == "shutdown" and recs[3]["gap_ms"] == 4000 and recs[3]["duration_ms"] == 4000


def test_truncated_tail_is_detected_and_good_records_kept():
    d = make_fs_dir()
    path = _session(d)
    data = _read(path)
    full, _, _ = sl.parse_records(data)
    last = full[-1]["offset"]
    for cut in (last + 1, last + 3, last + 10, len(data) - 1):
        _write(path, data[:cut])
        recs, problem = sl.read_session(path)
        assert problem is not None and "truncated" in problem, problem
        assert len(recs) == len(full) - 1
        _, end, _ = sl.parse_records(data[:cut])
        assert end == last


def test_flipped_byte_is_detected_by_crc():
    d = make_fs_dir()
    path = _session(d)
    data = _read(path)
    full, _, _ = sl.parse_records(data)
    target = full[2]  # an interval record in the middle
    for pos in (target["offset"] + 5, target["offset"] + 20, target["offset"] + 4 + 42 + 1):
        bad = bytearray(data)
        bad[pos] ^= 0x10
        recs, end, problem = sl.parse_records(bytes(bad))
        assert "CRC" in problem, problem
        assert end == target["offset"] and len(recs) == 2
    bad = bytearray(data)
    bad[target["offset"]] = 0  # the magic byte
    recs, end, problem = sl.parse_records(bytes(bad))
    assert "magic" in problem and end == target["offset"]


def test_session_without_footer_is_valid_and_unknown_record_kept():
    d = make_fs_dir()
    path = _session(d, close=False)
    extra = sl.encode_record(9, b"future")
    with open(path, "ab") as f:
        f.write(extra)
    recs, problem = sl.read_session(path)
    assert problem is None
    assert recs[-1]["type"] == "unknown" and recs[-1]["code"] == 9 and recs[-1]["payload"] == b"future"
    assert not any(r["type"] == "footer" for r in recs)


def test_longer_payload_from_newer_firmware_is_read():
    p = bytearray(sl.encode_record(sl.EVENT, b"\x01\x00\x00\x00\x02\x07\x00\x00\x00" + b"newfield"))
    recs, end, problem = sl.parse_records(bytes(p))
    assert problem is None and recs[0]["kind"] == "overstride" and recs[0]["value"] == 7


def test_empty_and_headerless_files_are_problems():
    d = make_fs_dir()
    _write(d + "/S000009-0000.pod", b"")
    assert sl.read_session(d + "/S000009-0000.pod")[1] == "empty file"
    _write(d + "/S000010-0000.pod", sl.encode_record(sl.EVENT, bytes(9)))
    assert "not a header" in sl.read_session(d + "/S000010-0000.pod")[1]


def test_ids_count_up_and_survive_a_lost_counter():
    d = make_fs_dir()
    a = sl.new_session_id(d, 0x1234)
    b = sl.new_session_id(d, 0xABCDE)
    assert a == "S000001-1234" and b == "S000002-bcde"
    _write(sl.session_path(d, "S000041-0001"), b"")
    os.remove(d + "/" + sl.COUNTER_NAME)
    assert sl.new_session_id(d, 0).startswith("S000042-")
    _write(d + "/" + sl.COUNTER_NAME, b"garbage")
    assert sl.new_session_id(d, 0).startswith("S000042-")  # the files still say 41


def test_mark_synced_and_list_sessions():
    d = make_fs_dir()
    p1 = _session(d)
    p2 = _session(d)
    _write(d + "/notes.txt", b"not a session")
    listed = sl.list_sessions(d)
    assert [n for n, _, _ in listed] == ["S000001-7f3a.pod", "S000002-7f3a.pod"]
    assert listed[0][1] == len(_read(p1)) and not listed[0][2]
    new = sl.mark_synced(p1)
    assert new == d + "/S000001-7f3a.synced"
    assert sl.mark_synced(p1) == new and sl.mark_synced(new) == new  # idempotent
    listed = sl.list_sessions(d)
    assert listed[0] == ("S000001-7f3a.synced", len(_read(new)), True) and not listed[1][2]
    assert sl.read_session(new)[1] is None
    assert sl.session_id_of(new) == "S000001-7f3a" and sl.session_id_of(p2) == "S000002-7f3a"
    assert sl.list_sessions(d + "/nonexistent") == []


def _fake_statvfs(d, capacity_blocks):
    """A statvfs whose free space is what the files in ``d`` leave of ``capacity_blocks``."""
    def statvfs(path):
        used = 0
        for name in os.listdir(d):
            size = os.stat(d + "/" + name)[6]
            used += (size + _BLOCK - 1) // _BLOCK
        free = capacity_blocks - used
        return (_BLOCK, _BLOCK, capacity_blocks, free, free, 0, 0, 0, 0, 255)

    return statvfs


def test_flash_full_deletes_oldest_synced_only():
    d = make_fs_dir()
    paths = [_session(d, n_intervals=20) for _ in range(5)]  # each ~1.3 KB: 3 blocks
    sl.mark_synced(paths[1])
    sl.mark_synced(paths[3])
    statvfs = _fake_statvfs(d, 20)  # 15 used + counter 1 -> 4 free
    assert sl.ensure_space(d, 1024, statvfs)  # 4 free >= 2 + 2 reserve: nothing deleted
    assert len(sl.list_sessions(d)) == 5
    assert sl.ensure_space(d, 2048, statvfs)  # needs 6 blocks: deletes the oldest synced one
    names = [n for n, _, _ in sl.list_sessions(d)]
    assert names == ["S000001-7f3a.pod", "S000003-7f3a.pod", "S000004-7f3a.synced", "S000005-7f3a.pod"]
    assert not sl.ensure_space(d, 8 * 1024, statvfs)  # not even with every synced one gone
    names = [n for n, _, _ in sl.list_sessions(d)]
    assert names == ["S000001-7f3a.pod", "S000003-7f3a.pod", "S000005-7f3a.pod"]  # unsynced all kept
    for p in (paths[0], paths[2], paths[4]):
        assert sl.read_session(p)[1] is None


def test_freeing_room_lists_the_sessions_once_however_many_go():
    d = make_fs_dir()
    for _ in range(6):
        sl.mark_synced(_session(d, n_intervals=20))  # 3 blocks each
    listed = []
    list_sessions = sl.list_sessions

    def counted(fs_dir):
        listed.append(fs_dir)
        return list_sessions(fs_dir)

    sl.list_sessions = counted
    try:
        assert sl.ensure_space(d, 12 * _BLOCK, _fake_statvfs(d, 24))  # 5 free: 3 of 6 go
    finally:
        sl.list_sessions = list_sessions
    assert len(listed) == 1
    assert [n for n, _, _ in sl.list_sessions(d)] == ["S000004-7f3a.synced", "S000005-7f3a.synced",
                                                      "S000006-7f3a.synced"]


def test_writer_reports_a_full_flash_instead_of_raising():
    if not (IS_MICROPYTHON and hasattr(os, "VfsLfs2")):
        skip("a real ENOSPC needs the littlefs RAM disk (the policy is covered above)")
    d = make_fs_dir(blocks=24)  # 12 KB littlefs
    w = sl.SessionWriter(d, sl.new_session_id(d, 0), HEADER)
    n = 0
    while w.interval(_interval(n)):
        n += 1
        if n > 2000:
            raise AssertionError("never filled")
    assert w.failed == 28 and w.closed and not w.event(0, "gap", 1) and not w.close()  # ENOSPC
    recs, problem = sl.read_session(w.path)
    assert len(recs) >= n  # everything flushed before the failure is readable
    assert sum(1 for r in recs if r["type"] == "interval") in (n, n + 1)
    # the real statvfs of the mounted filesystem agrees that it is full; nothing synced to delete
    assert not sl.ensure_space(d, 4096)
    sl.mark_synced(w.path)
    assert sl.ensure_space(d, 4096) and sl.list_sessions(d) == []


def test_fallback_crc32_equals_binascii():
    import binascii

    assert sl.crc32_py(b"") == 0
    assert sl.crc32_py(b"123456789") == 0xCBF43926  # the standard check value
    data = bytes(range(256)) * 3
    for n in (1, 7, 100, 768):
        assert sl.crc32_py(data[:n]) == binascii.crc32(data[:n])
    assert sl.crc32_py(b"tail", sl.crc32_py(b"head")) == binascii.crc32(b"headtail")
    assert sl.crc32(memoryview(data)[3:40]) == binascii.crc32(data[3:40])


class _CutBlockDev(RamBlockDev):
    """Loses power after ``cut_after`` block writes: later writes never reach the flash."""

    def __init__(self, block_size, count, cut_after=None):
        super().__init__(block_size, count)
        self.cut_after = cut_after
        self.writes = 0
        self.dead = False

    def writeblocks(self, block, buf, offset=None):
        if self.cut_after is not None and self.writes >= self.cut_after:
            self.dead = True  # the CPU is gone: nothing more is written, nothing is reported
            return
        self.writes += 1
        RamBlockDev.writeblocks(self, block, buf, offset)


def _session_until_cut(cut_after, mount):
    """Record a session on a device that loses power; returns (device, records confirmed
    before the cut), i.e. the calls that had returned True while the power was still on."""
    bdev = _CutBlockDev(_BLOCK, 64)
    os.VfsLfs2.mkfs(bdev)
    bdev.cut_after = cut_after
    os.mount(os.VfsLfs2(bdev), mount)
    done = 0
    try:
        w = sl.SessionWriter(mount + "/s", sl.new_session_id(mount + "/s", 5), HEADER)
        done += 0 if w.failed or bdev.dead else 1
        for i in range(12):
            ok = w.interval(_interval(i))
            done += 1 if ok and not bdev.dead else 0
            if i % 5 == 4:
                ok = w.event(i * 1000, "overstride", 123)
                done += 1 if ok and not bdev.dead else 0
        ok = w.close()
        done += 1 if ok and not bdev.dead else 0
    except OSError:
        pass  # littlefs reading back what never reached the flash may complain: power is off
    try:
        os.umount(mount)
    except OSError:
        pass
    return bdev, done


def test_power_cut_loses_at_most_the_record_being_written():
    if not (IS_MICROPYTHON and hasattr(os, "VfsLfs2")):
        skip("power cuts are simulated on the littlefs RAM disk")
    if _mounts[1] is not None:
        os.umount(_mounts[1])
        _mounts[1] = None
    full, total = _session_until_cut(None, "/cut")
    assert total == 12 + 2 + 2
    step = max(1, full.writes // 30)
    for cut in range(0, full.writes + 1, step):
        bdev, done = _session_until_cut(cut, "/cut")
        after = RamBlockDev(_BLOCK, 64)
        after.data = bytearray(bdev.data)  # the flash as the next boot finds it
        os.mount(os.VfsLfs2(after), "/cut")  # littlefs always mounts after a cut
        try:
            sessions = sl.list_sessions("/cut/s")
            if not sessions:
                assert done == 0, (cut, done)
                continue
            assert len(sessions) == 1
            recs, problem = sl.read_session("/cut/s/" + sessions[0][0])
            assert problem is None or (done == 0 and problem == "empty file"), (cut, problem)
            assert done <= len(recs) <= done + 1, (cut, done, len(recs))
        finally:
            os.umount("/cut")


def test_scan_session_agrees_with_parse_records():
    d = make_fs_dir()
    path = _session(d, n_intervals=5)
    data = _read(path)
    recs, end, problem = sl.parse_records(data)
    assert sl.scan_session(path) == (len(recs), len(data), None, sl.FOOTER)
    for bad in (data[:-1], data[:len(data) - 30], data[:3], b"",
                data[:60] + bytes((data[60] ^ 1,)) + data[61:], data + b"\x00"):
        _write(path, bad)
        recs, end, problem = sl.parse_records(bad)
        n, end2, problem2, last = sl.scan_session(path)
        assert (n, end2) == (len(recs), end), (n, end2, len(recs), end)
        assert (problem is None) == (problem2 is None)
        assert problem is None or problem.split()[0] == problem2.split()[0]
        assert last == (0 if not recs else {"header": 1, "interval": 2, "event": 3, "footer": 4}[recs[-1]["type"]])
