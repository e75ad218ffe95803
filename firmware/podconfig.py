"""The pod's settings: schema, validation, and the JSON file on flash.

One module for both sides: the pod loads its config at boot with ``load`` and the host's
``pod config`` commands import this same file to check a value before it is sent
(``parse_value``, ``validate``), so the two can never disagree about names or ranges.

The file is a flat JSON object, one key per line in schema order, with a ``version``::

    cfg, problem = load("/config.json")   # never raises
    if problem:
        ...                               # defaults are in use: signal it, keep running
    cfg["target_spm"] = parse_value("target_spm", "175")
    save("/config.json", cfg)             # validated, then written atomically

``load`` falls back to the defaults, with a one-line reason, when the file is corrupt,
too large, from a newer firmware, or holds an invalid value; a missing file is the normal
first boot and gives the defaults with no problem. Keys missing from an otherwise valid
file take their defaults (so adding a key does not need a new version). Older versions go
through ``MIGRATIONS`` one step at a time.

``SCHEMA`` is a tuple of 7-tuples, one per key, in file order::

    (name, type, default, lo, hi, also, help)

``type`` is "int", "bool" or "str". An int lies in lo..hi (inclusive), or is one of the
values in ``also`` (e.g. 0 for "off"); a str is one of ``also``; lo and hi are None for
bools and strs. Errors are ``ValueError("key: message")``, one line, naming the key.
"""

import json
import os

VERSION = 1  # the config format this firmware writes and understands
_ENOENT = 2  # errno for a missing file, the same on the pod, Linux and macOS
MAX_FILE_BYTES = 4096  # a config is ~600 bytes; anything far bigger is not ours

NAME = 0
TYPE = 1
DEFAULT = 2
LO = 3
HI = 4
ALSO = 5
HELP = 6

METRONOME_MODES = ("off", "always", "below", "fade")

SCHEMA = (
    ("version", "int", 1, 1, VERSION, (), "config format version"),
    ("target_spm", "int", 180, 140, 210, (), "target cadence, steps per minute (both feet)"),
    ("cadence_tolerance_spm", "int", 5, 0, 30, (), "allowed shortfall below the target"),
    ("metronome", "str", "below", None, None, METRONOME_MODES, "when the metronome clicks"),
    ("ramp_percent", "int", 0, 0, 15, (), "gradual target ramp from the baseline, % (0 = off)"),
    ("ramp_weeks", "int", 4, 1, 52, (), "weeks over which the ramp reaches the target"),
    ("baseline_spm", "int", 0, 120, 210, (0,), "ramp start, spm (0 = learn it from the first 5-min run)"),
    ("low_cadence_after_s", "int", 20, 5, 300, (), "seconds below target before the alert"),
    ("overstride_angle_deg", "int", 15, 5, 40, (), "heel-first strike angle counted as overstride"),
    ("overstride_m", "int", 3, 1, 20, (), "overstride alert: M of the last N footfalls"),
    ("overstride_n", "int", 5, 1, 20, (), "overstride alert: out of the last N footfalls"),
    ("alert_gap_s", "int", 60, 10, 900, (), "minimum seconds between two alerts of one kind"),
    ("strike_rear_deg_x10", "int", 80, -200, 300, (), "rearfoot above this angle, 0.1 deg"),
    ("strike_fore_deg_x10", "int", -16, -300, 200, (), "forefoot below this angle, 0.1 deg"),
    ("rate_hz", "int", 200, 100, 1000, (), "IMU sample rate, Hz"),
    ("interval_s", "int", 10, 1, 60, (), "session summary interval, s"),  # (records hold 65 s)
    ("auto_start", "bool", True, None, None, (), "start a session when running is detected"),
    ("auto_stop_idle_s", "int", 120, 10, 3600, (), "stop the session after this idle time, s"),
    ("buzzer_hz", "int", 2700, 2000, 4000, (), "buzzer tone, Hz"),
    ("buzzer_volume", "int", 50, 0, 100, (), "buzzer duty, %"),
    ("low_battery_mv", "int", 3400, 3000, 3800, (), "battery voltage that ends the session, mV"),
    ("raw_capture_s", "int", 0, 0, 600, (), "record raw IMU this many seconds next run (0 = off)"),
)

