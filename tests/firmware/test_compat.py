"""The compat shims, under both runtimes: const, decorators, and 2**30 tick arithmetic."""
from compat import TICKS_MAX, const, micropython, ticks_add, ticks_diff, ticks_ms, ticks_us

_K = const(7)


def test_const_is_the_value():
    assert _K == 7
    assert const(1 << 29) == 536870912


def test_decorators_keep_behaviour():
    @micropython.native
    def add(a, b):
        return a + b

    assert add(2, 3) == 5


def test_period_is_esp32():
    assert TICKS_MAX == (1 << 30) - 1  # the period is TICKS_MAX + 1 = 2**30


def test_ticks_add_wraps():
    assert ticks_add(TICKS_MAX, 1) == 0
    assert ticks_add(0, -1) == TICKS_MAX
    assert ticks_add(TICKS_MAX - 5, 10) == 4
    assert ticks_add(100, 1 << 30) == 100


def test_ticks_diff_across_wrap():
    before = TICKS_MAX - 999
    after = ticks_add(before, 5000)
    assert after < before  # it did wrap
    assert ticks_diff(after, before) == 5000
    assert ticks_diff(before, after) == -5000


def test_ticks_diff_range():
    half = 1 << 29
    assert ticks_diff(half - 1, 0) == half - 1
    assert ticks_diff(0, half) == -half
    for a in (0, 1, 12345, TICKS_MAX):
        for d in (0, 1, -1, 999999, -999999, half - 1, -half):
            assert ticks_diff(ticks_add(a, d), a) == d


def test_clock_is_small_and_monotonic_in_short_term():
    a = ticks_us()
    b = ticks_us()
    assert 0 <= a <= TICKS_MAX and 0 <= b <= TICKS_MAX
    assert 0 <= ticks_diff(b, a) < 1000000
    assert 0 <= ticks_ms() <= TICKS_MAX
