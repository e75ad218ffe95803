"""The virtual pod's launcher: a pseudo-terminal, the MicroPython process, its boots.

    with VirtualPod(flash="pod.img", recording=rec, speed="max") as pod:
        subprocess.run([".venv/bin/mpremote", "connect", pod.port, "ls"])
        events = pod.trace_events()

One ``micropython`` process is one boot of the pod (power-on, hard reset, deep-sleep wake,
watchdog, power cut). A relay thread copies bytes between the pty master and the process's
stdin/stdout; a Ctrl-C byte from the host also becomes SIGINT (KeyboardInterrupt in running
code, as the ESP32's UART interrupt does; not after micropython.kbd_intr(-1)), delivered when the
process waits in a sleep or a read, where the ESP32 would raise it too. Speed
``max`` runs on the deterministic virtual clock. When the process ends with status 100 + cause
the relay starts the next boot with that reset cause; killed by a power cut, it boots with
PWRON_RESET and the RTC lost. The flash image and the trace file outlive all boots.

Trace: JSON lines, each ``{"ev": kind, "w": world us, "boot": n, ...}``. World time starts
at 0 when the pod starts and runs on through resets; the recording plays on world time.
Kinds: boot, main_done, reset, power_cut, halt, buzz (on, src, pin, hz), led, i2c_fault,
i2c_unstuck, wdt_start, wdt, lightsleep, rtc_set, freq, heap (free, alloc), file_open
(path, mode), file_remove, file_rename, crash (written by the launcher).
"""

import fcntl
import json
import os
import select
import signal
import subprocess
import tempfile
import threading
import time
import tty
from pathlib import Path

import numpy as np

from .. import paths
from ..errors import PodError, replaceable

MP_DIR = Path(__file__).resolve().parent / "mp"
FLASH_BYTES = 2 * 1024 * 1024  # the ESP32's default vfs partition on a 4 MB module
BLOCK_SIZE = 4096
_EXIT_RESTART = 100
_PWRON, _HARD = 1, 2
_CTRL_C_WAIT_S = 0.5  # see VirtualPod._deliver_ctrl_c
# Linux system calls in which a MicroPython process waits for time or input (x86_64, aarch64):
# read (stdin only), poll/ppoll, select/pselect6, nanosleep/clock_nanosleep, epoll_wait/pwait.
_WAIT_SYSCALLS = {
    "x86_64": {0: 0, 7: None, 23: None, 35: None, 230: None, 270: None, 271: None, 232: None, 281: None},
    "aarch64": {63: 0, 73: None, 72: None, 101: None, 115: None, 22: None},
}.get(os.uname().machine, {})
_KNOWN_BOARD_KEYS = {
    "I2C_SCL": "i2c_scl", "I2C_SDA": "i2c_sda", "IMU_ADDR": "imu_addr", "IMU_INT_PIN": "imu_int_pin", "LED_PIN": "led_pin",
    "BATTERY_ADC_PIN": "battery_pin", "BATTERY_DIVIDER": "battery_divider", "BUZZER_PIN": "buzzer_pin",
}