# MIGRATIONS[v] turns a dict of version v into one of version v + 1 (and sets "version").
# Version 1 is the first format, so there is nothing to migrate yet.
MIGRATIONS = {}

_TRUE = ("true", "1", "on", "yes")
_FALSE = ("false", "0", "off", "no")


def _entry(key):
    for e in SCHEMA:
        if e[NAME] == key:
            return e
    raise ValueError("%s: unknown key" % key)


def keys():
    """All key names, in file order."""
    return [e[NAME] for e in SCHEMA]


def defaults():
    """A new dict with every key at its default."""
    d = {}
    for e in SCHEMA:
        d[e[NAME]] = e[DEFAULT]
    return d


def _check(e, value):
    """Raise ValueError("key: ...") unless value is valid for schema entry e."""
    key = e[NAME]
    kind = e[TYPE]
    if kind == "bool":
        if type(value) is not bool:
            raise ValueError("%s: expected true or false, got %s" % (key, _show(value)))
    elif kind == "str":
        if type(value) is not str or value not in e[ALSO]:
            raise ValueError("%s: %s is not one of %s" % (key, _show(value), ", ".join(e[ALSO])))
    else:
        if type(value) is not int:  # bool and float refused too
            raise ValueError("%s: expected an integer, got %s" % (key, _show(value)))
        if not (e[LO] <= value <= e[HI]) and value not in e[ALSO]:
            extra = "".join(" or %d" % a for a in e[ALSO])
            raise ValueError("%s: %d is out of range %d..%d%s" % (key, value, e[LO], e[HI], extra))


def _show(value):
    if type(value) is str:
        return '"%s"' % value
    if type(value) is bool:
        return "true" if value else "false"
    if value is None:
        return "null"
    if type(value) in (int, float):
        return repr(value)
    return "a " + type(value).__name__


def validate(d):
    """Return a new, complete and valid config from dict d; raise ValueError otherwise.

    Unknown keys, wrong types, values out of range and broken cross-field rules
    (overstride_m <= overstride_n, strike_fore_deg_x10 < strike_rear_deg_x10) are errors;
    missing keys take their defaults.
    """
    if type(d) is not dict:
        raise ValueError("config: expected a JSON object, got %s" % _show(d))
    for key in d:
        if type(key) is not str:
            raise ValueError("%s: unknown key" % (key,))
        _entry(key)  # raises for an unknown key
    out = {}
    for e in SCHEMA:
        key = e[NAME]
        value = d[key] if key in d else e[DEFAULT]
        _check(e, value)
        out[key] = value
    broken = _cross_rule_broken(out)
    if broken:
        raise ValueError(broken[0])
    return out


def _cross_rule_broken(cfg):
    """``(message, keys)`` of the first cross-field rule cfg breaks, else None."""
    m, n = cfg["overstride_m"], cfg["overstride_n"]
    if m > n:
        return "overstride_m: %d must not exceed overstride_n (%d)" % (m, n), ("overstride_m", "overstride_n")
    fore, rear = cfg["strike_fore_deg_x10"], cfg["strike_rear_deg_x10"]
    if fore >= rear:
        return ("strike_fore_deg_x10: %d must be below strike_rear_deg_x10 (%d)" % (fore, rear),
                ("strike_fore_deg_x10", "strike_rear_deg_x10"))
    return None


def salvage(d):
    """The valid part of a config dict ``validate`` refused: ``(cfg, reset)``, ``reset`` the
    keys of d left out (unknown, or a bad value: both keys of a broken cross-field rule),
    every other key as d has it. For a change to a bad file not to lose the good settings."""
    out = defaults()
    reset = []
    if type(d) is not dict:
        return out, reset
    try:
        d = _migrate(d)
    except Exception:  # noqa: BLE001 - as load(): what the keys hold is checked one by one
        pass
    for key in d:
        if type(key) is not str or key not in out:
            reset.append(str(key))
    for e in SCHEMA:
        key = e[NAME]
        if key in d:
            try:
                _check(e, d[key])
                out[key] = d[key]
            except ValueError:
                reset.append(key)
    broken = _cross_rule_broken(out)
    while broken:  # (the defaults keep every rule)
        for key in broken[1]:
            out[key] = _entry(key)[DEFAULT]
            if key not in reset:
                reset.append(key)
        broken = _cross_rule_broken(out)
    return validate(out), reset


