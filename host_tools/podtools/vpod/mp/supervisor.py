"""The virtual pod's "ROM": boot, littlefs at /, boot.py and main.py, and the REPL mpremote uses.

    micropython -X heapsize=... supervisor.py CONFIG.json

Run by the launcher (podtools.vpod.pod) with stdin/stdout as the pod's serial line. It does
what MicroPython's ESP32 port does in C (ports/esp32/main.c, shared/runtime/pyexec.c):

- mounts the flash image (littlefs2) at / and formats it on first use, as _boot.py does;
- runs boot.py, then main.py when the REPL is in friendly mode;
- friendly REPL (">>> "), raw REPL (Ctrl-A), raw-paste mode (Ctrl-E A Ctrl-A, with the
  0x01 flow-control windows), Ctrl-B back to friendly, Ctrl-C interrupts running code
  (the launcher turns it into SIGINT, i.e. KeyboardInterrupt), Ctrl-D soft reboot: fresh
  globals and modules, peripherals off, boot.py and main.py again, same process;
- a hard reset, deep sleep, watchdog or brown-out ends the process with status 100 + cause
  and the launcher starts the next boot (RAM lost, flash and RTC kept).

The stand-ins (machine, esp32, time) are imported before the flash replaces the host's
file system at /, so the firmware finds them in sys.modules as built-ins.
"""

import gc
import io
import json
import os
import select
import sys

import _vpod  # noqa: I001 - first: the clock and trace the stand-ins use
import utime
import vfs

_vpod.configure(json.load(open(sys.argv[1])))
_CFG = _vpod.CFG
for _p in _CFG.get("extra_path", ()):
    sys.path.append(_p)
import time  # noqa: E402,F401 - the virtual clock's time module, kept in sys.modules

import _vpod_mpu  # noqa: E402

_vpod_mpu.imu()  # opens the recording while the host's files are still reachable
import esp32  # noqa: E402
import machine  # noqa: E402

_out = sys.stdout.buffer
_in = sys.stdin.buffer
_poll = select.poll()
_poll.register(0, select.POLLIN)
_ME = __file__.rsplit("/", 1)[0] + "/"  # frames of the "ROM" are not shown, as C has none
_FRIENDLY = 0
_RAW = 1
_SOFT = 2  # the REPL asked for a soft reboot
_BOOT_PY = b"""# This file is executed on every boot (including wake-boot from deepsleep)
#import esp
#esp.osdebug(None)
#import webrepl
#webrepl.start()
"""
_v = sys.implementation.version
_BANNER = "MicroPython v%d.%d.%d on %s; virtual pod with ESP32\r\nType \"help()\" for more information.\r\n" % (
    _v[0], _v[1], _v[2], sys.version.split(" on ")[-1])


def write(s):
    _out.write(s if isinstance(s, bytes) else s.encode())


def cooked(s):
    return s.replace("\r\n", "\n").replace("\n", "\r\n")


class TracingVfs:
    """littlefs with a trace line for every file opened for writing or removed."""

    def __init__(self, fs):
        self.fs = fs

    def mount(self, readonly, mkfs):
        return self.fs.mount(readonly, mkfs)

    def umount(self):
        return self.fs.umount()

    def ilistdir(self, path):
        return self.fs.ilistdir(path)

    def chdir(self, path):
        return self.fs.chdir(path)

    def getcwd(self):
        return self.fs.getcwd()

    def mkdir(self, path):
        return self.fs.mkdir(path)

    def remove(self, path):
        _vpod.trace("file_remove", path=path)
        return self.fs.remove(path)

    def rename(self, a, b):
        _vpod.trace("file_rename", path=a, to=b)
        return self.fs.rename(a, b)

    def rmdir(self, path):
        return self.fs.rmdir(path)

    def stat(self, path):
        return self.fs.stat(path)

    def statvfs(self, path):
        return self.fs.statvfs(path)

    def open(self, path, mode):
        if "w" in mode or "a" in mode or "+" in mode:
            _vpod.trace("file_open", path=path, mode=mode)
        return self.fs.open(path, mode)


