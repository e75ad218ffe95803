"""pod config: read and change the pod's settings over USB, checked against the firmware's schema.

    pod config get [KEY] [--json] [--port P]  # every key (``*``: changed from the default)
    pod config set KEY VALUE [--port P] # e.g. pod config set target_spm 175

The schema is firmware/podconfig.py, the same module the pod loads its config with: a
value is parsed and validated on the laptop (``podconfig.with_value``, cross-field rules
included) before anything is sent, so a bad value is refused with podconfig's one-line
message and the pod's file is not touched. The new file is written next to the config,
checked by SHA-256 on the pod and renamed over it (atomic on littlefs). The pod reads its
config at boot: leaving the command soft-reboots it, so the change applies at once.
A pod whose config file is corrupt shows its defaults and the reason (as the pod does);
``set`` on such a file keeps its valid settings (``podconfig.salvage``) and says which went
back to their defaults.
"""

import json
import os
import sys
import tempfile

from . import device, paths
from .errors import PodError


def add_arguments(p):
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    g = sub.add_parser("get", help="show one setting or all of them")
    g.add_argument("key", nargs="?")
    g.add_argument("--json", action="store_true",
                   help="print JSON: the settings as a config file (for pod replay --config CFG.json), "
                        "or KEY's value")
    s = sub.add_parser("set", help="change one setting")
    s.add_argument("key")
    s.add_argument("value")
    for q in (g, s):
        q.add_argument("--port", help="serial port of the pod (default: $POD_PORT or the one USB pod)")


def read_config(pod):
    """``(cfg, problem)`` of the pod's config file, through podconfig.load (never raises)."""
    return _load(*_config_file(pod))


def _config_file(pod):
    """``(data, problem)``: the pod's config file's bytes (None when it has none), or no
    bytes and why, when it is too large to be one."""
    import podconfig

    path = pod.paths["CONFIG_PATH"]
    st = pod.stat(path)
    if st is None:
        return None, None
    if st[0] > podconfig.MAX_FILE_BYTES:
        return None, "config too large (%d bytes)" % st[0]
    return pod.read_file(path, size=st[0]), None


def _load(data, problem):
    import podconfig

    if data is None:
        return podconfig.defaults(), problem
    with tempfile.TemporaryDirectory(prefix="podcfg-") as tmp:
        local = os.path.join(tmp, "config.json")
        with open(local, "wb") as f:
            f.write(data)
        return podconfig.load(local)


def _salvage(data):
    """``(cfg, reset)``: the valid settings of an invalid config file (podconfig.salvage), so
    that changing one key does not put the others back to their defaults."""
    import podconfig

    try:
        d = json.loads(data) if data is not None else None
    except ValueError:  # not JSON (or not UTF-8): nothing to keep
        d = None
    return podconfig.salvage(d)


def show(cfg, key=None):
    import podconfig

    d = podconfig.defaults()
    entries = [e for e in podconfig.SCHEMA if key is None or e[podconfig.NAME] == key]
    lines = []
    for e in entries:
        name = e[podconfig.NAME]
        v = cfg[name]
        text = ("true" if v else "false") if isinstance(v, bool) else str(v)
        mark = "*" if v != d[name] else " "
        lines.append("%-24s %-8s %s %s" % (name, text, mark, e[podconfig.HELP]))
    return "\n".join(lines)


def run(args):
    paths.use_firmware()
    import podconfig

    if args.key is not None and args.key not in podconfig.keys():
        raise PodError("%s: unknown key (known: %s)" % (args.key, ", ".join(podconfig.keys())))
    if args.action == "set":
        if args.key == "version":
            raise PodError("version: set by the firmware, not by hand")
        try:  # the value alone first: a clear message before touching the pod
            podconfig.parse_value(args.key, args.value)
        except ValueError as e:
            raise PodError(str(e)) from None
    with device.connect(args.port) as pod:
        data, problem = _config_file(pod)
        cfg, problem = _load(data, problem)
        if problem:  # (with --json, beside the file's text, not in it)
            print("note: the pod's config file is not valid (%s); the pod uses the defaults" % problem,
                  file=sys.stderr if args.action == "get" and args.json else sys.stdout)
        if args.action == "get":
            if args.json:
                sys.stdout.write(podconfig.dumps(cfg) if args.key is None else json.dumps(cfg[args.key]) + "\n")
            else:
                print(show(cfg, args.key))
            return 0
        if problem and "newer than" in problem:  # not ours to replace with the defaults
            raise PodError("the pod's config was written by newer firmware than these tools know (%s): "
                           "update the tools, or pod flash this firmware first" % problem)
        if problem:
            if data is not None:  # whatever no tool could read back is kept for the runner to mend
                bad = pod.paths["CONFIG_PATH"] + ".bad"
                pod.write_file_atomic(bad, data)
                print("note: the file as it was is kept on the pod as %s" % bad)
            cfg, reset = _salvage(data)
            d = podconfig.defaults()
            kept = [k for k in podconfig.keys() if k != "version" and k not in reset and cfg[k] != d[k]]
            if kept:
                print("note: keeping its valid settings (%s)%s" % (
                    ", ".join(kept), "; back to the default: " + ", ".join(reset) if reset else ""))
        try:
            new = podconfig.with_value(cfg, args.key, args.value)
        except ValueError as e:
            raise PodError(str(e)) from None
        if new == cfg and not problem:
            v = cfg[args.key]
            print("%s is already %s" % (args.key, ("true" if v else "false") if isinstance(v, bool) else v))
            return 0
        pod.write_file_atomic(pod.paths["CONFIG_PATH"], podconfig.dumps(new).encode())
        print(show(new, args.key))
    return 0
