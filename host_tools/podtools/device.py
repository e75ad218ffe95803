"""The one module that talks to a pod: mpremote's serial transport, driven from Python.

    with device.connect(port=None) as pod:        # --port, $POD_PORT, or the one USB pod
        names = pod.listdir("/sessions")
        data = pod.read_file("/sessions/S000001-7f3a.pod", progress=bar.update)
        pod.sha256("/sessions/S000001-7f3a.pod") == hashlib.sha256(data).hexdigest()
        pod.set_clock()                           # the pod's RTC from the laptop (UTC)

Connecting interrupts the pod's main loop (Ctrl-C, as mpremote does), soft-resets it into
the raw REPL and, unless ``require_firmware=False`` (``pod flash`` on a new board), checks
the version stamp ``/pod_version.json`` that ``pod flash`` writes: no stamp means no pod
firmware, an older ``protocol`` means firmware older than these tools. Leaving the
``with`` block soft-reboots the pod, so its ``main.py`` runs again as after power-on.

Every failure a user can meet is a PodError with one line: no pod connected, port busy
or missing, not MicroPython, no or old firmware, transfer interrupted (cable pulled, pod
reset). Files are read in chunks (base64, ``CHUNK`` bytes, each chunk a small exec that
opens, seeks and closes the file), so ``read_file`` can resume from the bytes already
fetched and a transfer cut midway leaves the caller with nothing half-read.

Where things live on the pod (``POD_PATHS``) comes from the firmware app's own constants
when ``firmware/app.py`` defines them (``CONFIG_PATH``, ``SESSION_DIR``, ``BOARD_PATH``,
``CAPTURE_PATH``, ``STAMP_PATH``), read with ``ast`` so the host never imports device code.
"""

import ast
import binascii
import contextlib
import datetime
import errno
import io
import json
import os
import threading
import time

from . import paths
from .errors import PodError

PROTOCOL = 1  # host <-> pod contract (paths, stamp, session format); bump when it changes
_READ_TIMEOUT_S = 5
_HANDSHAKE_S = 20  # the longest the raw-REPL handshake may take, even with output streaming in
CHUNK = 2048  # bytes per read: ~2.8 KB of base64 per round trip, small for the pod's heap
# USB-serial bridges found on ESP32 boards: Silicon Labs CP210x, WCH CH34x, FTDI, Espressif.
_USB_VIDS = {0x10C4: "CP210x", 0x1A86: "CH34x", 0x0403: "FTDI", 0x303A: "Espressif"}
# sys.implementation._mpy >> 10: the native architecture (mpy-cross -march names, in order)
MPY_ARCHES = (None, "x86", "x64", "armv6", "armv6m", "armv7m", "armv7em", "armv7emsp",
              "armv7emdp", "xtensa", "xtensawin", "rv32imc", "rv64imc")

_DEFAULT_PATHS = {
    "CONFIG_PATH": "/config.json",
    "SESSION_DIR": "/sessions",
    "BOARD_PATH": "/board.py",
    "CAPTURE_PATH": "/capture.raw",
    "STAMP_PATH": "/pod_version.json",
}


def firmware_constants(names=None):
    """Top-level string/int constants of firmware/app.py and main.py (whichever define them)."""
    found = {}
    for fname in ("main.py", "app.py"):  # app.py wins: it is where the firmware keeps them
        path = paths.FIRMWARE_DIR / fname
        if not path.exists():
            continue
        try:
            tree = ast.parse(path.read_text())
        except SyntaxError:
            continue
        for node in tree.body:
            if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                value = node.value
                if isinstance(value, ast.Call) and getattr(value.func, "id", "") == "const" and value.args:
                    value = value.args[0]
                if isinstance(value, ast.Constant) and isinstance(value.value, (str, int)):
                    found[node.targets[0].id] = value.value
    if names is not None:
        found = {k: v for k, v in found.items() if k in names}
    return found


def pod_paths():
    """``{"CONFIG_PATH": ..., "SESSION_DIR": ..., ...}``: the firmware's values, else the defaults."""
    out = dict(_DEFAULT_PATHS)
    out.update(firmware_constants(_DEFAULT_PATHS))
    return out


