"""The config schema, validation and file handling, under both runtimes."""
import json
import os

import podconfig
from _support import IS_MICROPYTHON
from compat import ticks_us

_TABLE = (  # the project's key table (issue 4): key, default, lowest, highest
    ("version", 1, 1, 1),
    ("target_spm", 180, 140, 210),
    ("cadence_tolerance_spm", 5, 0, 30),
    ("ramp_percent", 0, 0, 15),
    ("ramp_weeks", 4, 1, 52),
    ("baseline_spm", 0, 120, 210),
    ("low_cadence_after_s", 20, 5, 300),
    ("overstride_angle_deg", 15, 5, 40),
    ("overstride_m", 3, 1, 20),
    ("overstride_n", 5, 1, 20),
    ("alert_gap_s", 60, 10, 900),
    ("strike_rear_deg_x10", 80, -200, 300),
    ("strike_fore_deg_x10", -16, -300, 200),
    ("rate_hz", 200, 100, 1000),
    ("interval_s", 10, 1, 60),  # an INTERVAL record's dur_ms is 16 bits: 65.5 s
    ("auto_stop_idle_s", 120, 10, 3600),
    ("buzzer_hz", 2700, 2000, 4000),
    ("buzzer_volume", 50, 0, 100),
    ("low_battery_mv", 3400, 3000, 3800),
    ("raw_capture_s", 0, 0, 600),
)


def _refused(d_or_func, key, *args):
    """Call validate(d) (or func(*args)); return the message, which must name key."""
    try:
        if callable(d_or_func):
            d_or_func(*args)
        else:
            podconfig.validate(d_or_func)
    except ValueError as e:
        msg = str(e)
        assert msg.startswith(key + ": "), msg
        assert "\n" not in msg
        return msg
    raise AssertionError("accepted: %s" % key)


def _with(**kw):
    d = podconfig.defaults()
    for k in kw:
        d[k] = kw[k]
    return d


def _tmpdir():
    path = "/tmp/podconfig-test-%s-%d" % ("mp" if IS_MICROPYTHON else "cp", ticks_us())
    os.mkdir(path)
    return path


def _cleanup(path):
    for name in os.listdir(path):
        os.remove(path + "/" + name)
    os.rmdir(path)


def _write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def test_schema_matches_the_project_table():
    d = podconfig.defaults()
    assert podconfig.keys()[0] == "version"
    assert len(d) == len(podconfig.SCHEMA) == len(_TABLE) + 2  # + metronome, auto_start
    for key, default, lo, hi in _TABLE:
        e = podconfig._entry(key)
        assert e[podconfig.TYPE] == "int", key
        assert d[key] == default, key
        assert (e[podconfig.LO], e[podconfig.HI]) == (lo, hi), key
    assert d["metronome"] == "below" and d["auto_start"] is True
    assert podconfig.METRONOME_MODES == ("off", "always", "below", "fade")


def test_defaults_validate_and_are_fresh():
    d = podconfig.defaults()
    assert podconfig.validate(d) == d
    d["target_spm"] = 150
    assert podconfig.defaults()["target_spm"] == 180


def test_missing_keys_take_defaults():
    v = podconfig.validate({"target_spm": 170})
    assert v["target_spm"] == 170 and v["rate_hz"] == 200 and len(v) == len(podconfig.SCHEMA)


# A partner value that keeps the cross-field rules satisfied at every edge of a key.
_PARTNER = {
    "overstride_m": ("overstride_n", 20),
    "overstride_n": ("overstride_m", 1),
    "strike_fore_deg_x10": ("strike_rear_deg_x10", 300),
    "strike_rear_deg_x10": ("strike_fore_deg_x10", -300),
}


def _edge(key, value):
    d = _with(**{key: value})
    if key in _PARTNER:
        other, v = _PARTNER[key]
        d[other] = v
    return d


