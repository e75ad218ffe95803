"""Every intermediate of the pod's per-sample arithmetic stays within +-2**30.

On the ESP32 a MicroPython small int holds 31 bits; beyond +-2**30 the interpreter
silently allocates a big int (slow, and it breaks the no-allocation promise). This test
rewrites the firmware modules so that the result of every arithmetic operation
(binary, unary, augmented assignment) passes through a checker, then drives them with
worst-case input: every axis at full scale, alternating full-scale jumps, random
full-scale noise, saturating gait, at the fastest and slowest rates, across lost samples
and gaps.
"""
import ast
import random
import sys
import types
from pathlib import Path

import pytest

FIRMWARE = Path(__file__).resolve().parents[1] / "firmware"
LIMIT = 1 << 30


class RangeError(AssertionError):
    pass


def _chk(value):
    if type(value) is int and not -LIMIT <= value < LIMIT:
        raise RangeError("intermediate %d outside +-2**30" % value)
    return value


class _Instrument(ast.NodeTransformer):
    def _wrap(self, node):
        return ast.copy_location(ast.Call(func=ast.Name("_rchk", ast.Load()), args=[node], keywords=[]), node)

    def visit_BinOp(self, node):
        self.generic_visit(node)
        return self._wrap(node)

    def visit_UnaryOp(self, node):
        self.generic_visit(node)
        return self._wrap(node) if isinstance(node.op, (ast.USub, ast.Invert)) else node

    def visit_AugAssign(self, node):
        self.generic_visit(node)
        target_load = ast.parse(ast.unparse(node.target), mode="eval").body
        value = self._wrap(ast.BinOp(left=target_load, op=node.op, right=node.value))
        return ast.copy_location(ast.Assign(targets=[node.target], value=value), node)


def _instrumented(name, extra=None):
    src = (FIRMWARE / (name + ".py")).read_text()
    tree = ast.fix_missing_locations(_Instrument().visit(ast.parse(src)))
    mod = types.ModuleType(name)
    mod.__dict__["_rchk"] = _chk
    saved = {}
    for dep, m in (extra or {}).items():
        saved[dep] = sys.modules.get(dep)
        sys.modules[dep] = m
    try:
        exec(compile(tree, str(FIRMWARE / (name + ".py")), "exec"), mod.__dict__)
    finally:
        for dep, m in saved.items():
            if m is None:
                sys.modules.pop(dep, None)
            else:
                sys.modules[dep] = m
    return mod


@pytest.fixture(scope="module")
def fw():
    compat = _instrumented("compat")
    gait = _instrumented("gait", {"compat": compat})
    buzzer = _instrumented("buzzer", {"compat": compat})  # the coach's metronome arithmetic
    coach = _instrumented("coach", {"compat": compat, "buzzer": buzzer})
    return compat, gait, coach


def _patterns(n, seed):
    rng = random.Random(seed)
    full = (32767, -32768)
    yield "all +full", [(32767,) * 6] * n
    yield "all -full", [(-32768,) * 6] * n
    yield "alternating", [tuple(full[(i + k) & 1] for k in range(6)) for i in range(n)]
    yield "random full-scale", [tuple(rng.choice(full) if rng.random() < 0.5 else rng.randint(-32768, 32767)
                                      for _ in range(6)) for _ in range(n)]


def _gait_like(n, period_us):
    """Saturating 'strides' of 0.7 s: stance, full-scale push-off, full-scale swing (the
    foot in the air for 200 ms, as a stride needs), a full-scale impact, so the stride
    machine runs with the largest values it can see. The swing turns the foot back to
    about where it stood (200 deg toe-down, 190 toe-up): only a whole stride orients."""
    rng = random.Random(period_us)
    out = []
    for i in range(n):
        ph = (i * period_us) % 700_000
        if ph < 250_000:
            s = (2048 + rng.randint(-300, 300), 0, 0, rng.randint(-50, 50), 0, 0)
        elif ph < 350_000:
            s = (4000, 1000, -3000, 0, -32768, 0)
        elif ph < 400_000:  # toe-off: the toe-down rotation has stopped
            s = (4000, 1000, -3000, 0, 0, 0)
        elif ph < 480_000:
            s = (-20000, 15000, 9000, 300, 32767, -200)
        elif ph < 600_000:  # late swing: the toe-up rotation slows, the accelerometer holds
            s = (-20000, 15000, 9000, 0, 4000, 0)
        elif ph < 620_000:
            s = (32767, -32768, 32767, -32768, -32768, 32767) if (i & 1) else (-32768, 32767, -32768, 0, 0, 0)
        else:
            s = (2048 + rng.randint(-300, 300), 0, 0, 0, 0, 0)
        out.append(s)
    return out


@pytest.mark.parametrize("period_us", [1000, 5000, 10000, 20000])
def test_engine_intermediates_stay_small(fw, period_us):
    _, gait, _ = fw
    n = 60_000_000 // period_us // 4  # 15 s of each pattern
    cases = list(_patterns(n, period_us)) + [("saturating gait", _gait_like(n, period_us))]
    for (label, samples), forced in [(c, f) for c in cases for f in (False, True)]:
        eng = gait.GaitEngine(start_ticks=(1 << 30) - 3_000_000, period_us=period_us)
        if forced:
            # Skip the learning: a diagonal pitch axis makes |w| largest for equal axes,
            # and the stride machine sees every sample from the start.
            eng.oriented = True
            eng._mx = eng._my = eng._mz = 4730  # Q13 unit vector (1, 1, 1) / sqrt(3)
        for i, s in enumerate(samples):
            dt = period_us
            if i % 997 == 500:
                dt = 65535  # a hole in the samples
            elif i % 1499 == 700:
                dt = 1  # a burst timestamped together
            elif i % 7 == 3:
                dt = 2 * period_us  # a lost sample: the jerk extrapolates across it
            elif i % 101 == 50:
                dt = 45000  # many lost, short of a gap
            try:
                if eng.update(*s, dt):
                    while eng.pop():
                        pass
            except RangeError as e:
                raise RangeError("%s at %d us, sample %d: %s" % (label, period_us, i, e)) from None
        eng.finish()
        if label == "saturating gait":
            assert eng.oriented and eng.steps > 5, (label, forced, eng.steps)


def test_real_walks_through_instrumented_engine(fw):
    from podtools import podcsv

    _, gait, _ = fw
    data = Path(__file__).resolve().parents[2] / "shared" / "data"
    for name in ("gaitmap_walk_left", "xio_short_walk"):
        rec = podcsv.read(data / (name + ".csv"))
        eng = gait.GaitEngine(period_us=rec.period_us)
        t = rec.t_us.tolist()
        for i, s in enumerate(rec.imu.tolist()):
            if eng.update(*s, (t[i] - t[i - 1]) if i else rec.period_us):
                while eng.pop():
                    pass
        assert eng.steps > 10


def test_coach_intermediates_stay_small(fw):
    _, gait, coach = fw
    for target in (140, 173, 210):
        c = coach.Coach({"target_spm": target, "metronome": "always", "alert_gap_s": 900,
                         "low_cadence_after_s": 300}, (1 << 30) - 1000)
        t = (1 << 30) - 1000
        for i in range(3_600_000 // 5):  # an hour in 5 ms steps
            if i % 150 == 0:
                c.on_footfall(t, 2100 if i % 2 else 1400, 2)
                c.on_step(t, 0, 3000)
            c.tick(t)
            t = (t + 5000) & ((1 << 30) - 1)
        assert c.clicks > target * 55
