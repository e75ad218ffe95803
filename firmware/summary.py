"""Per-interval session summary: integer accumulators fed by the main loop, no allocation.

app.App keeps two of these: ``cur`` collects the interval under way, and at an interval
boundary it is copied into ``pending`` (``pending.copy_from(cur); cur.reset()``) so the
flash write can wait for a quiet moment between clicks while the next interval already
collects. Feeding it never allocates (only int attributes are rebound)::

    s = Summary()
    s.footfall(cadence_x10)                        # every EV_IC (cadence 0 = not known yet)
    s.stance(strike, strike_cdeg, contact_ms, over) # every EV_STEP; over = heel-first overstride
    s.time(dt_us, running, in_target)              # every FIFO burst: the time it covers
    s.alert(kind)                                  # coach.ALERT_LOW_CADENCE / ALERT_OVERSTRIDE
    s.gap(gap_us, flag)                            # samples lost; sessionlog.FLAG_* bits
    rec = s.record(t_offset_s, dur_ms)             # the dict SessionWriter.interval() takes

Units: the pod sees one foot, so ``steps`` (both feet, what the cadence counts) is twice
its footfalls. Cadence in steps/min x10; strike angle in centidegrees from the engine,
reported as degrees x10; times in microseconds here, milliseconds in the record.
Every sum stays far below 2**30 for the longest interval (60 s, podconfig): 200 footfalls
(the engine's shortest stride, 0.3 s) x 4000 cadence x10 is under 10**6, 60 s is 6 * 10**7 us.
"""

from compat import const

_NONE = const(-32768)  # gait.NO_VALUE: strike angle or contact time unknown
_REARFOOT = const(0)  # gait.REARFOOT
_MIDFOOT = const(1)
_FOREFOOT = const(2)
_LOW_CADENCE = const(1)  # coach.ALERT_LOW_CADENCE
_OVERSTRIDE = const(2)  # coach.ALERT_OVERSTRIDE


def _round_div(num, den):
    """num / den rounded half up, for negative numerators too (floor based)."""
    return (2 * num + den) // (2 * den)


class Summary:
    """One interval's accumulators; see the module docstring."""

    def __init__(self):
        self.reset()

    def reset(self):
        self.footfalls = 0
        self.cad_sum = 0
        self.cad_n = 0
        self.cad_min = 0
        self.cad_max = 0
        self.rear = 0
        self.mid = 0
        self.fore = 0
        self.angle_sum = 0  # centidegrees
        self.angle_n = 0
        self.contact_sum = 0  # ms
        self.contact_n = 0
        self.overstrides = 0
        self.target_us = 0
        self.run_us = 0
        self.alerts_low = 0
        self.alerts_over = 0
        self.flags = 0
        self.gap_us = 0

    def copy_from(self, o):
        self.footfalls = o.footfalls
        self.cad_sum = o.cad_sum
        self.cad_n = o.cad_n
        self.cad_min = o.cad_min
        self.cad_max = o.cad_max
        self.rear = o.rear
        self.mid = o.mid
        self.fore = o.fore
        self.angle_sum = o.angle_sum
        self.angle_n = o.angle_n
        self.contact_sum = o.contact_sum
        self.contact_n = o.contact_n
        self.overstrides = o.overstrides
        self.target_us = o.target_us
        self.run_us = o.run_us
        self.alerts_low = o.alerts_low
        self.alerts_over = o.alerts_over
        self.flags = o.flags
        self.gap_us = o.gap_us

    # -- feeding (no allocation) -----------------------------------------------------
    def footfall(self, cadence_x10):
        self.footfalls += 1
        if cadence_x10 > 0:
            if not self.cad_n or cadence_x10 < self.cad_min:
                self.cad_min = cadence_x10
            if cadence_x10 > self.cad_max:
                self.cad_max = cadence_x10
            self.cad_sum += cadence_x10
            self.cad_n += 1

    def stance(self, strike, strike_cdeg, contact_ms, over):
        if strike == _REARFOOT:
            self.rear += 1
        elif strike == _MIDFOOT:
            self.mid += 1
        elif strike == _FOREFOOT:
            self.fore += 1
        if strike_cdeg != _NONE:
            self.angle_sum += strike_cdeg
            self.angle_n += 1
        if contact_ms != _NONE and contact_ms > 0:
            self.contact_sum += contact_ms
            self.contact_n += 1
        if over:
            self.overstrides += 1

    def time(self, dt_us, running, in_target):
        if running:
            self.run_us += dt_us
            if in_target:
                self.target_us += dt_us

    def alert(self, kind):
        if kind == _LOW_CADENCE:
            self.alerts_low += 1
        elif kind == _OVERSTRIDE:
            self.alerts_over += 1

    def gap(self, gap_us, flag):
        self.flags |= flag
        if gap_us > 0:
            self.gap_us += gap_us

    # -- the record (once per interval; allocates one dict) ---------------------------
    def record(self, t_offset_s, dur_ms):
        """The INTERVAL dict for sessionlog.SessionWriter.interval (None = no value)."""
        n = self.cad_n
        return {
            "t_offset_s": t_offset_s,
            "dur_ms": dur_ms,
            "steps": 2 * self.footfalls,
            "cadence_mean_x10": _round_div(self.cad_sum, n) if n else None,
            "cadence_min_x10": self.cad_min if n else None,
            "cadence_max_x10": self.cad_max if n else None,
            "strikes_rear": self.rear,
            "strikes_mid": self.mid,
            "strikes_fore": self.fore,
            # centidegrees -> degrees x10
            "angle_mean_x10": _round_div(self.angle_sum, 10 * self.angle_n) if self.angle_n else None,
            "contact_mean_ms": _round_div(self.contact_sum, self.contact_n) if self.contact_n else None,
            "overstrides": self.overstrides,
            "target_ms": self.target_us // 1000,
            "run_ms": self.run_us // 1000,
            "alerts_low_cadence": self.alerts_low,
            "alerts_overstride": self.alerts_over,
            "flags": self.flags,
            "gap_ms": self.gap_us // 1000,
        }
