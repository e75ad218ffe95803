"""Mount a ROMFS image that lies outside MicroPython's heap, as a pod's flash partition does.

On an ESP32 a ROMFS partition (or frozen code) is memory-mapped flash: ``import`` runs the
``.mpy`` bytecode in place, and only the objects built at import (modules, functions,
classes, interned names) take heap. The unix port has no such partition, so the test
provides the memory: it starts MicroPython with ``image size + 32`` placeholder bytes in
the environment, in a variable ``POD_ROM`` and, since Linux caps one string at 128 KiB,
more after it (``POD_ROM1``, ...), the last in the environment. Environment strings lie
back to back in the process's own memory above the stack, never in the GC heap;
``/proc/self/stat`` says where they start and end. ``mount`` copies the image from
``POD_ROM``'s value to the end (256 bytes at a time) and mounts it with ``vfs.VfsRom``.

Linux only. Nothing else reads the variables; only ``POD_ROM``'s name stays intact.
"""
import os
import sys

import uctypes
import vfs

VAR = b"POD_ROM="


def _env_span():
    """(env_start, env_end): where the environment strings lie."""
    with open("/proc/self/stat") as f:
        st = f.read()
    # fields after "pid (comm) ": state is field 3; env_start is field 50, env_end 51
    fields = st[st.rindex(")") + 2:].split()
    return int(fields[47]), int(fields[48])


def _find_value():
    """(offset, length) of POD_ROM's value in /proc/self/environ."""
    chunk = bytearray(512)
    base = 0
    start = -1
    with open("/proc/self/environ", "rb") as f:
        while True:
            f.seek(base)
            n = f.readinto(chunk)
            if not n:
                raise OSError("POD_ROM is not in the environment")
            data = bytes(chunk[:n])
            if start < 0:
                i = data.find(VAR)
                if i >= 0:
                    start = base + i + len(VAR)
                    data = data[i + len(VAR):]
                    base = start
                elif n <= len(VAR):  # the tail cannot hold the name: it is not there
                    raise OSError("POD_ROM is not in the environment")
                else:
                    base += n - len(VAR)
                    continue
            j = data.find(b"\0")
            if j >= 0:
                return start, base + j - start
            base += len(data)


def mount(image, where="/rom"):
    size = os.stat(image)[6]
    off, _ = _find_value()
    start, end = _env_span()
    addr = start + off
    room = end - addr  # POD_ROM's value and the placeholders after it
    pad = -addr & 15  # aligned as a flash partition is
    if room < size + pad:
        raise OSError("POD_ROM holds %d bytes, the image needs %d" % (room, size + pad))
    addr += pad
    rom = uctypes.bytearray_at(addr, size)
    chunk = bytearray(256)
    with open(image, "rb") as f:
        off = 0
        while off < size:
            n = f.readinto(chunk)
            rom[off:off + n] = memoryview(chunk)[:n]
            off += n
    if bytes(rom[:3]) != b"\xd2\xcd\x31":
        raise OSError("not a ROMFS image: " + image)
    vfs.mount(vfs.VfsRom(rom), where)
    sys.path.insert(0, where)