def test_range_edges_accepted_and_refused():
    for key, _default, lo, hi in _TABLE:
        assert podconfig.validate(_edge(key, lo))[key] == lo
        assert podconfig.validate(_edge(key, hi))[key] == hi
        msg = _refused(_edge(key, hi + 1), key)
        assert "out of range" in msg
        if key == "baseline_spm":
            continue
        msg = _refused(_edge(key, lo - 1), key)
        assert ("%d..%d" % (lo, hi)) in msg, msg


def test_baseline_zero_or_range():
    assert podconfig.validate(_with(baseline_spm=0))["baseline_spm"] == 0
    assert podconfig.validate(_with(baseline_spm=120))["baseline_spm"] == 120
    msg = _refused(_with(baseline_spm=60), "baseline_spm")
    assert "120..210 or 0" in msg


def test_wrong_types_refused():
    assert "integer" in _refused(_with(target_spm="180"), "target_spm")
    assert "integer" in _refused(_with(target_spm=180.0), "target_spm")
    assert "integer" in _refused(_with(target_spm=True), "target_spm")
    assert "integer" in _refused(_with(rate_hz=None), "rate_hz")
    assert "true or false" in _refused(_with(auto_start=1), "auto_start")
    assert "true or false" in _refused(_with(auto_start="yes"), "auto_start")
    msg = _refused(_with(metronome="sometimes"), "metronome")
    assert "off, always, below, fade" in msg
    _refused(_with(metronome=1), "metronome")
    _refused(_with(version=2), "version")


def test_unknown_key_refused():
    msg = _refused(_with(target_cadence=180), "target_cadence")
    assert "unknown key" in msg
    _refused(podconfig.parse_value, "nope", "nope", "1")
    _refused(["a"], "config")


def test_cross_field_rules():
    assert podconfig.validate(_with(overstride_m=5, overstride_n=5))
    msg = _refused(_with(overstride_m=6, overstride_n=5), "overstride_m")
    assert "overstride_n" in msg
    msg = _refused(_with(strike_fore_deg_x10=80, strike_rear_deg_x10=80), "strike_fore_deg_x10")
    assert "strike_rear_deg_x10" in msg
    assert podconfig.validate(_with(strike_fore_deg_x10=79, strike_rear_deg_x10=80))


def test_parse_value():
    p = podconfig.parse_value
    assert p("target_spm", "175") == 175
    assert p("target_spm", " +175 ") == 175
    assert p("strike_fore_deg_x10", "-20") == -20
    for t in ("true", "True", "1", "on", "YES"):
        assert p("auto_start", t) is True, t
    for t in ("false", "0", "off", "No"):
        assert p("auto_start", t) is False, t
    assert p("metronome", "Fade") == "fade"
    assert "integer" in _refused(p, "target_spm", "target_spm", "17x")
    assert "integer" in _refused(p, "target_spm", "target_spm", "175.5")
    assert "integer" in _refused(p, "target_spm", "target_spm", "1_75")
    assert "integer" in _refused(p, "target_spm", "target_spm", "")
    assert "out of range" in _refused(p, "target_spm", "target_spm", "300")
    assert "true or false" in _refused(p, "auto_start", "auto_start", "maybe")
    assert "one of" in _refused(p, "metronome", "metronome", "loud")


def test_with_value_checks_cross_fields():
    cfg = podconfig.defaults()
    new = podconfig.with_value(cfg, "overstride_n", "8")
    assert new["overstride_n"] == 8 and cfg["overstride_n"] == 5
    _refused(podconfig.with_value, "overstride_m", cfg, "overstride_n", "2")


def test_load_missing_file_is_defaults_without_problem():
    d = _tmpdir()
    try:
        cfg, problem = podconfig.load(d + "/config.json")
        assert cfg == podconfig.defaults() and problem is None
    finally:
        _cleanup(d)


