"""The virtual pod: the unmodified firmware in MicroPython with simulated hardware.

``VirtualPod`` (in ``pod``) starts it and gives its serial port for mpremote; the
MicroPython side (supervisor, machine, esp32, time stand-ins) lives in ``mp/``.
"""

from .pod import MP_DIR, VirtualPod, new_flash, write_imu_bin

__all__ = ["MP_DIR", "VirtualPod", "new_flash", "write_imu_bin"]
