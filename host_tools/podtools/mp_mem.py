"""Heap taken by the firmware, measured inside the MicroPython unix port (``make bench``).

    micropython mp_mem.py MPY_DIR               # code from .mpy files, engine, pipeline
    micropython mp_mem.py MPY_DIR ROMFS_IMAGE   # code in place from the ROMFS image

MPY_DIR holds the firmware compiled for this port (``pod flash`` does the same for the
ESP32); ROMFS_IMAGE the same modules as a ROMFS image (``pod flash --romfs-image``).
Prints ``key=bytes`` pairs: the heap the app's imports take when the code is loaded from
.mpy files (as on a stock ESP32, where it is copied into the heap) and when it runs in place
from the ROMFS (only the objects built at import stay in the heap; the image itself, in heap
here, is not counted), and the state of a gait engine and a whole pipeline at 200 Hz.
"""
import gc
import sys


def _used():
    gc.collect()
    return gc.mem_alloc()


def _size(make):
    """Heap bytes of the object ``make()`` builds (kept alive while measured)."""
    base = _used()
    obj = make()
    size = _used() - base
    return size if obj is not None else 0


def _imports(path):
    sys.path.insert(0, path)
    base = _used()
    import app  # noqa: F401 - everything the main loop imports
    import pipeline  # noqa: F401 - imported by the app at boot

    return _used() - base


def main(mpy_dir, image):
    if image:
        import vfs  # MicroPython only: bench.py imports this file for its path

        with open(image, "rb") as f:
            data = f.read()
        vfs.mount(vfs.VfsRom(data), "/rom")
        print("rom_code=%d" % _imports("/rom"))
    else:
        print("mpy_code=%d" % _imports(mpy_dir))
        import gait
        import pipeline

        print("pipeline=%d" % _size(pipeline.Pipeline))
        print("engine=%d" % _size(lambda: gait.GaitEngine(period_us=5000)))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None)