def parse_value(key, text):
    """The value of ``key`` written as text (``pod config set KEY VALUE``), range-checked.

    ints: decimal with an optional sign; bools: true/false, 1/0, on/off, yes/no;
    strs: one of the allowed choices. Cross-field rules need the whole config: pass the
    result through ``validate`` (or use ``with_value``).
    """
    e = _entry(key)
    s = text.strip()
    kind = e[TYPE]
    if kind == "bool":
        low = s.lower()
        if low in _TRUE:
            value = True
        elif low in _FALSE:
            value = False
        else:
            raise ValueError('%s: expected true or false, got "%s"' % (key, s))
    elif kind == "str":
        value = s.lower()
    else:
        body = s[1:] if s[:1] in ("+", "-") else s
        if not body or not all(c in "0123456789" for c in body):
            raise ValueError('%s: expected an integer, got "%s"' % (key, s))
        value = int(s)
    _check(e, value)
    return value


def with_value(cfg, key, text):
    """A validated copy of cfg with key set from text."""
    d = dict(cfg)
    d[key] = parse_value(key, text)
    return validate(d)


def _migrate(d):
    version = d.get("version", VERSION)  # a file without a version is taken as current
    if type(version) is not int:
        raise ValueError("version: expected an integer, got %s" % _show(version))
    if version > VERSION:
        raise ValueError("version: %d is newer than this firmware understands (%d)" % (version, VERSION))
    while version < VERSION:
        step = MIGRATIONS.get(version)
        if step is None:
            raise ValueError("version: %d is too old to migrate" % version)
        d = step(d)
        version = d.get("version")
        if type(version) is not int:
            raise ValueError("version: migration produced no version")
    return d


def load(path):
    """Read the config at path: ``(cfg, problem)``; never raises.

    ``problem`` is None when the file is valid or missing (first boot), otherwise a one-line
    reason, and ``cfg`` is then the defaults.
    """
    try:
        size = os.stat(path)[6]
    except Exception as e:  # noqa: BLE001 - a config must never stop the pod
        if isinstance(e, OSError) and e.args and e.args[0] == _ENOENT:
            return defaults(), None
        return defaults(), "config unreadable: %s" % e
    if size > MAX_FILE_BYTES:
        return defaults(), "config too large (%d bytes)" % size
    try:
        with open(path, "rb") as f:
            data = f.read()
    except Exception as e:  # noqa: BLE001
        return defaults(), "config unreadable: %s" % e
    try:
        d = json.loads(data)
    except Exception:  # noqa: BLE001 - ValueError, or UnicodeError for binary garbage
        return defaults(), "config is not valid JSON"
    try:
        if type(d) is not dict:
            raise ValueError("config: expected a JSON object, got %s" % _show(d))
        return validate(_migrate(d)), None
    except ValueError as e:
        return defaults(), str(e)
    except Exception as e:  # noqa: BLE001 - e.g. a migration bug
        return defaults(), "config: %s" % e


def dumps(cfg):
    """The file text for a valid config: one key per line, in schema order."""
    cfg = validate(cfg)
    lines = []
    for e in SCHEMA:
        lines.append('  "%s": %s' % (e[NAME], json.dumps(cfg[e[NAME]])))
    return "{\n" + ",\n".join(lines) + "\n}\n"


def save(path, cfg):
    """Validate and write cfg atomically: write path + ".tmp", then rename over path."""
    text = dumps(cfg)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    try:
        os.rename(tmp, path)  # littlefs and POSIX replace the target atomically
    except OSError:
        # FAT refuses to rename onto an existing file: not atomic there, but still safe
        # against a half-written config (the .tmp holds the complete new one).
        os.remove(path)
        os.rename(tmp, path)