POD_PATHS = pod_paths()


def find_port(port=None):
    """The serial port to use: ``port``, else $POD_PORT, else the one USB-serial bridge present."""
    if port:
        return port
    if os.environ.get("POD_PORT"):
        return os.environ["POD_PORT"]
    from serial.tools import list_ports

    found = [p for p in list_ports.comports() if p.vid in _USB_VIDS]
    if not found:
        raise PodError("no pod connected (plug it in over USB, or give --port)")
    if len(found) > 1:
        raise PodError("several serial devices connected (%s): choose one with --port"
                       % ", ".join(p.device for p in found))
    return found[0].device


def _port_problem(port, exc):
    """One line saying why ``port`` cannot be opened."""
    import serial

    if not os.path.exists(port) and "://" not in port:
        return "no pod connected at %s (no such port)" % port
    try:
        s = serial.Serial(port, 115200, exclusive=True, timeout=0)
        s.close()
    except serial.SerialException as e:
        text = str(e)
        if "exclusively lock" in text or "busy" in text.lower() or getattr(e, "errno", None) == errno.EBUSY:
            return "port %s is busy (another program, e.g. a serial monitor or mpremote, has it open)" % port
        if "ermission" in text:
            return "no permission to open %s (on Linux add yourself to the dialout group)" % port
        return "cannot open %s: %s" % (port, text)
    return "cannot open %s: %s" % (port, exc)


def connect(port=None, require_firmware=True):
    """Open the pod on ``port`` (see ``find_port``); a ``Pod`` to use in a ``with`` block.

    A pod that was just plugged in or reset may still be booting (or a busy laptop may
    starve a virtual pod) and miss the first handshake; the connection is tried twice
    more, after 1 s and 3 s, before giving up."""
    port = find_port(port)
    for pause in (1.0, 3.0, None):
        try:
            return Pod(port, require_firmware=require_firmware)
        except _HandshakeLost as e:
            if pause is None:
                raise PodError(str(e)) from None
            time.sleep(pause)


class _HandshakeLost(PodError):
    """The line went quiet while the connection was being set up."""


class DeviceError(PodError):
    """Code run on the pod raised; ``errno`` is set for an OSError there (e.g. ENOENT)."""

    def __init__(self, message, errno_=None):
        super().__init__(message)
        self.errno = errno_


