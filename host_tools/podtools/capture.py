"""pod capture: record raw IMU on the pod and download it as pod-imu CSV.

    pod capture --seconds N --out REC.csv [--port P] [--wait S]
    pod capture --download --out REC.csv [--port P]

The firmware (firmware/app.py) captures ``raw_capture_s`` seconds of raw FIFO bytes at
the start of every session into its ``CAPTURE_PATH``, replacing the previous capture. So
this command arms the capture (sets ``raw_capture_s`` = N in the pod's config, validated by
podconfig, written atomically), lets the pod restart its main loop and waits ``--wait``
seconds (default N + 60) while the runner runs: connecting during the capture would
interrupt it. It then downloads the capture (resumable chunks, checked by SHA-256 on the
pod), converts it with podtools.rawconv, removes it from the pod and disarms
(``raw_capture_s`` = 0). If the pod has not captured yet (no run started), the capture
stays armed and ``pod capture --download --out REC.csv`` fetches it later. A capture not
downloaded yet is never replaced from here: arming again asks for the download first. One
that cannot be converted (cut short as it was created) is saved as REC.raw and removed.
"""

import hashlib
import os
import sys
import time
from pathlib import Path

from . import config_cmd, device, paths, podcsv, rawconv
from .errors import PodError, replaceable, writing


def add_arguments(p):
    p.add_argument("--seconds", type=int, help="seconds of raw IMU to record at the start of the next run")
    p.add_argument("--out", required=True, metavar="REC.csv", help="pod-imu CSV to write")
    p.add_argument("--wait", type=float, help="seconds to wait for the run (default: seconds + 60)")
    p.add_argument("--download", action="store_true", help="only fetch a capture the pod already holds")
    p.add_argument("--port", help="serial port of the pod (default: $POD_PORT or the one USB pod)")


def capture_size(pod):
    """Bytes in the raw capture the pod holds, or None if it holds none."""
    st = pod.stat(pod.paths["CAPTURE_PATH"])
    return None if st is None or st[1] else st[0]


def set_capture(pod, seconds):
    import podconfig

    cfg, _problem = config_cmd.read_config(pod)
    new = podconfig.with_value(cfg, "raw_capture_s", str(seconds))
    if new != cfg:
        pod.write_file_atomic(pod.paths["CONFIG_PATH"], podconfig.dumps(new).encode())


def download(pod, out):
    """Fetch the pod's raw capture, convert it to ``out``; False if there is none."""
    size = capture_size(pod)
    if size is None:
        return False
    path = pod.paths["CAPTURE_PATH"]
    data = pod.read_file(path, size=size)
    if pod.sha256(path) != hashlib.sha256(data).hexdigest():
        raise PodError("the capture %s changed while it was read: run pod capture --download again" % path)
    try:
        rec, warnings = rawconv.decode(data, "pod raw capture %s" % Path(path).name)
    except PodError as e:
        # Damaged (a power cut as it was created, say): kept here, and off the pod, which
        # would otherwise refuse every new capture until this one was downloaded.
        keep = out.with_suffix(".raw")  # (_check_out made sure it may be written)
        with writing(keep):
            keep.write_bytes(data)
        set_capture(pod, 0)
        pod.remove(path)
        raise PodError("the pod's capture %s cannot be converted (%s): its %d bytes are saved in %s and "
                       "it is removed from the pod" % (path, e, len(data), keep)) from None
    with writing(out):
        podcsv.write(out, rec)
    for w in warnings or ():
        print("warning: %s" % w, file=sys.stderr)
    set_capture(pod, 0)
    pod.remove(path)
    print("%s: raw capture %s (%d bytes) converted to pod-imu CSV" % (out, path, len(data)))
    return True


def _check_out(out):
    """PodError now if ``out`` could not be written once the capture is downloaded."""
    if out.is_dir():
        raise PodError("--out %s: is a folder (give REC.csv)" % out)
    if not out.name.endswith(".csv"):
        raise PodError("--out %s: give REC.csv (a pod-imu CSV recording)" % out)
    parent = out.parent
    if not parent.is_dir():
        raise PodError("--out %s: the folder %s does not exist" % (out, parent))
    if not os.access(parent, os.W_OK) or (out.exists() and not os.access(out, os.W_OK)):
        raise PodError("--out %s: not writable" % out)
    replaceable(out, "a pod-imu recording", podcsv.is_recording)
    replaceable(out.with_suffix(".raw"), "a raw capture", lambda head: head[:4] == rawconv.MAGIC)


def run(args):
    paths.use_firmware()
    import podconfig

    out = Path(args.out)
    if args.download:
        _check_out(out)
        with device.connect(args.port) as pod:
            if not download(pod, out):
                armed = config_cmd.read_config(pod)[0].get("raw_capture_s", 0)
                if armed:
                    raise PodError("no capture yet: the pod is armed for %d s and records them when the next "
                                   "session starts (run, then pod capture --download again)" % armed)
                raise PodError("no raw capture on the pod (arm one with pod capture --seconds N)")
        return 0
    if args.seconds is None:
        raise PodError("give --seconds N (or --download)")
    try:
        podconfig.parse_value("raw_capture_s", str(args.seconds))
        if args.seconds < 1:
            raise ValueError("0 is not a capture")
    except ValueError:
        hi = next(e for e in podconfig.SCHEMA if e[podconfig.NAME] == "raw_capture_s")[podconfig.HI]
        raise PodError("--seconds: %d is out of range 1..%d" % (args.seconds, hi)) from None
    wait = args.wait if args.wait is not None else args.seconds + 60
    if not 0 <= wait <= 86400:  # also refuses nan
        raise PodError("--wait: %g is not a number of seconds from 0 to 86400" % wait)
    _check_out(out)  # before the pod is armed, not after the run
    with device.connect(args.port) as pod:
        if capture_size(pod) is not None:
            raise PodError("the pod holds a capture not downloaded yet, which the next one would replace: "
                           "pod capture --download --out REC.csv first")
        set_capture(pod, args.seconds)
    print("capture armed: start running; the pod records %d s of raw IMU when the session starts. "
          "Waiting %.0f s ..." % (args.seconds, wait), flush=True)
    try:
        time.sleep(wait)
    except KeyboardInterrupt:
        raise PodError("interrupted: the capture stays armed; after the run, pod capture --download --out %s"
                       % out) from None
    with device.connect(args.port) as pod:
        if not download(pod, out):
            raise PodError("no capture yet (did a session start?); it stays armed: after the run, "
                           "pod capture --download --out %s" % out)
    return 0