def mount_flash():
    """Mount the image at / (formatting it if it holds no file system, as the ESP32 does)."""
    bd = _vpod.FLASH[0]
    how = "mounted"
    try:
        fs = vfs.VfsLfs2(bd)
    except OSError:
        head = bytearray(64)
        bd.readblocks(0, head)
        how = "mkfs" if head == b"\xff" * 64 else "reformatted"
        vfs.VfsLfs2.mkfs(bd)
        fs = vfs.VfsLfs2(bd)
    vfs.umount("/")
    vfs.mount(TracingVfs(fs), "/")
    os.chdir("/")
    if how != "mounted":
        with open("boot.py", "wb") as f:
            f.write(_BOOT_PY)
    return how


def print_exc(e):
    buf = io.StringIO()
    sys.print_exception(e, buf)
    lines = [ln for ln in buf.getvalue().split("\n") if _ME not in ln]
    write(cooked("\n".join(lines)))


def execute(src, g, name="<stdin>", kind="exec"):
    """Compile and run; returns _SOFT on SystemExit. Reset propagates."""
    try:
        exec(compile(src, name, kind), g)
    except SystemExit:
        return _SOFT
    except _vpod.SoftReboot:
        return _SOFT
    except _vpod.Reset:
        raise
    except BaseException as e:  # noqa: B036 - the REPL reports everything, as on the device
        print_exc(e)
    return 0


def run_file(path, g):
    try:
        os.stat(path)
    except OSError:
        return 0
    with open(path) as f:
        src = f.read()
    g["__file__"] = path
    r = execute(src, g, path)
    g.pop("__file__", None)
    return r