class Pod:
    """An open connection in the raw REPL; see the module docstring."""

    def __init__(self, port, require_firmware=True):
        from mpremote.transport import TransportError
        from mpremote.transport_serial import SerialTransport

        self.port = port
        self.paths = dict(POD_PATHS)
        self._helpers = False
        # A port that was closed or reset a moment ago can refuse to open for a moment (the
        # kernel still tearing down the last close; a USB pod re-enumerating): a few tries over
        # ~1.5 s before saying why. A port that does not exist is said at once.
        for pause in (0.1, 0.2, 0.4, 0.8, None):
            try:
                # A read timeout, so a silent device is an error and not a hang (mpremote's
                # read_until reads a pty byte by byte without checking for waiting input first).
                self.t = SerialTransport(port, baudrate=115200, timeout=_READ_TIMEOUT_S)
                break
            except (TransportError, OSError) as e:
                if pause is None or (not os.path.exists(port) and "://" not in port):
                    raise PodError(_port_problem(port, e)) from None
                time.sleep(pause)
        self._interrupt()
        # mpremote's timeout_overall is only checked while nothing arrives: a device that
        # keeps printing (rebooting in a loop) would hold the handshake forever. Past the
        # deadline the port is closed under it, which ends any read.
        expired = threading.Event()

        def give_up():
            expired.set()
            self._close_quietly()

        guard = threading.Timer(_HANDSHAKE_S, give_up)
        guard.daemon = True
        guard.start()
        try:
            for wait in (3, 10):  # a pod still booting (just reset) misses the first Ctrl-C/Ctrl-A
                try:
                    with contextlib.redirect_stdout(io.StringIO()):  # mpremote prints what it got on failure
                        self.t.enter_raw_repl(soft_reset=True, timeout_overall=wait)
                    break
                except Exception:  # noqa: BLE001 - TransportError, serial errors, a silent device
                    if expired.is_set():
                        break
            else:
                expired.set()
        finally:
            guard.cancel()
        if expired.is_set():
            self._close_quietly()
            raise PodError("the device on %s does not answer as MicroPython does (a pod asleep after a run or "
                           "on a low battery wakes with its reset button; is MicroPython installed? see README; "
                           "if it keeps printing, it may be rebooting in a loop: unplug it and plug it in again)"
                           % port) from None
        try:
            self.info = self._platform()
            self.stamp = self.read_stamp()
            if require_firmware:
                check_stamp(self.stamp, port)
        except PodError as e:
            self._close_quietly()
            if str(e).startswith("transfer interrupted"):
                raise _HandshakeLost(str(e)) from None
            raise
        except BaseException:
            self._close_quietly()
            raise

    def _interrupt(self):
        """Stop a running main.py and let its traceback drain before mpremote's Ctrl-A: a
        Ctrl-A that arrives while the interrupted program unwinds is lost (a 3 s wait)."""
        ser = self.t.serial
        try:
            ser.write(b"\r\x03")
            time.sleep(0.05)
            ser.write(b"\x03")
            end = time.monotonic() + 1.0
            quiet = time.monotonic() + 0.15
            while time.monotonic() < min(end, quiet):
                if ser.in_waiting:
                    ser.read(ser.in_waiting)
                    quiet = time.monotonic() + 0.15
                else:
                    time.sleep(0.01)
        except OSError:
            pass  # enter_raw_repl reports a dead line

    # ---- life cycle ----

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        self.close(restart=exc_type is None or issubclass(exc_type, PodError))

    def _close_quietly(self):
        try:
            self.t.close()
        except Exception:  # noqa: BLE001 - the port may already be gone
            pass

    def close(self, restart=True):
        """Leave the raw REPL; with ``restart`` soft-reboot so the pod's main.py runs again."""
        t = self.t
        if t is None:
            return
        self.t = None
        try:
            t.exit_raw_repl()
            if restart:
                t.serial.write(b"\x04")  # Ctrl-D at the friendly prompt: soft reboot, main.py runs
                t.serial.flush()
        except Exception:  # noqa: BLE001 - a pod unplugged at the end is not an error here
            pass
        try:
            t.close()
        except Exception:  # noqa: BLE001
            pass

    # ---- running code ----

    def exec(self, code, timeout=15):
        """Run ``code`` on the pod; returns what it printed (bytes). DeviceError if it raised."""
        from mpremote.transport import TransportError, TransportExecError

        if self.t is None:
            raise PodError("the connection to the pod is closed")
        try:
            out, err = self.t.exec_raw(code, timeout=timeout)
        except TransportExecError as e:  # pragma: no cover - exec_raw does not raise it
            raise _device_error(e.error_output) from None
        except (TransportError, OSError) as e:  # serial.SerialException is an OSError
            self._lost(e)
        if err:
            raise _device_error(err.decode(errors="replace"))
        return out

    def _lost(self, exc):
        self._close_quietly()
        self.t = None
        raise PodError("transfer interrupted: the pod on %s stopped answering (%s); nothing was "
                       "half-imported, run the command again" % (self.port, str(exc).strip() or type(exc).__name__)
                       ) from None

    def eval(self, expr, timeout=15):
        """The value of a Python literal expression evaluated on the pod."""
        out = self.exec("print(repr(%s))" % expr, timeout=timeout).strip()
        try:
            return ast.literal_eval(out.decode())
        except (ValueError, SyntaxError):
            raise PodError("unexpected answer from the pod: %r" % out[:200]) from None

    def _platform(self):
        sysname, mpy, version = self.eval("(__import__('sys').platform, getattr(__import__('sys').implementation, "
                                          "'_mpy', 0), tuple(__import__('sys').implementation.version))")
        arch = (mpy >> 10) & 0x0F
        return {"platform": sysname, "mpy_version": mpy & 0xFF, "mpy_sub": (mpy >> 8) & 3,
                "arch": MPY_ARCHES[arch] if arch < len(MPY_ARCHES) else None,
                "micropython": ".".join(str(v) for v in version[:3])}

    # ---- files ----

    def stat(self, path):
        """``(size, is_dir)`` or None if ``path`` does not exist."""
        out = self.exec("import os\ntry:\n print(repr(tuple(os.stat(%r)[:7])))\nexcept OSError:\n print('None')"
                        % path).strip()
        r = ast.literal_eval(out.decode())
        if r is None:
            return None
        return r[6], bool(r[0] & 0x4000)

    def exists(self, path):
        return self.stat(path) is not None

    def listdir(self, path="/"):
        """``[(name, size, is_dir)]`` in ``path``, [] if it does not exist."""
        code = ("import os\ntry:\n l=[(e[0],os.stat(%r+'/'+e[0])[6] if e[1]!=0x4000 else 0,e[1]==0x4000)"
                " for e in os.ilistdir(%r)]\nexcept OSError:\n l=[]\nprint(repr(l))" % (path.rstrip("/"), path))
        out = self.exec(code).strip()
        return [tuple(x) for x in ast.literal_eval(out.decode())]

    def _ensure_helpers(self):
        if self._helpers:
            return
        self.exec(
            "import binascii, hashlib, os\n"
            "def _pod_rd(p, o, n):\n"
            " with open(p, 'rb') as f:\n"
            "  f.seek(o)\n"
            "  b = f.read(n)\n"
            " print(binascii.b2a_base64(b).decode(), end='')\n"
            "def _pod_sha(p, n=-1):\n"
            " h = hashlib.sha256()\n"
            " buf = bytearray(512)\n"
            " mv = memoryview(buf)\n"
            " with open(p, 'rb') as f:\n"
            "  while n:\n"
            "   k = f.readinto(mv if n < 0 or n >= 512 else mv[:n])\n"
            "   if not k:\n"
            "    break\n"
            "   h.update(mv[:k])\n"
            "   n = n - k if n > 0 else n\n"
            " print(binascii.hexlify(h.digest()).decode())\n"
            "def _pod_wr(p, b64):\n"
            " with open(p, 'ab') as f:\n"
            "  f.write(binascii.a2b_base64(b64))\n"
        )
        self._helpers = True

    def read_file(self, path, on_chunk=None, have=b"", size=None):
        """The bytes of ``path`` on the pod, read in CHUNK pieces after the ``have`` bytes already
        fetched (resume); ``on_chunk(chunk)`` is called with each piece as it arrives, so a caller
        can keep them. PodError if the connection is lost midway."""
        self._ensure_helpers()
        if size is None:
            st = self.stat(path)
            if st is None:
                raise DeviceError("no such file on the pod: %s" % path, errno.ENOENT)
            size = st[0]
        data = bytearray(have)
        while len(data) < size:
            n = min(CHUNK, size - len(data))
            out = self.exec("_pod_rd(%r, %d, %d)" % (path, len(data), n))
            chunk = binascii.a2b_base64(out.strip())
            if not chunk:
                raise PodError("%s on the pod ended early (%d of %d bytes)" % (path, len(data), size))
            data += chunk
            if on_chunk:
                on_chunk(chunk)
        return bytes(data)

    def sha256(self, path, length=-1):
        """Hex SHA-256 of ``path`` (its first ``length`` bytes), computed on the pod."""
        self._ensure_helpers()
        return self.exec("_pod_sha(%r, %d)" % (path, length), timeout=60).decode().strip()

    def write_file(self, path, data, progress=None):
        """Write ``data`` to ``path`` on the pod (replacing it), in CHUNK pieces."""
        self._ensure_helpers()
        self.exec("f = open(%r, 'wb')\nf.close()" % path)
        for i in range(0, len(data), CHUNK):
            piece = data[i:i + CHUNK]
            self.exec("_pod_wr(%r, %r)" % (path, binascii.b2a_base64(piece, newline=False).decode()))
            if progress:
                progress(len(piece))

    def write_file_atomic(self, path, data):
        """Write ``path + '.tmp'``, check its hash on the pod, then rename it over ``path``."""
        import hashlib

        tmp = path + ".tmp"
        self.write_file(tmp, data)
        if self.sha256(tmp) != hashlib.sha256(data).hexdigest():
            self.remove(tmp)
            raise PodError("writing %s on the pod failed verification; nothing was changed" % path)
        self.rename(tmp, path)

    def rename(self, a, b):
        # littlefs replaces the target atomically; FAT refuses, so remove it first there
        self.exec("import os\ntry:\n os.rename(%r, %r)\nexcept OSError:\n os.remove(%r)\n os.rename(%r, %r)"
                  % (a, b, b, a, b))

    def remove(self, path):
        self.exec("import os\ntry:\n os.remove(%r)\nexcept OSError:\n pass" % path)

    def mkdir(self, path):
        self.exec("import os\ntry:\n os.mkdir(%r)\nexcept OSError:\n pass" % path)

    def free_bytes(self):
        st = self.eval("tuple(__import__('os').statvfs('/'))")
        return st[0] * st[4]

    # ---- clock, stamp, reset ----

    def set_clock(self, now=None):
        """Set the pod's RTC to ``now`` (a UTC datetime, default the laptop's clock), in UTC."""
        now = now or datetime.datetime.now(datetime.timezone.utc)
        self.exec("import machine\nmachine.RTC().datetime((%d, %d, %d, %d, %d, %d, %d, 0))"
                  % (now.year, now.month, now.day, now.weekday(), now.hour, now.minute, now.second))

    def clock(self):
        """The pod's RTC as a naive UTC datetime."""
        t = self.eval("__import__('machine').RTC().datetime()")
        return datetime.datetime(t[0], t[1], t[2], t[4], t[5], t[6])

    def read_stamp(self):
        """The version stamp ``pod flash`` wrote, as a dict; None if there is none (or unreadable)."""
        path = self.paths["STAMP_PATH"]
        try:
            out = self.exec("try:\n print(open(%r).read())\nexcept OSError:\n print('null')" % path)
        except DeviceError:
            return None
        try:
            stamp = json.loads(out.decode())
        except ValueError:
            return None
        return stamp if isinstance(stamp, dict) else None

    def hard_reset(self):
        """``machine.reset()``: the pod reboots and runs main.py; the connection is closed."""
        t = self.t
        self.t = None
        try:
            t.exec_raw_no_follow("import machine\nmachine.reset()")
        except Exception:  # noqa: BLE001 - the reset may cut the line before the ack
            pass
        try:
            t.close()
        except Exception:  # noqa: BLE001
            pass


