"""The pod's per-sample pipeline: gait engine -> coach. One object, one call per sample.

main.py feeds it from the MPU6050 FIFO; ``pod replay`` feeds it from a recording (through
host_tools/podtools/engine_driver.py), so the laptop replays exactly what the pod runs::

    pipe = Pipeline(cfg, start_ticks)
    if pipe.update(ax, ay, az, gx, gy, gz, dt_us):      # something happened
        ev = pipe.pop()                                  # until it returns 0
        # gait.EV_IC / EV_STEP / EV_ACTIVITY: read pipe.engine; EV_ALERT / EV_CLICK: pipe.coach

Popping an engine event also hands it to the coach, so always drain the events.
"""

import coach as _coach
import gait
from compat import const, micropython

EV_CLICK = const(8)  # coach.EV_CLICK
EV_ALERT = const(16)  # coach.EV_ALERT


class Pipeline:
    def __init__(self, cfg=None, start_ticks=0, period_us=0):
        """``period_us``: the sensor's real sample period (the MPU6050 divides 1 kHz, so
        150 Hz asked is 142.9 Hz); by default the configured ``rate_hz``'s."""
        cfg = cfg or {}
        self.period_us = period_us or 1000000 // cfg.get("rate_hz", 200)
        self.engine = gait.GaitEngine(start_ticks, cfg.get("strike_rear_deg_x10", 80),
                                      cfg.get("strike_fore_deg_x10", -16), self.period_us)
        self.coach = _coach.Coach(cfg, start_ticks)
        self._cflags = 0

    # Native: a bytecode function this size would take its frame from the heap on every
    # call, and so would a stored bound method called with more than four arguments.
    @micropython.native
    def update(self, ax, ay, az, gx, gy, gz, dt_us):
        """Feed one sample; returns non-zero when events are pending (drain with pop())."""
        eng = self.engine
        n = eng.update(ax, ay, az, gx, gy, gz, dt_us)
        self._cflags |= self.coach.tick(eng.now)
        return n or self._cflags

    def pop(self):
        """Next event: engine events first (routed to the coach), then alert, then click."""
        eng = self.engine
        ev = eng.pop()
        if ev:
            if ev == gait.EV_IC:
                self.coach.on_footfall(eng.now, eng.cadence_x10, eng.activity)
            elif ev == gait.EV_STEP:
                self.coach.on_step(eng.now, eng.strike, eng.strike_cdeg)
            return ev
        f = self._cflags
        if f & EV_ALERT:
            self._cflags = f & ~EV_ALERT
            return EV_ALERT
        if f & EV_CLICK:
            self._cflags = f & ~EV_CLICK
            return EV_CLICK
        return 0

    def finish(self):
        """End of input: the stance under way is published; drain with pop()."""
        return self.engine.finish()