def test_load_bad_files_fall_back_with_a_reason():
    d = _tmpdir()
    path = d + "/config.json"
    cases = (
        (b'{"target_spm": 17', "not valid JSON"),
        (b"\xff\xfe\x00garbage\x80\x81", "not valid JSON"),
        (b"", "not valid JSON"),
        (b"[1, 2]", "JSON object"),
        (b'{"version": 2, "target_spm": 170}', "newer"),
        (b'{"version": 0}', "too old"),
        (b'{"version": "1"}', "version"),
        (b'{"target_spm": 999}', "target_spm"),
        (b'{"buzzer_hz": 2700, "colour": "red"}', "colour: unknown key"),
        (b'{"overstride_m": 9}', "overstride_m"),
        (b" " * (podconfig.MAX_FILE_BYTES + 1), "too large"),
    )
    try:
        for data, reason in cases:
            _write(path, data)
            cfg, problem = podconfig.load(path)
            assert cfg == podconfig.defaults(), data
            assert problem and reason in problem, (data, problem)
            assert "\n" not in problem
    finally:
        _cleanup(d)


def test_load_valid_file():
    d = _tmpdir()
    path = d + "/config.json"
    try:
        _write(path, b'{"version": 1, "target_spm": 172, "metronome": "fade", "auto_start": false}')
        cfg, problem = podconfig.load(path)
        assert problem is None
        assert cfg["target_spm"] == 172 and cfg["metronome"] == "fade" and cfg["auto_start"] is False
        assert cfg["rate_hz"] == 200
    finally:
        _cleanup(d)


def test_migration_hook():
    d = _tmpdir()
    path = d + "/config.json"

    def from_0(old):
        new = dict(old)
        new["target_spm"] = new.pop("cadence")
        new["version"] = 1
        return new

    podconfig.MIGRATIONS[0] = from_0
    try:
        _write(path, b'{"version": 0, "cadence": 176}')
        cfg, problem = podconfig.load(path)
        assert problem is None and cfg["target_spm"] == 176 and cfg["version"] == 1
    finally:
        del podconfig.MIGRATIONS[0]
        _cleanup(d)


def test_save_round_trip_is_atomic():
    d = _tmpdir()
    path = d + "/config.json"
    try:
        cfg = podconfig.with_value(podconfig.defaults(), "target_spm", "168")
        cfg["metronome"] = "always"
        podconfig.save(path, cfg)
        assert sorted(os.listdir(d)) == ["config.json"]  # no .tmp left behind
        back, problem = podconfig.load(path)
        assert problem is None and back == cfg
        with open(path) as f:
            text = f.read()
        assert text.startswith('{\n  "version": 1,\n')
        assert json.loads(text) == cfg
        cfg["target_spm"] = 190  # saving again replaces the file
        podconfig.save(path, cfg)
        assert podconfig.load(path)[0]["target_spm"] == 190
        assert sorted(os.listdir(d)) == ["config.json"]
    finally:
        _cleanup(d)


def test_save_refuses_invalid_and_keeps_old_file():
    d = _tmpdir()
    path = d + "/config.json"
    try:
        podconfig.save(path, podconfig.defaults())
        _refused(podconfig.save, "target_spm", path, _with(target_spm=20))
        assert podconfig.load(path) == (podconfig.defaults(), None)
        assert sorted(os.listdir(d)) == ["config.json"]
    finally:
        _cleanup(d)


def test_stale_tmp_is_harmless():
    d = _tmpdir()
    path = d + "/config.json"
    try:
        _write(path + ".tmp", b'{"target_')  # a power cut during an earlier save
        assert podconfig.load(path) == (podconfig.defaults(), None)
        podconfig.save(path, _with(target_spm=177))
        assert podconfig.load(path)[0]["target_spm"] == 177
        assert sorted(os.listdir(d)) == ["config.json"]
    finally:
        _cleanup(d)


def test_salvage_keeps_the_valid_settings_of_a_bad_config():
    cfg, reset = podconfig.salvage({"version": 1, "target_spm": 999, "metronome": "fade", "colour": "red",
                                    "overstride_m": 5, "overstride_n": 2, "buzzer_volume": 10})
    assert cfg == _with(metronome="fade", buzzer_volume=10)  # the rest at their defaults
    assert sorted(reset) == ["colour", "overstride_m", "overstride_n", "target_spm"]
    assert podconfig.salvage([1, 2]) == (podconfig.defaults(), [])
    assert podconfig.salvage(podconfig.defaults()) == (podconfig.defaults(), [])