def write_imu_bin(rec, path):
    """A recording as the simulator's IMU source: a text header, then int16 LE x 6 per sample
    on a uniform grid at the recording's rate (nearest sample; gaps repeat their neighbour)."""
    period_ns = int(round(1e9 / rec.rate_hz))
    t = np.asarray(rec.t_us, dtype=np.int64) - int(rec.t_us[0])
    n = int(t[-1] * 1000 // period_ns) + 1 if len(t) else 0
    grid = np.arange(n, dtype=np.int64) * period_ns // 1000
    idx = np.clip(np.searchsorted(t, grid), 0, max(len(t) - 1, 0))
    prev = np.clip(idx - 1, 0, None)
    idx = np.where(np.abs(t[prev] - grid) < np.abs(t[idx] - grid), prev, idx)
    imu = np.asarray(rec.imu, dtype="<i2")[idx] if n else np.zeros((0, 6), "<i2")
    rest = np.median(np.asarray(rec.imu[:50, :3], dtype=np.int64), axis=0).astype(int) if len(t) else (0, 0, 2048)
    head = "vpodimu1 %d %d %d %d %d %d %d\n" % (period_ns, n, rec.accel_fs_g, rec.gyro_fs_dps, *rest)
    with open(path, "wb") as f:
        f.write(head.encode())
        f.write(np.ascontiguousarray(imu).tobytes())


def board_settings(name):
    """The simulator's wiring from board_configs/NAME.py (pins, IMU address, battery divider)."""
    path = paths.board_file(name)
    values = {}
    exec(compile(path.read_text(), str(path), "exec"), values)
    return {key: values[k] for k, key in _KNOWN_BOARD_KEYS.items() if values.get(k) is not None}


def new_flash(path, size=FLASH_BYTES):
    """A blank (erased, all 0xFF) flash image; the pod formats it at its first boot."""
    with open(path, "wb") as f:
        f.write(b"\xff" * size)


def check_flash(path, size=FLASH_BYTES):
    """Refuse a file that is not a flash image (the pod would format it, losing what it held)."""
    if not path.is_file():
        raise PodError("%s is not a flash image (not a file)" % path)
    with open(path, "rb") as f:
        head = f.read(2 * BLOCK_SIZE)
        f.seek(0, 2)
        n = f.tell()
    blank = head[:BLOCK_SIZE] == b"\xff" * BLOCK_SIZE
    if n != size or not (blank or b"littlefs" in head):
        raise PodError("%s is not a virtual pod's flash image (a %d-byte littlefs image); it is left as it is: "
                       "give --flash a new file name" % (path, size))


def is_trace(head):
    """Whether a file's first bytes are a virtual pod's trace (JSON lines with an "ev")."""
    try:
        first = json.loads(head.split(b"\n", 1)[0])
    except ValueError:
        return False
    return isinstance(first, dict) and "ev" in first


class VirtualPod:
    """A running virtual pod; see the module docstring.

    flash: image path (created blank if missing; a temporary one if None).
    recording: a podcsv.Recording the IMU plays (None: the pod lies still).
    speed: 1.0 real time, N times faster sleeps, or "max" (deterministic, as fast as it runs).
    power_cuts: for boot k (0, 1, ...), cut the power at that boot's N-th flash write.
    i2c_faults: [{"kind": "nack"|"timeout"|"stuck"|"unplug", "at_us": world, "dur_us": ...}].
    battery: {"soc": start %, "ma": mean current awake, "sleep_ma": in deep sleep, "mah":
        capacity}; low battery = small soc. Defaults 90 %, 40 mA, 0.23 mA (docs/power.md), 500.
    brownout_at_us: world time of a brown-out reset.
    clock: Unix time the pod's RTC shows at power-on, as set earlier (``pod flash`` sets it)
        and kept by its battery since; None: not set since power-up (it starts at 2000).
    """

    def __init__(self, flash=None, recording=None, speed=1.0, trace=None, board="lolin_d32",
                 heap="2M", power_cuts=(), i2c_faults=(), battery=None, brownout_at_us=None,
                 uid=0x123456, max_boots=None, clock=None):
        # what the caller got wrong is said before anything is made
        board_cfg = board_settings(board) if board else {}
        if recording is not None and len(recording) == 0:
            raise PodError("the recording has no samples for the IMU to play")
        if flash and Path(flash).exists():
            check_flash(Path(flash))
        trace = Path(trace).resolve() if trace else None
        if trace:
            replaceable(trace, "a virtual pod's trace", is_trace)
            with trace.open("a"):  # (a path it cannot take fails here; start() empties it)
                pass
        self._tmp = tempfile.TemporaryDirectory(prefix="vpod-")
        self.workdir = Path(self._tmp.name)
        self.flash = Path(flash).resolve() if flash else self.workdir / "flash.img"
        if not self.flash.exists():
            new_flash(self.flash)
        self.trace_path = trace or self.workdir / "trace.jsonl"
        self.speed = speed
        self.heap = heap
        self.power_cuts = list(power_cuts)
        self.max_boots = max_boots
        self.base_cfg = {
            "flash": str(self.flash), "trace": str(self.trace_path), "block_size": BLOCK_SIZE,
            "speed": "max" if speed in ("max", None) else float(speed), "uid": uid,
            "i2c_faults": list(i2c_faults), "battery": battery or {},
            # tests/firmware/fake_mpu6050.py is the IMU's register map (shared with the tests)
            "extra_path": [str(paths.ROOT / "tests" / "firmware")],
        }
        if brownout_at_us is not None:
            self.base_cfg["brownout_at_us"] = brownout_at_us
        if clock is not None:
            self.base_cfg["clock_unix_us"] = int(clock * 1e6)
        self.base_cfg.update(board_cfg)
        if recording is not None:
            imu = self.workdir / "imu.bin"
            write_imu_bin(recording, imu)
            self.base_cfg["imu"] = str(imu)
        self.output = bytearray()  # everything the pod wrote to its serial line
        self.boots = 0
        self.exits = []  # (returncode, reason) per finished boot
        self._proc = None
        self._master = None
        self._stop = threading.Event()
        self._thread = None
        self._lock = threading.Lock()
        self._ctrl_c = None  # a Ctrl-C to deliver: the monotonic time after which it goes anyway
        self._flash_lock = None
        self._trace_lock = None
        self.port = None

    # ---- life cycle ----

    def start(self):
        # One pod per flash image: two would each mount it and corrupt the other's writes.
        self._flash_lock = open(self.flash, "rb")
        try:
            fcntl.flock(self._flash_lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._flash_lock.close()
            self._flash_lock = None
            self._tmp.cleanup()
            raise PodError("the flash image %s is in use by another virtual pod" % self.flash) from None
        # ... and per trace: two writing one would mix their lines (and each start empty it).
        self._trace_lock = open(self.trace_path, "a")
        try:
            fcntl.flock(self._trace_lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.stop()
            raise PodError("the trace %s is in use by another virtual pod: give --trace another path"
                           % self.trace_path) from None
        self._trace_lock.truncate(0)  # the trace starts empty
        master, slave = os.openpty()
        tty.setraw(slave)
        self.port = os.ttyname(slave)
        os.close(slave)  # mpremote opens it by name; the master sees HUP until then
        os.set_blocking(master, False)
        self._master = master
        self._spawn({"cause": _PWRON, "world_us": 0})
        self._thread = threading.Thread(target=self._relay, name="vpod-relay", daemon=True)
        self._thread.start()
        return self

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def stop(self):
        """Power off (the process is killed between two bytecodes, never mid-write)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        if self._master is not None:
            os.close(self._master)
            self._master = None
        for lock in (self._flash_lock, self._trace_lock):
            if lock is not None:
                lock.close()  # releases the lock
        self._flash_lock = self._trace_lock = None
        self._tmp.cleanup()

    @property
    def running(self):
        return self._thread is not None and self._thread.is_alive()

    def _spawn(self, boot):
        cfg = dict(self.base_cfg)
        cfg.update(boot)
        cfg["boot"] = self.boots
        if self.boots < len(self.power_cuts) and self.power_cuts[self.boots]:
            cfg["cut_after"] = int(self.power_cuts[self.boots])
        path = self.workdir / "boot.json"
        path.write_text(json.dumps(cfg))
        self._proc = subprocess.Popen(
            [paths.micropython_exe(), "-X", "heapsize=%s" % self.heap, str(MP_DIR / "supervisor.py"), str(path)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, bufsize=0,
            cwd=str(MP_DIR), start_new_session=True,  # terminal Ctrl-C must not reach it
            preexec_fn=_die_with_parent)
        os.set_blocking(self._proc.stdout.fileno(), False)
        os.set_blocking(self._proc.stdin.fileno(), False)
        self._ctrl_c = None
        self.boots += 1

    # ---- the relay ----

    def _relay(self):
        to_pod = bytearray()
        to_host = bytearray()
        while not self._stop.is_set():
            proc = self._proc
            poller = select.poll()
            m = self._master
            poller.register(m, select.POLLIN | (select.POLLOUT if to_host else 0))
            out_fd = proc.stdout.fileno()
            if len(to_host) < 65536:  # back-pressure, as a USB serial line blocks the device
                poller.register(out_fd, select.POLLIN)
            if to_pod:
                poller.register(proc.stdin.fileno(), select.POLLOUT)
            hup = False
            for fd, ev in poller.poll(20):
                if fd == m:
                    # What a client wrote just before closing the port still arrives (as on a
                    # UART): read it even when the hang-up is reported with it. (Dropping it
                    # left a pod in the raw REPL when the closing Ctrl-B/Ctrl-D was lost.)
                    if ev & select.POLLIN:
                        data = _read(m)
                        if data:
                            to_pod += data
                            if 3 in data and proc.poll() is None and self._interruptible(proc):
                                self._ctrl_c = time.monotonic() + _CTRL_C_WAIT_S
                    if ev & select.POLLHUP:
                        hup = True
                    if ev & select.POLLOUT and to_host and not hup:
                        try:
                            n = os.write(m, to_host)
                            del to_host[:n]
                        except BlockingIOError:
                            pass
                elif fd == out_fd:
                    data = _read(out_fd)
                    if data:
                        with self._lock:
                            self.output += data
                        to_host += data
                elif to_pod:
                    try:
                        n = os.write(proc.stdin.fileno(), to_pod)
                        del to_pod[:n]
                    except (BlockingIOError, BrokenPipeError):
                        pass
            if self._ctrl_c is not None:
                self._deliver_ctrl_c(proc)
            if hup:
                to_host.clear()  # no one listening: a UART's bytes are simply gone
                time.sleep(0.01)
            if proc.poll() is not None:
                rest = _read(out_fd)
                if rest:
                    with self._lock:
                        self.output += rest
                    to_host += rest
                to_pod.clear()
                if not self._next_boot(proc.returncode):
                    return

    def _interruptible(self, proc):
        """Ctrl-C may interrupt once the supervisor has booted (its "boot" trace line is
        out: before that a KeyboardInterrupt would hit its own start-up) and while
        MicroPython's SIGINT handler is installed."""
        booted = any(e.get("boot") == self.boots - 1 for e in self.trace_events("boot"))
        return booted and _sigint_caught(proc.pid)

    def _deliver_ctrl_c(self, proc):
        """Raise the pending Ctrl-C in the pod once it waits in a system call.

        The unix port raises KeyboardInterrupt from inside its SIGINT handler, wherever the
        process is: in the middle of a littlefs operation or the garbage collector, states no
        Python code can repair. The ESP32 raises it only between bytecodes. So the SIGINT goes
        when the pod sleeps or waits for input (where both raise the same way), as a pod
        running its loop or sitting at the REPL does nearly all the time; after
        ``_CTRL_C_WAIT_S`` of busy code it goes anyway. Several Ctrl-C before that are one, as
        the ESP32's single pending exception makes them."""
        if proc.poll() is not None:
            self._ctrl_c = None
            return
        if time.monotonic() < self._ctrl_c and not _waiting(proc.pid):
            return
        if not _sigint_caught(proc.pid):
            return  # micropython.kbd_intr(-1) for now: held until Ctrl-C is on again
        self._ctrl_c = None
        try:
            os.kill(proc.pid, signal.SIGINT)
        except ProcessLookupError:
            pass  # it has just ended; the relay starts the next boot

    def _next_boot(self, rc):
        """Start the boot that follows a process's end; False when the pod is off."""
        events = self.trace_events()
        last = events[-1] if events else {}
        if rc == 0 or self._stop.is_set():
            self.exits.append((rc, "halt"))
            return False
        if self.max_boots is not None and self.boots >= self.max_boots:
            self.exits.append((rc, "max_boots"))
            return False
        if rc >= _EXIT_RESTART and last.get("ev") == "reset":
            self.exits.append((rc, last.get("kind")))
            if last.get("kind") == "brownout":
                self.base_cfg.pop("brownout_at_us", None)
            if last.get("kind") == "deepsleep":
                self.base_cfg["slept_us"] = self.base_cfg.get("slept_us", 0) + last.get("sleep_us", 0)
            self._spawn({"cause": rc - _EXIT_RESTART, "world_us": last["world_next"],
                         "rtc": last["rtc"], "wake": last.get("wake", 0)})
            return True
        world = max((e.get("w", 0) for e in events[-50:]), default=0)
        if rc == -signal.SIGKILL and last.get("ev") == "power_cut":
            self.exits.append((rc, "power_cut"))
            self._spawn({"cause": _PWRON, "world_us": world})
            return True
        # Anything else is a crash of the simulation or the supervisor: note it and reboot.
        crashes = sum(1 for _, why in self.exits[-5:] if why == "crash")
        self.exits.append((rc, "crash"))
        with open(self.trace_path, "a") as f:
            f.write(json.dumps({"ev": "crash", "rc": rc, "w": world, "boot": self.boots - 1}) + "\n")
        if crashes >= 4:
            return False
        self._spawn({"cause": _HARD, "world_us": world})
        return True

    # ---- observation ----

    def trace_events(self, kind=None):
        """The trace so far, as dicts (a line still being written is left out)."""
        events = []
        try:
            text = self.trace_path.read_text()
        except FileNotFoundError:
            return events
        for line in text.split("\n"):
            if not line:
                continue
            try:
                e = json.loads(line)
            except ValueError:
                continue
            if kind is None or e.get("ev") == kind:
                events.append(e)
        return events

    def diagnosis(self, tail=1500):
        """What to look at when a test against this pod fails: how its boots ended, the last
        bytes it wrote to the serial line, the end of its trace."""
        with self._lock:
            out = bytes(self.output[-tail:])
        lines = ["boots %d, exits %r" % (self.boots, self.exits), "serial line, last %d bytes: %r" % (len(out), out)]
        lines += ["trace: %s" % json.dumps(e) for e in self.trace_events()[-15:]]
        return "\n".join(lines)

    def wait_for(self, predicate, timeout=10.0):
        """Poll the trace until ``predicate(events)`` is true; returns the events."""
        end = time.monotonic() + timeout
        while True:
            events = self.trace_events()
            if predicate(events):
                return events
            if time.monotonic() > end:
                raise TimeoutError("virtual pod: condition not met in %.1f s" % timeout)
            time.sleep(0.02)

    def wait_output(self, text, timeout=10.0):
        end = time.monotonic() + timeout
        needle = text.encode() if isinstance(text, str) else text
        while needle not in self.output:
            if time.monotonic() > end:
                raise TimeoutError("virtual pod: %r not printed in %.1f s" % (text, timeout))
            time.sleep(0.02)


def _sigint_caught(pid):
    """Does the process handle SIGINT now? Not after micropython.kbd_intr(-1), which on the
    unix port restores the default action: Ctrl-C is then only a byte, as on the ESP32."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("SigCgt:"):
                    return bool(int(line.split()[1], 16) & (1 << (signal.SIGINT - 1)))
    except OSError:
        pass
    return True  # no /proc: assume MicroPython's own handler is in place


def _waiting(pid):
    """Is the process blocked in a wait (sleep, poll, a read of stdin)? From /proc/PID/syscall:
    the call's number and arguments, or "running"."""
    try:
        with open("/proc/%d/syscall" % pid) as f:
            fields = f.read().split()
        nr = int(fields[0])
    except (OSError, ValueError, IndexError):
        return False
    if nr not in _WAIT_SYSCALLS:
        return False
    fd = _WAIT_SYSCALLS[nr]
    return fd is None or int(fields[1], 16) == fd


def _die_with_parent():
    # Linux: the pod goes when its launcher goes, however the launcher ends.
    try:
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _read(fd):
    try:
        return os.read(fd, 65536)
    except (BlockingIOError, OSError):
        return b""