def _wait_input():
    """Wait for the serial line while a watchdog is armed (it survives soft resets and
    nothing feeds it at the REPL): a Reset when it fires first."""
    clock = _vpod.CLOCK
    while True:
        left = clock.wdt_left_us()
        if left is None:
            return
        t0 = utime.ticks_us()
        ready = _poll.poll(max(left, 0) // 1000 + 1)
        clock.idle_real_us(utime.ticks_diff(utime.ticks_us(), t0))
        if ready:
            return


def getc():
    """One byte from the serial line; Ctrl-C's SIGINT while idle is only a byte."""
    while True:
        try:
            _wait_input()
            c = _in.read(1)
        except KeyboardInterrupt:
            continue
        if not c:
            raise EOFError
        return c[0]


def raw_paste(g):
    window = 128  # half of MicroPython's 256-byte stdin buffer
    write(b"R\x01" + bytes((window & 0xFF, window >> 8)) + b"\x01")
    buf = bytearray()
    remain = window
    while True:
        c = getc()
        if c in (3, 4):
            write(b"\x04")
            if c == 3:
                write(b"\x04Traceback (most recent call last):\r\nKeyboardInterrupt: \r\n\x04")
                return 0
            break
        buf.append(c)
        remain -= 1
        if remain == 0:
            write(b"\x01")
            remain = window
    return run_raw(bytes(buf), g)


def run_raw(src, g):
    # The error output goes between the two EOF markers: print_exc writes it there.
    try:
        code = compile(src, "<stdin>", "exec")
    except BaseException as e:  # noqa: B036
        write(b"\x04")
        print_exc(e)
        write(b"\x04")
        return 0
    try:
        exec(code, g)
    except (SystemExit, _vpod.SoftReboot):
        write(b"\x04\x04")
        return _SOFT
    except _vpod.Reset:
        raise
    except BaseException as e:  # noqa: B036
        write(b"\x04")
        print_exc(e)
        write(b"\x04")
        return 0
    write(b"\x04\x04")
    return 0


def raw_repl(g):
    write(b"raw REPL; CTRL-B to exit\r\n")
    while True:
        write(b">")
        line = bytearray()
        while True:
            c = getc()
            if c == 1:  # Ctrl-A: raw-paste request, or reset the raw REPL
                if len(line) == 2 and line[0] == 5:
                    if line[1] != ord("A"):
                        write(b"R\x00")
                        break
                    if raw_paste(g) == _SOFT:
                        return _SOFT
                    break
                write(b"raw REPL; CTRL-B to exit\r\n>")
                line = bytearray()
            elif c == 2:  # Ctrl-B: friendly REPL
                write(b"\r\n")
                return _FRIENDLY
            elif c == 3:
                line = bytearray()
            elif c == 4:
                write(b"OK")
                if not line:
                    write(b"\r\n")
                    return _SOFT
                if run_raw(bytes(line), g) == _SOFT:
                    return _SOFT
                break
            else:
                line.append(c)


def _incomplete(src):
    """Does the friendly REPL need another line (a compound statement, open brackets)?"""
    depth = 0
    for ch in src:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
    lines = src.split("\n")
    if depth > 0:
        return True
    if lines[0].rstrip().endswith(":") or len(lines) > 1:
        return lines[-1].strip() != ""
    return False


def readline(prompt):
    """A line with echo and backspace; returns (control char or 0, text)."""
    write(prompt)
    line = bytearray()
    while True:
        c = getc()
        if c == 13:
            write(b"\r\n")
            return 0, line.decode()
        if c == 10:
            continue
        if c in (1, 2, 3, 4, 5) and not (c == 4 and line):
            return c, line.decode()
        if c in (8, 127):
            if line:
                line.pop()
                write(b"\x08 \x08")
            continue
        if c == 27:  # an escape sequence (arrow keys): swallow it
            if getc() == ord("["):
                getc()
            continue
        if c >= 32:
            line.append(c)
            _out.write(bytes((c,)))


def friendly_repl(g):
    write(_BANNER)
    while True:
        ctrl, text = readline(">>> ")
        if ctrl == 1:
            write(b"\r\n")
            return _RAW
        if ctrl == 2:
            write(b"\r\n" + _BANNER.encode())
            continue
        if ctrl == 3:
            write(b"\r\n")
            continue
        if ctrl == 4:
            write(b"\r\n")
            return _SOFT
        kind = "single"
        if ctrl == 5:
            write(b"\r\npaste mode; Ctrl-C to cancel, Ctrl-D to finish\r\n=== ")
            buf = bytearray()
            while True:
                c = getc()
                if c == 3:
                    write(b"\r\n")
                    buf = None
                    break
                if c == 4:
                    write(b"\r\n")
                    break
                buf.append(c)
                write(b"\r\n=== " if c == 13 else bytes((c,)))
            if buf is None:
                continue
            text, kind = buf.decode().replace("\r", "\n"), "exec"
        elif not text.strip():
            continue
        else:
            while _incomplete(text):
                ctrl, more = readline("... ")
                if ctrl == 3:
                    write(b"\r\n")
                    text = None
                    break
                if ctrl == 4:
                    break
                text += "\n" + more
            if text is None:
                continue
            if "\n" in text:
                kind = "exec" if not text.lstrip().startswith(("for", "while", "if", "def", "class", "with", "try")) else "single"
        if execute(text + "\n", g, kind=kind) == _SOFT:
            return _SOFT


def fresh_state(base_modules):
    """What a soft reboot clears: imported modules, globals, peripherals, heap."""
    for name in list(sys.modules):
        if name not in base_modules:
            del sys.modules[name]
    machine._soft_reset()
    esp32._soft_reset()
    gc.collect()
    return {"__name__": "__main__"}


def main():
    fs = mount_flash()
    sys.path.clear()
    sys.path.extend(["", ".frozen", "/lib"])
    base = set(sys.modules)
    mode = _FRIENDLY
    soft = False
    g = None
    while True:
        try:
            if soft:
                write(b"MPY: soft reboot\r\n")
                _vpod.BOOT["cause"] = _vpod.SOFT_RESET
            g = fresh_state(base)
            _vpod.trace("boot", cause=_vpod.BOOT["cause"],
                        soft=soft, fs=fs, mode="raw" if mode == _RAW else "friendly",
                        free=gc.mem_free())
            fs = "mounted"
            soft = False
            r = run_file("boot.py", g)
            if r != _SOFT and mode == _FRIENDLY:
                r = run_file("main.py", g)
                _vpod.trace("main_done", free=gc.mem_free(), alloc=gc.mem_alloc())
            if r == _SOFT:
                soft = True
                continue
        except KeyboardInterrupt as e:
            print_exc(e)
        while not soft:
            try:
                r = raw_repl(g) if mode == _RAW else friendly_repl(g)
            except KeyboardInterrupt:
                continue
            if r == _SOFT:
                soft = True
            else:
                mode = r


try:
    main()
except _vpod.Reset as e:
    _CFG["_exit"] = (e.cause, e.kind, e.sleep_us)
except EOFError:  # the launcher closed the line: power off
    _vpod.trace("halt")
    sys.exit(0)
if "_exit" in _CFG:
    _vpod.restart(*_CFG["_exit"])
