// One virtual hour of the whole firmware in a 64 KB heap of a 32-bit MicroPython.
//
//   node tests/wasm32/hour32.mjs CODE.romfs STREAM.bin OUTDIR SECONDS SPM [HEAP_BYTES] [SLICE_MS]
//
// tests/test_firmware_hour.py runs it. The interpreter is MicroPython's official WebAssembly
// port (wasm32: 4-byte pointers, small ints and object headers, as on the ESP32), from npm
// (package.json here pins it). Its heap is HEAP_BYTES (default 65536) and the firmware runs
// from the ROMFS image CODE.romfs, which this port keeps outside the heap, as an ESP32 keeps
// a ROMFS partition in memory-mapped flash.
//
// That port collects garbage only when control is back in JavaScript (it cannot scan
// WebAssembly's own stack); short of memory in between, it grows the heap instead of
// collecting. So the run is handed out in slices: each module import, the set-up, the boot,
// then SLICE_MS (default 50) of virtual time at a time, with a collection after each. A slice
// must fit in the heap with all the garbage it made: stricter than a pod, which collects
// whenever an allocation would fail. The heap must never grow: that is this test's
// MemoryError, reported with the slice it happened in.
//
// The ESP32 keeps sessions on littlefs, whose caches live in the heap: the mount and one open
// file take 864 + 512 bytes on the 64-bit unix port (less on 32 bits). This port has no
// littlefs: the files go to its in-memory file system, and a bytearray of those 1376 bytes
// stands in for the caches. (littlefs's transient garbage, about 1.5 KB per stat, open or
// rename on 64 bits, is not modelled: a pod collects it like any other.)
//
// Prints one line, RESULT {json}, and copies the session files to OUTDIR.
import fs from "node:fs";
import path from "node:path";
import { loadMicroPython } from "@micropython/micropython-webassembly-pyscript";

const [romfsPath, streamPath, outDir, secondsArg, spmArg, heapArg, sliceArg] = process.argv.slice(2);
const seconds = Number(secondsArg);
const spm = Number(spmArg);
const heapBytes = Number(heapArg || 65536);
const sliceMs = Number(sliceArg || 50);
const LITTLEFS_CACHES = 864 + 512;
// What `import app` loads, leaves first, so that each import is one slice; then the fakes and
// the driver. Not podconfig: the app imports it at boot and drops it again (app._load_config),
// nor rawcapture, imported only when a capture is asked for.
const MODULES = ["compat", "gait", "summary", "buzzer", "coach", "pipeline", "sessionlog", "mpu6050", "app",
  "fake_mpu6050", "fake_pwm", "podbench", "hour_driver"];

let printed = [];
const mp = await loadMicroPython({
  heapsize: heapBytes,
  romfs: new Uint8Array(fs.readFileSync(romfsPath)),
  stdout: (line) => printed.push(line),
  stderr: (line) => process.stderr.write(line + "\n"),
});

function fail(where, e) {
  const what = e && e.name === "PythonError" ? e.type + ": " + e.message.trim().split("\n").pop() : String(e);
  process.stdout.write("FAILED in " + where + ": " + what + "\n");
  process.exit(1);
}

// The GC's own figures: 'GC: total: N' from micropython.mem_info() is the heap's usable size.
mp.runPython("import gc, micropython\nmicropython.mem_info()");
const totalLine = printed.find((l) => l.startsWith("GC: total:"));
const heapTotal = Number(/total: (\d+)/.exec(totalLine)[1]);
const wordBytes = mp.pyimport("struct").calcsize("P"); // 4: a 32-bit build
// Handles are taken once: every attribute read from JavaScript makes a proxy that only
// JavaScript's own garbage collector (not run in this synchronous loop) would release.
const gcMod = mp.pyimport("gc");
const memAlloc = gcMod.mem_alloc;
const memFree = gcMod.mem_free;
const collect = gcMod.collect;
// mem_alloc() + mem_free() changes only if the heap gains an area (this port counts the room
// it could still grow by as free).
const sum0 = memAlloc() + memFree();
let peak = 0; // the most ever allocated: live data and garbage at the end of a slice
let peakWhere = "";
let liveMax = 0; // the most allocated right after a collection

function probe(where) {
  const used = memAlloc();
  if (used + memFree() !== sum0) {
    fail(where, "the heap grew past its " + heapTotal + " bytes (MemoryError on a fixed heap)");
  }
  if (used > peak) {
    peak = used;
    peakWhere = where;
  }
  collect(); // only asks; the collection runs when this call returns to JavaScript
  return used;
}

function settle() {
  const live = memAlloc();
  if (live > liveMax) liveMax = live;
  return live;
}

function step(where, f) {
  let value;
  try {
    value = f();
  } catch (e) {
    fail(where, e);
  }
  probe(where);
  settle();
  return value;
}

mp.FS.writeFile("/stream.bin", fs.readFileSync(streamPath));
mp.FS.mkdir("/flash");
step("littlefs stand-in", () => mp.runPython("_littlefs_caches = bytearray(" + LITTLEFS_CACHES + ")"));
for (const m of MODULES) step("import " + m, () => mp.pyimport(m));
const codeBytes = settle();
const H = mp.pyimport("hour_driver");
const run = step("set-up", () => H.Hour("/stream.bin", "/flash", spm));
const t0 = Date.now();
step("boot", () => run.boot());
const advance = run.advance;
let elapsedMs = 0;
while (elapsedMs >= 0 && elapsedMs < seconds * 1000) { // -1: the pod went to deep sleep
  elapsedMs = step("the slice ending near " + Math.round(elapsedMs / 1000 + sliceMs / 1000) + " s",
    () => advance(sliceMs));
}
const wallMs = Date.now() - t0;
// The run is over: reading the session files back (scan_session) is the test's, not the pod's,
// so it is not held to the 64 KB.
let result;
try {
  result = JSON.parse(mp.pyimport("json").dumps(run.result()));
} catch (e) {
  fail("result", e);
}
for (const [name] of result.sessions) {
  fs.writeFileSync(path.join(outDir, name), mp.FS.readFile("/flash/sessions/" + name));
}
Object.assign(result, {
  heap: heapTotal, word_bytes: wordBytes, peak, peak_where: peakWhere, live_max: liveMax, code_bytes: codeBytes,
  wall_ms: wallMs, slice_ms: sliceMs,
});
process.stdout.write("RESULT " + JSON.stringify(result) + "\n");
