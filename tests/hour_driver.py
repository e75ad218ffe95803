"""One virtual hour of the whole firmware inside a 64 KB (32-bit) MicroPython heap.

    POD_ROM=<placeholder> micropython -X heapsize=64wK -c "import sys; sys.path.insert(0, TESTS);
        import rom_mount; rom_mount.mount(IMAGE); import hour_driver;
        hour_driver.main(STREAM, FLASH, OUTDIR, SECONDS, SPM)"

tests/test_firmware_hour.py runs it. ``64wK`` is MicroPython's own spelling for "64 KB on a
32-bit target" (``micropython -h``: ``heapsize=<n>[w][K|M]``): the unix port here is 64-bit,
where every pointer, small int and object header is twice the ESP32's, so the heap is scaled
by the word size (129,536 usable bytes).

The code comes from a ROMFS image mounted outside the heap (tests/rom_mount.py), the way a
pod with a ROMFS partition or frozen modules runs it: the firmware compiled by mpy-cross as
``pod flash`` compiles it, the test fakes and this driver. Everything else lives in the
heap: the objects built at import, boot, config, pipeline, buffers, littlefs, the session
writer and the fakes' state.

STREAM.bin is raw int16 LE samples at 200 Hz (tests/simstream.py); FLASH.img a blank file
the size of the flash, formatted here as littlefs and kept in the host's file (so the file
system costs the heap only its caches, as on the pod). The app runs on podbench's virtual
clock for SECONDS, every sample through the pipeline; click onsets are checked against the
metronome grid as they come. The session files are copied to OUTDIR on the host. Prints
one ``RESULT {json}`` line; a MemoryError anywhere ends the run with a traceback instead.
"""
import gc
import os
import time

import app
import podbench


class FileBlockDev:
    """littlefs on a host file (the extended block interface)."""

    def __init__(self, path, block_size=4096):
        self.f = open(path, "r+b")
        self.f.seek(0, 2)
        self.bs = block_size
        self.n = self.f.tell() // block_size

    def readblocks(self, block, buf, off=0):
        self.f.seek(block * self.bs + off)
        self.f.readinto(buf)

    def writeblocks(self, block, buf, off=None):
        self.f.seek(block * self.bs + (off or 0))
        self.f.write(buf)

    def ioctl(self, op, arg):
        if op == 4:
            return self.n
        if op == 5:
            return self.bs
        return 0


class Hour:
    """The run in pieces: ``boot`` once, then ``advance`` as often as wanted. The 32-bit run
    (tests/wasm32/hour32.mjs) hands control back to JavaScript between pieces, because that
    port collects garbage only there; ``main`` below runs it in one go."""

    def __init__(self, stream, root, spm):
        cfg = {"target_spm": spm, "metronome": "always", "interval_s": 10}
        self.root = root
        self.grid = podbench.GridCheck(spm)
        self.bench = podbench.Bench(podbench.BinSource(stream), root, config=cfg, on_click=self.grid, keep_tones=False)
        self.bench.battery_mv = 4000
        self.app = app.App(self.bench.hw)

    def boot(self):
        self.app.boot()

    def advance(self, ms):
        """Run ``ms`` more of virtual time; the virtual ms so far, or -1 once the pod has gone
        to deep sleep (its loop has ended)."""
        self.app.loop(until_ms=ms)
        return self.bench.elapsed_us() // 1000 if self.app.running else -1

    def sessions(self):
        """[[name, records, problem, last record type]] of every session file, by name."""
        import sessionlog

        out = []
        for name in sorted(os.listdir(self.root + "/sessions")):
            if name.endswith(".pod"):
                n, end, problem, last = sessionlog.scan_session(self.root + "/sessions/" + name)
                out.append([name, n, problem, last])
        return out

    def result(self):
        a, grid = self.app, self.grid
        return {
            "samples": a.samples, "virtual_s": self.bench.elapsed_us() // 1000000,
            "clicks": grid.n, "click_runs": grid.runs, "grid_worst_us": grid.worst, "longest_run": grid.longest,
            "skipped": a.buz.skipped, "sessions": self.sessions(), "errors": a.errors, "steps": a.engine.steps,
            "deep_slept": a.deep_slept, "lightsleeps": a.lightsleeps}


def main(stream, image, outdir, seconds, spm):
    bdev = FileBlockDev(image)
    os.VfsLfs2.mkfs(bdev)
    os.mount(os.VfsLfs2(bdev), "/flash")
    run = Hour(stream, "/flash", spm)
    bench = run.bench
    import sessionlog  # noqa: F401 - imported by the app anyway: code, not run-time data

    gc.collect()
    heap = gc.mem_alloc() + gc.mem_free()
    code_bytes = gc.mem_alloc()  # the interpreter, the imported modules, the fakes
    free0 = gc.mem_free()
    low = [free0]

    def watch():  # every 10 virtual seconds: the lowest free heap seen
        gc.collect()
        f = gc.mem_free()
        if f < low[0]:
            low[0] = f
        if bench.elapsed_us() < seconds * 1000000:
            bench.at(bench.elapsed_us() / 1000000 + 10, watch)

    bench.at(10, watch)
    t0 = time.ticks_ms()
    run.boot()
    run.advance(seconds * 1000)
    wall = time.ticks_diff(time.ticks_ms(), t0)
    result = run.result()
    for name, _, _, _ in result["sessions"]:
        with open("/flash/sessions/" + name, "rb") as src, open(outdir + "/" + name, "wb") as dst:
            while True:
                chunk = src.read(512)
                if not chunk:
                    break
                dst.write(chunk)
    os.umount("/flash")
    import json

    result.update({"wall_ms": wall, "heap_free_start": free0, "code_bytes": code_bytes, "heap": heap,
                   "heap_free_min": low[0]})
    print("RESULT " + json.dumps(result))