def check_stamp(stamp, port="the port"):
    """PodError unless ``stamp`` says the pod runs firmware these tools can talk to."""
    if stamp is None:
        raise PodError("the device on %s has MicroPython but no pod firmware, or a pod flash that did not "
                       "finish (no version stamp): run `pod flash`" % port)
    proto = stamp.get("protocol")
    if not isinstance(proto, int) or proto < PROTOCOL:
        raise PodError("the pod's firmware (%s, protocol %s) is older than these tools (protocol %d): run `pod flash`"
                       % (stamp.get("firmware", "?"), proto, PROTOCOL))
    if proto > PROTOCOL:
        raise PodError("the pod's firmware (%s, protocol %d) is newer than these tools (protocol %d): update podtools"
                       % (stamp.get("firmware", "?"), proto, PROTOCOL))


def _device_error(text):
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    last = lines[-1] if lines else "error"
    code = None
    if last.startswith("OSError"):
        for name, num in (("ENOENT", errno.ENOENT), ("ENOSPC", errno.ENOSPC), ("EEXIST", errno.EEXIST)):
            if name in last or last.endswith(": %d" % num) or "[Errno %d]" % num in last:
                code = num
        if code == errno.ENOSPC:
            return DeviceError("the pod's flash is full (%s)" % last, code)
    return DeviceError("the pod reported: %s" % last, code)
