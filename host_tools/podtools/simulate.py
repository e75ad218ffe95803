"""Gait simulator: what a shoe-mounted MPU6050 sees, with ground truth.

    pod simulate --scenario run --out run.csv --speed 4 --cadence 176 --strike forefoot

Python API (tests, benchmarks and ``pod evaluate`` use it)::

    rec, events = simulate("session", seed=3, rate_hz=400, duration=1800, mount="random")

The instrumented foot is a rigid body in the sagittal plane plus a small out-of-plane
wobble. Its pitch ``theta`` (toe-up positive, against the ground) is a chain of quintic
(minimum-jerk-like) segments with continuous angle, rate and angular acceleration:

    IC (strike angle, rate 0) -> foot flat -> heel rise -> TC (peak toe-down rate)
    -> reversal 20-40 ms later -> fast toe-up swing -> late swing -> next IC

On the ground the foot rocks about the heel (theta > 0) or about the metatarsal heads
(theta < 0), so a sensor on a lever arm moves while the contact point stays put; in the
air the heel follows a quintic from the toe-off state to the next contact state, plus a
lift and a lateral sway. Specific force ``f = R^T (a - g)`` and body angular velocity are
computed analytically, rotated into an arbitrary mounting, and a damped impact ringing
starts exactly at each initial contact. Then the sensor itself: sampling at its internal
1 kHz, clipping at +-16 g / +-2000 dps, the digital low-pass filter the firmware sets for
the rate (44 Hz at 100 Hz), noise, per-run bias, scale error, quantization to counts,
dropped samples.

Ground truth is one dict per initial contact (see ``docs/contracts.md``), on the
recording's clock (before any samples are dropped).
"""

import errno
import math
import os

import numpy as np

from . import paths, podcsv
from .errors import PodError, replaceable, writing

G = 9.80665                       # m/s^2 per g
ACCEL_LSB_PER_G = 2048.0          # +-16 g range
GYRO_LSB_PER_DPS = 16.4           # +-2000 dps range
ACCEL_FULL_SCALE_G = 32768 / ACCEL_LSB_PER_G
GYRO_FULL_SCALE_DPS = 32768 / GYRO_LSB_PER_DPS
RAD = math.pi / 180.0

REARFOOT_ABOVE_DEG = 8.0          # strike classes, as the gait engine uses them
FOREFOOT_BELOW_DEG = -1.6
OVERSTRIDE_ABOVE_DEG = 15.0       # heel-first landing steeper than this = overstride

TOE_LEVER_M = 0.18                # heel contact -> metatarsal heads (rocker pivot in push-off)
START_STILL_S = 3.0               # every gait scenario starts and ends standing still
END_STILL_S = 2.0

SCENARIOS = {
    "stand": "standing still with a little postural sway (no strides)",
    "fidget": "standing, shifting weight, heel/toe raises, rolls, the odd foot repositioning (no strides)",
    "tap": "foot tapping in bursts, toe taps and heel taps with impacts (no strides)",
    "walk": "walking (default 1.3 m/s, 110 spm, heel strike)",
    "laps": "walking 10-20 m laps, turning round at each end (steps that swivel the foot, barely pitch it)",
    "run": "running (default 3.5 m/s, 172 spm, rearfoot strike)",
    "rearfoot": "running with a rearfoot strike (8-15 deg toe-up at contact)",
    "midfoot": "running with a midfoot strike (-1..+6 deg)",
    "forefoot": "running with a forefoot strike (-4..-15 deg)",
    "overstride": "running with heel-first strikes beyond 15 deg (all flagged overstride)",
    "cadence_drift": "running, cadence drifting down 20 spm (~180 to ~160; from --cadence, to 150 at least)",
    "stop": "run, stand at a traffic light for 30-60 s, run again",
    "session": "warm-up walk, run with an overstride and a low-cadence episode, a stop, cool-down walk",
}

STRIKES = ("rearfoot", "midfoot", "forefoot", "mixed")
# the gait options each scenario takes (standing ones take none; a strike scenario sets its own)
_GAIT_OPTIONS = {"walk": ("speed", "cadence"), "laps": ("speed", "cadence"), "rearfoot": ("speed", "cadence"),
                 "midfoot": ("speed", "cadence"), "forefoot": ("speed", "cadence"), "overstride": ("speed", "cadence"),
                 "run": ("speed", "cadence", "strike"), "cadence_drift": ("speed", "cadence", "strike"),
                 "stop": ("speed", "cadence", "strike"), "session": ("speed", "cadence", "strike")}
MOUNTS = ("laces", "heel", "random", "upside-down")

# scenario -> default duration (s) of the whole recording
DEFAULT_DURATION_S = {
    "stand": 60.0, "fidget": 60.0, "tap": 60.0, "walk": 60.0, "laps": 60.0, "run": 60.0, "rearfoot": 60.0,
    "midfoot": 60.0, "forefoot": 60.0, "overstride": 60.0, "cadence_drift": 120.0, "stop": 180.0,
    "session": 900.0,
}
RUN_SPEED_RANGE = (2.0, 6.0)
RUN_CADENCE_RANGE = (150.0, 200.0)
WALK_SPEED_RANGE = (1.0, 1.6)
WALK_CADENCE_RANGE = (95.0, 125.0)
RATE_RANGE = (100.0, 1000.0)
INTERNAL_RATE_HZ = 1000.0         # the MPU6050 samples at 1 kHz with its DLPF on, then divides
DLPF_ACCEL_HZ = {1: 184.0, 2: 94.0, 3: 44.0, 4: 21.0, 5: 10.0, 6: 5.0}  # datasheet, per DLPF_CFG
DLPF_GYRO_HZ = {1: 188.0, 2: 98.0, 3: 42.0, 4: 20.0, 5: 10.0, 6: 5.0}


# ---------------------------------------------------------------------------------------------
# Piecewise quintic (Hermite) trajectories: value, rate and acceleration given at every knot.

class Knots:
    """Knots ``(t, y, dy, ddy)`` of a C2 piecewise quintic; times strictly increasing."""

    def __init__(self):
        self.t, self.y, self.v, self.a = [], [], [], []

    def add(self, t, y, v=0.0, a=0.0):
        if self.t and t <= self.t[-1] + 1e-6:
            raise ValueError("knot times must increase (%.6f after %.6f)" % (t, self.t[-1]))
        self.t.append(float(t))
        self.y.append(float(y))
        self.v.append(float(v))
        self.a.append(float(a))

    def hold(self, t):
        """Stay at the last value, at rest, until ``t``."""
        if not self.t:
            self.add(t, 0.0)
        elif t > self.t[-1] + 1e-6:
            self.add(t, self.y[-1])

    def evaluate(self, ts):
        """(y, dy/dt, d2y/dt2) at the sample times ``ts`` (constant outside the knots)."""
        t = np.asarray(self.t)
        if len(t) < 2:
            y0 = self.y[0] if self.t else 0.0
            return np.full_like(ts, y0), np.zeros_like(ts), np.zeros_like(ts)
        c = _quintic_coefficients(t, np.asarray(self.y), np.asarray(self.v), np.asarray(self.a))
        seg = np.clip(np.searchsorted(t, ts, side="right") - 1, 0, len(t) - 2)
        tau = np.clip(ts - t[seg], 0.0, t[seg + 1] - t[seg])
        return _horner(c[seg], tau)


def _quintic_coefficients(t, y, v, a):
    """Per-segment coefficients c0..c5 of y(tau) = sum c_k tau^k matching both ends."""
    return _segment_coefficients(np.diff(t), y[:-1], y[1:], v[:-1], v[1:], a[:-1], a[1:])


def _segment_coefficients(h, y0, y1, v0, v1, a0, a1):
    """Quintic coefficients (S x 6) for segments of length h from (y0, v0, a0) to (y1, v1, a1)."""
    d = y1 - y0
    c = np.empty((len(h), 6))
    c[:, 0] = y0
    c[:, 1] = v0
    c[:, 2] = a0 / 2
    c[:, 3] = (20 * d - (8 * v1 + 12 * v0) * h - (3 * a0 - a1) * h ** 2) / (2 * h ** 3)
    c[:, 4] = (-30 * d + (14 * v1 + 16 * v0) * h + (3 * a0 - 2 * a1) * h ** 2) / (2 * h ** 4)
    c[:, 5] = (12 * d - 6 * (v1 + v0) * h - (a0 - a1) * h ** 2) / (2 * h ** 5)
    return c


def _horner(c, tau):
    y = ((((c[:, 5] * tau + c[:, 4]) * tau + c[:, 3]) * tau + c[:, 2]) * tau + c[:, 1]) * tau + c[:, 0]
    dy = (((5 * c[:, 5] * tau + 4 * c[:, 4]) * tau + 3 * c[:, 3]) * tau + 2 * c[:, 2]) * tau + c[:, 1]
    ddy = ((20 * c[:, 5] * tau + 12 * c[:, 4]) * tau + 6 * c[:, 3]) * tau + 2 * c[:, 2]
    return y, dy, ddy


# Bumps on u in [0, 1] that vanish with their first two derivatives at both ends (peak 1).
_LIFT = np.polynomial.Polynomial([0, 0, 0, 1, -4, 6, -4, 1])       # u^3 (1-u)^4, peak at u = 3/7
_LIFT = _LIFT / _LIFT(3 / 7)
_SWAY = np.polynomial.Polynomial([0, 0, 0, 1, -3, 3, -1]) * 64      # u^3 (1-u)^3, peak at u = 1/2


def _bump(poly, u, h):
    """Value, d/dt, d2/dt2 of ``poly(u)`` where u = (t - t0) / h."""
    return poly(u), poly.deriv(1)(u) / h, poly.deriv(2)(u) / h ** 2


def _rot_xz(theta, x, z):
    """The foot-frame point (x, 0, z) pitched toe-up by ``theta`` (rad): world (x, z)."""
    c, s = np.cos(theta), np.sin(theta)
    return c * x - s * z, s * x + c * z


def _pivot_state(gx, theta, dtheta, ddtheta, contact_x):
    """Heel position, velocity, acceleration (x, z) while the foot rocks on a ground point.

    The foot-frame contact point (contact_x, 0, 0) stays at world (gx, 0):
    heel = G - R(theta) c, so d(heel) = -(theta' J w), dd(heel) = -(theta'' J w - theta'^2 w)
    with w = R(theta) c and J (x, z) = (-z, x).
    """
    wx, wz = _rot_xz(theta, contact_x, 0.0)
    px, pz = gx - wx, -wz
    vx, vz = dtheta * wz, -dtheta * wx
    ax = ddtheta * wz + dtheta ** 2 * wx
    az = -ddtheta * wx + dtheta ** 2 * wz
    return (px, pz), (vx, vz), (ax, az)


# ---------------------------------------------------------------------------------------------
# The scene: every motion of the foot, as knots, contact/flight intervals and impacts.

class Scene:
    """Accumulates the foot's motion while a scenario is written, then renders it."""

    def __init__(self, rng):
        self.rng = rng
        self.pitch = Knots()          # theta, deg
        self.roll = Knots()           # deg, about the foot's long axis
        self.yaw = Knots()            # deg, about vertical
        self.heading = None           # deg, Knots once the walker turns round (laps)
        self.pitch.add(0.0, 0.0)
        self.roll.add(0.0, 0.0)
        self.yaw.add(0.0, 0.0)
        self.contacts = [(0.0, 0.0, 0.0)]   # (start time, ground x, ground y) of each contact
        self.flights = []             # dicts: t0, t1, p0/v0/a0, p1/v1/a1 (x, y, z), lift, sway, roll, yaw
        self.impacts = []             # (t, peak g, freq Hz, decay s, fore-aft share, gyro dps)
        self.truth = []
        self.x = 0.0                  # where the foot stands now
        self.y = 0.0

    # -- standing-type activity ---------------------------------------------------------------
    def still(self, t0, t1, kind="stand"):
        """Stand (sway only), fidget or tap from t0 to t1; the foot starts and ends flat."""
        rng = self.rng
        self._settle(t0)
        t = t0
        while t1 - t > 0.5:
            quiet = kind == "stand" or t1 - t < 5.0
            t = self._sway(t, t1 if quiet else min(t1 - 4.5, t + rng.uniform(1.0, 5.0)))
            if quiet or t1 - t < 4.5:
                continue
            if kind == "fidget":
                move = rng.choice(["heel", "toe", "roll", "yaw", "step"], p=[0.3, 0.15, 0.2, 0.2, 0.15])
                t = self._fidget(t, move)
            else:
                t = self._tap_burst(t, t1 - 0.5)
        self._settle(t1)

    def _settle(self, t):
        """Flat and level at t (the yaw stays where fidgeting left it)."""
        for ch in (self.pitch, self.roll, self.yaw):
            if t > ch.t[-1] + 1e-6:
                ch.add(t, ch.y[-1] if ch is self.yaw else 0.0)

    def _sway(self, t0, t1):
        """Postural sway seen at the foot: fractions of a degree of heel/toe and edge loading."""
        rng = self.rng
        t = t0
        while t1 - t > 1.2:
            t += rng.uniform(0.5, 1.0)
            self.pitch.add(t, rng.normal(0.0, 0.25))
            self.roll.add(t, rng.normal(0.0, 0.3))
        self._settle(t1)
        return t1

    def _fidget(self, t, move):
        rng = self.rng
        if move in ("heel", "toe"):
            # heel raise (rock onto the forefoot) or toe raise (rock onto the heel), then back
            amp = -rng.uniform(5, 20) if move == "heel" else rng.uniform(4, 15)
            up, hold, down = rng.uniform(0.3, 0.8), rng.uniform(0.1, 1.0), rng.uniform(0.2, 0.6)
            self.pitch.add(t + up, amp)
            self.pitch.add(t + up + hold, amp)
            self.pitch.add(t + up + hold + down, 0.0)
            self._impact(t + up + hold + down, rng.uniform(0.2, 1.0), rng.uniform(20, 40),
                         rng.uniform(0.01, 0.02), 0.1, rng.uniform(5, 20))
            return t + up + hold + down
        if move == "roll":
            amp = rng.choice([-1, 1]) * rng.uniform(5, 12)
            up, hold, down = rng.uniform(0.4, 1.0), rng.uniform(0.3, 2.0), rng.uniform(0.4, 1.0)
            self.roll.add(t + up, amp)
            self.roll.add(t + up + hold, amp)
            self.roll.add(t + up + hold + down, 0.0)
            return t + up + hold + down
        if move == "yaw":
            turn = rng.uniform(0.3, 0.8)
            self.yaw.add(t + turn, self.yaw.y[-1] + rng.choice([-1, 1]) * rng.uniform(8, 25))
            return t + turn
        # reposition the foot: a small lift and shift, set down gently (no stride)
        dur = rng.uniform(0.4, 0.8)
        dx, dy = rng.uniform(-0.15, 0.15), rng.uniform(-0.1, 0.1)
        tilt = rng.uniform(-6, 6)
        self.pitch.add(t + dur / 2, tilt)
        self.pitch.add(t + dur, 0.0)
        self._flight(t, t + dur, self.x + dx, self.y + dy, 0.0, 0.0, lift=rng.uniform(0.02, 0.05),
                     sway=0.0, start_state=None)
        self._impact(t + dur, rng.uniform(0.4, 1.5), rng.uniform(25, 45), rng.uniform(0.01, 0.02),
                     0.1, rng.uniform(10, 40))
        return t + dur

    def _tap_burst(self, t, t_end):
        """Toe taps (heel stays down) or heel taps (forefoot stays down), 1.5-3 per second,
        up to 32 deg; the foot comes down gently or slaps down in as little as 50 ms."""
        rng = self.rng
        sign = 1.0 if rng.random() < 0.6 else -1.0
        period = rng.uniform(0.33, 0.65)
        for _ in range(int(rng.integers(4, 21))):
            if t + period > t_end:
                break
            amp = sign * rng.uniform(8, 32)
            up = period * rng.uniform(0.35, 0.5)
            self.pitch.add(t + up, amp)
            # back down onto the ground with an impact
            land = t + up + rng.uniform(0.05, period * 0.85 - up)
            self.pitch.add(land, 0.0)
            self.pitch.add(t + period, 0.0)
            self._impact(land, rng.uniform(1.5, 4.0), rng.uniform(25, 50), rng.uniform(0.008, 0.018),
                         0.15, rng.uniform(30, 120))
            t += period
        return t

    # -- flight of the foot -------------------------------------------------------------------
    def _flight(self, t0, t1, x1, y1, theta1, ddtheta1, lift, sway, start_state,
                roll_amp=0.0, yaw_amp=0.0):
        """The heel flies from its state at t0 to where the next contact puts it at t1."""
        if start_state is None:
            start_state = ((self.x, self.y, 0.0), (0.0, 0.0, 0.0), (0.0, 0.0, 0.0))
        contact_x = 0.0 if theta1 >= 0 else TOE_LEVER_M
        gx = x1 + contact_x
        (px, pz), (vx, vz), (ax, az) = _pivot_state(gx, theta1 * RAD, 0.0, ddtheta1 * RAD, contact_x)
        end = ((px, y1, pz), (vx, 0.0, vz), (ax, 0.0, az))
        self.flights.append(dict(t0=t0, t1=t1, start=start_state, end=end, lift=lift, sway=sway,
                                 roll=roll_amp, yaw=yaw_amp))
        self.contacts.append((t1, x1, y1))
        self.x, self.y = x1, y1

    # -- gait ----------------------------------------------------------------------------------
    def gait(self, t0, t1, activity, profile, laps=False):
        """Walk or run from standing at t0 until t1, then stand; ``profile(t)`` gives the
        nominal (cadence spm, speed m/s, strike mode) at time t. ``laps``: turn round every
        10-20 m (see _turning_steps)."""
        rng = self.rng
        lap = rng.uniform(10, 20) if laps else math.inf
        walked = 0.0
        turns = []                    # this foot's turning steps to come (see _turning_steps)
        run = activity == "run"
        self._settle(t0)
        t0 = self.pitch.t[-1]
        cad, speed, mode = profile(t0)
        p = self._stride_params(activity, cad, speed, mode, 0.0)
        # first toe-off from standing: heel rise then push-off
        hr = p["C"] * (1 - p["f_ho"])
        tc = t0 + hr
        phi, w_tc = p["phi"], p["kappa"] * abs(p["phi"]) / hr
        self.pitch.add(tc, phi, -w_tc, 0.0)
        tc_state = self._toe_state(tc, phi, w_tc)
        prev_tc = tc
        if self.truth and self.truth[-1]["contact"] is None and tc - self.truth[-1]["ic"] < 2.0:
            self.truth[-1]["contact"] = tc - self.truth[-1]["ic"]   # walked straight into a run
        noise = 0.0
        while True:
            cad, speed, mode = profile(prev_tc)
            noise = 0.5 * noise + rng.normal(0.0, 0.015 * math.sqrt(0.75))
            p_next = self._stride_params(activity, cad, speed, mode, noise)
            turn = turns.pop(0) if turns else None     # its toe-off was scaled already
            if turn:
                p_next["w_swing"] *= turn["swing"]
                p_next["strike"] *= rng.uniform(0.6, 1.0)
            T, C = p_next["T"], p_next["C"]
            swing = T - p["C"]
            ic = prev_tc + swing
            s = p_next["strike"]
            alpha = -p_next["alpha_n"] * s / p_next["D_ff"] ** 2      # deg/s^2 at IC: slap or heel drop
            self._swing_pitch(prev_tc, ic, phi, w_tc, s, alpha, p_next, run)
            stride_len = speed * T * (1 + rng.normal(0, 0.01))
            if turn:
                stride_len *= turn["length"]
                self._turn(prev_tc, ic, turn["yaw"])
            walked += stride_len
            self._flight(prev_tc, ic, self.x + stride_len, rng.normal(0, 0.005), s, alpha,
                         lift=p_next["lift"], sway=rng.normal(0, 0.015), start_state=tc_state,
                         roll_amp=rng.normal(0, 3.0), yaw_amp=rng.normal(0, 2.5))
            self._impact(*self._strike_impact(ic, s, speed, run))
            ff = ic + p_next["D_ff"]
            self.pitch.add(ff, 0.0)
            last = ic + C > t1
            row = dict(ic=ic, tc=prev_tc, contact=None if last else C, strike_angle=s,
                       overstride=int(run and s > OVERSTRIDE_ABOVE_DEG), activity=activity)
            self.truth.append(row)
            if last:
                return ff
            ho = ic + p_next["f_ho"] * C
            tc = ic + C
            phi = p_next["phi"]
            if not turns and walked >= lap:
                turns = self._turning_steps()
                walked = 0.0
                lap = rng.uniform(10, 20)
            if turns:
                phi *= turns[0]["toe_off"]             # the push-off into a turning step
            w_tc = p_next["kappa"] * abs(phi) / (tc - ho)
            self.pitch.add(ho, 0.0)
            self.pitch.add(tc, phi, -w_tc, 0.0)
            tc_state = self._toe_state(tc, phi, w_tc)
            prev_tc, p = tc, p_next

    def _turning_steps(self):
        """Turning round (180 deg) takes this foot two steps that swivel it in the air, the
        second barely pitching it: it is lifted nearly flat and set down a little way on (a
        real walk's: 25 deg toe-up at 140 deg/s, against 90 deg and 370 deg/s in a straight
        stride). Each gives its yaw change (deg) and scales of a straight stride's swing
        toe-up rate, toe-off angle and length."""
        rng = self.rng
        first = rng.uniform(60, 110)
        side = rng.choice([-1.0, 1.0])
        return [dict(yaw=side * first, swing=rng.uniform(0.45, 0.7), toe_off=rng.uniform(0.45, 0.7),
                     length=rng.uniform(0.4, 0.7)),
                dict(yaw=side * (180 - first), swing=rng.uniform(0.35, 0.55), toe_off=rng.uniform(0.15, 0.35),
                     length=rng.uniform(0.15, 0.35))]

    def _turn(self, t0, t1, dyaw):
        """The foot swivels by ``dyaw`` deg between t0 and t1 (in the air): its heading turns,
        and the way it walks on with it (the path is the heading's, see render)."""
        if self.heading is None:
            self.heading = Knots()
            self.heading.add(0.0, 0.0)
        h = self.heading.y[-1]
        self.heading.add(t0, h)
        self.heading.add(t1, h + dyaw)

    def _toe_state(self, tc, phi, w_tc):
        """Heel state at toe-off: rocking about the metatarsal heads, rate -w_tc, no angular accel."""
        gx = self.x + TOE_LEVER_M
        (px, pz), (vx, vz), (ax, az) = _pivot_state(gx, phi * RAD, -w_tc * RAD, 0.0, TOE_LEVER_M)
        return ((px, self.y, pz), (vx, 0.0, vz), (ax, 0.0, az))

    def _stride_params(self, activity, cad, speed, mode, noise):
        rng = self.rng
        T = 120.0 / cad * (1 + noise)
        if activity == "walk":
            strike = float(np.clip(rng.normal(18, 3), 10, 28))
            C = T * rng.normal(0.61, 0.01)
            return dict(T=T, C=C, strike=strike, D_ff=C * rng.uniform(0.15, 0.2), f_ho=rng.uniform(0.55, 0.65),
                        phi=float(np.clip(rng.normal(-57, 3), -65, -50)), kappa=rng.uniform(1.7, 2.1),
                        alpha_n=rng.uniform(3.0, 4.5), d1=rng.uniform(0.025, 0.04), dp=rng.uniform(0.025, 0.035),
                        w_swing=rng.uniform(320, 430), lam=rng.uniform(0.4, 0.6),
                        lift=rng.uniform(0.10, 0.15), delta=0.0)
        C = (0.30 - 0.0325 * (speed - 2.0)) * (1 + rng.normal(0, 0.03))
        C = min(C, 0.5 * T)
        if mode == "mixed":
            mode = rng.choice(["rearfoot", "midfoot", "forefoot"], p=[0.5, 0.3, 0.2])
        if mode == "rearfoot":
            strike = float(np.clip(rng.normal(12, 2), 8.5, 30))
        elif mode == "overstride":
            strike = float(np.clip(rng.normal(21, 3), 16, 30))
        elif mode == "midfoot":
            strike = float(np.clip(rng.normal(2.5, 1.5), -1.0, 6.0))
        else:
            strike = float(np.clip(rng.normal(-8, 2.5), -15, -4))
        if strike > 6:
            f_ff = rng.uniform(0.2, 0.28)          # heel strike then slap down to flat
        elif strike < -1:
            f_ff = rng.uniform(0.2, 0.3)           # toe first then the heel drops
        else:
            f_ff = rng.uniform(0.1, 0.15)
        phi = float(np.clip(-(38 + 5 * (speed - 2)) + rng.normal(0, 4), -70, -30))
        return dict(T=T, C=C, strike=strike, D_ff=C * f_ff, f_ho=rng.uniform(0.42, 0.5), phi=phi,
                    kappa=rng.uniform(1.7, 2.2), alpha_n=rng.uniform(1.5, 2.5), d1=rng.uniform(0.02, 0.035),
                    dp=rng.uniform(0.015, 0.025),
                    w_swing=min(1100.0, 550 + 100 * speed + rng.normal(0, 40)),
                    lam=rng.uniform(0.1, 0.2), lift=0.12 + 0.04 * speed + rng.uniform(-0.03, 0.03),
                    delta=rng.uniform(6, 14) if strike < -1 else (2.0 if strike < 0 else 0.0))

    def _swing_pitch(self, tc, ic, phi, w_tc, s, alpha, p, run):
        """Knots from toe-off to the next contact (the TC knot itself is already placed).

        MIN: toe-down rotation stops 20-40 ms after TC. PEAK: fastest toe-up rotation.
        LATE: late swing, still rotating toe-up slowly (heel strike) or with the toe raised
        and about to lower (forefoot). PRE: 15-35 ms before contact the rotation starts to
        brake hard, so that IC is a sharp extremum of the pitch (the strike angle, rate 0).
        """
        swing = ic - tc
        d1 = min(p["d1"], 0.15 * swing)
        t_min = tc + d1
        th_min = phi - 0.5 * w_tc * d1
        # PRE -> IC: the angular acceleration ramps from 0 to alpha, the rate falls to 0
        dp = min(p["dp"], 0.1 * swing, 300.0 / max(abs(alpha), 1.0))   # rate at PRE <= 150 deg/s
        w_pre = -alpha * dp / 2
        th_pre = s - 2.0 / 3.0 * w_pre * dp
        w_t = p["w_swing"]
        avail = ic - dp - t_min                 # MIN -> PRE
        d3_min = min(0.04, 0.2 * avail)
        if p["delta"] > 0:                      # toe raised, lowers onto the strike angle
            w_l, th_l = 0.0, s + p["delta"]
            d12 = float(np.clip(1.94 * (th_l - th_min) / w_t, 0.3 * avail, avail - d3_min))
        else:                                   # approaches the strike angle from below
            d12 = avail - d3_min
            for _ in range(4):
                w_l, th_l = self._late_swing(p["lam"] * w_t, w_pre, th_pre, avail - d12)
                d12 = float(np.clip(1.94 * (th_l - th_min) / w_t, 0.3 * avail, avail - d3_min))
            w_l, th_l = self._late_swing(p["lam"] * w_t, w_pre, th_pre, avail - d12)
        d1s, d2s = 0.45 * d12, 0.55 * d12
        w = (th_l - th_min - w_l * d2s / 2) / (d1s / 1.875 + d2s / 2)
        th_p = th_min + w * d1s / 1.875
        self.pitch.add(t_min, th_min)
        self.pitch.add(t_min + d1s, th_p, w)
        self.pitch.add(t_min + d12, th_l, w_l)
        self.pitch.add(ic - dp, th_pre, w_pre)
        self.pitch.add(ic, s, 0.0, alpha)

    @staticmethod
    def _late_swing(w_want, w_pre, th_pre, dur):
        """Rate and angle at the start of late swing: a slow toe-up approach (about 10 deg at
        most unless the pre-contact rate needs more) whose mean rate matches its end rates."""
        w_l = min(w_want, max(0.0, 2 * 10.0 / dur - w_pre))
        return w_l, th_pre - 0.5 * (w_l + w_pre) * dur

    def _strike_impact(self, ic, s, speed, run):
        """Damped ringing at contact: peak g by strike and speed (hard heel strikes saturate)."""
        rng = self.rng
        spread = math.exp(rng.normal(0, 0.15))
        if not run:
            peak = (1.2 + 1.3 * speed) * spread                          # walking 1.5-4 g
            return (ic, min(peak, 4.0), rng.uniform(20, 35), rng.uniform(0.01, 0.02), 0.3, peak * 10)
        if s > REARFOOT_ABOVE_DEG:
            peak = (8.0 + 3.5 * speed) * (1 + 0.02 * (s - 10)) * spread  # 12-30 g
            peak = float(np.clip(peak, 12, 30))
        elif s < FOREFOOT_BELOW_DEG:
            peak = float(np.clip((2.5 + 1.2 * speed) * spread, 4, 10))
        else:
            peak = float(np.clip((5.0 + 1.6 * speed) * spread, 6, 15))
        return (ic, peak, rng.uniform(30, 60), rng.uniform(0.008, 0.015), 0.35, peak * 5)

    # -- rendering -----------------------------------------------------------------------------
    def render(self, ts, lever, mount):
        """True specific force (g) and angular rate (deg/s) in the sensor frame at times ts."""
        n = len(ts)
        th, dth, ddth = (x * RAD for x in self.pitch.evaluate(ts))
        ro, dro, ddro = (x * RAD for x in self.roll.evaluate(ts))
        ya, dya, ddya = (x * RAD for x in self.yaw.evaluate(ts))

        # heel position: rocking on the current ground point, or flying
        starts = np.array([c[0] for c in self.contacts])
        gxs = np.array([c[1] for c in self.contacts])
        gys = np.array([c[2] for c in self.contacts])
        k = np.clip(np.searchsorted(starts, ts, side="right") - 1, 0, len(starts) - 1)
        toe = th < 0
        cx = np.where(toe, TOE_LEVER_M, 0.0)
        (px, pz), (vx, vz), (ax, az) = _pivot_state(gxs[k] + cx, th, dth, ddth, cx)
        p = np.stack([px, gys[k], pz], axis=1)
        a = np.stack([ax, np.zeros(n), az], axis=1)
        del vx, vz
        self._render_flights(ts, p, a, (ro, dro, ddro), (ya, dya, ddya))
        if self.heading is not None:
            # Turned round: the foot points, and the path runs, along the heading. (The path is
            # laid out straight and turned with the heading, which leaves out the small
            # centripetal terms of a foot swivelling while it moves: turning steps are short.)
            hd, dhd, ddhd = (x * RAD for x in self.heading.evaluate(ts))
            ya += hd
            dya += dhd
            ddya += ddhd
            c, s = np.cos(hd), np.sin(hd)
            a[:, 0], a[:, 1] = c * a[:, 0] - s * a[:, 1], s * a[:, 0] + c * a[:, 1]

        # orientation R = Rz(yaw) Ry(beta) Rx(roll), beta = -theta (toe-up positive)
        be, dbe, ddbe = -th, -dth, -ddth
        cb, sb, cr, sr, cy, sy = np.cos(be), np.sin(be), np.cos(ro), np.sin(ro), np.cos(ya), np.sin(ya)
        R = np.empty((n, 3, 3))
        R[:, 0, 0] = cy * cb
        R[:, 0, 1] = cy * sb * sr - sy * cr
        R[:, 0, 2] = cy * sb * cr + sy * sr
        R[:, 1, 0] = sy * cb
        R[:, 1, 1] = sy * sb * sr + cy * cr
        R[:, 1, 2] = sy * sb * cr - cy * sr
        R[:, 2, 0] = -sb
        R[:, 2, 1] = cb * sr
        R[:, 2, 2] = cb * cr
        # body angular velocity and its derivative (ZYX Euler kinematics)
        w = np.stack([dro - dya * sb,
                      dbe * cr + dya * cb * sr,
                      -dbe * sr + dya * cb * cr], axis=1)
        dw = np.stack([
            ddro - ddya * sb - dya * dbe * cb,
            ddbe * cr - dbe * dro * sr + ddya * cb * sr - dya * dbe * sb * sr + dya * dro * cb * cr,
            -ddbe * sr - dbe * dro * cr + ddya * cb * cr - dya * dbe * sb * cr - dya * dro * cb * sr,
        ], axis=1)
        # specific force at the sensor, body frame: R^T (a_heel - g) + dw x r + w x (w x r)
        a[:, 2] += G
        f = np.einsum("nji,nj->ni", R, a)
        r = np.broadcast_to(lever, (n, 3))
        f += np.cross(dw, r) + np.cross(w, np.cross(w, r))
        f /= G
        gyro = w / RAD
        self._add_impacts(ts, f, gyro)
        # body (foot) frame -> sensor frame: v_sensor = M^T v_foot
        return f @ mount, gyro @ mount

    def _render_flights(self, ts, p, a, roll, yaw):
        """Overwrite heel position/acceleration in the air; add lift, sway and wobble (in place)."""
        if not self.flights:
            return
        fl = self.flights
        t0 = np.array([f["t0"] for f in fl])
        t1 = np.array([f["t1"] for f in fl])
        i0, i1 = np.searchsorted(ts, t0), np.searchsorted(ts, t1)
        n = np.maximum(i1 - i0, 0)
        j = np.repeat(np.arange(len(fl)), n)                      # flight of each airborne sample
        idx = np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n) + np.repeat(i0, n)
        h = t1 - t0
        tau = ts[idx] - t0[j]
        u = tau / h[j]
        for ax in range(3):
            start = [np.array([f["start"][k][ax] for f in fl]) for k in range(3)]
            end = [np.array([f["end"][k][ax] for f in fl]) for k in range(3)]
            c = _segment_coefficients(h, start[0], end[0], start[1], end[1], start[2], end[2])
            y, _, yy = _horner(c[j], tau)
            p[idx, ax] = y
            a[idx, ax] = yy
        hj = h[j]
        b, _, bb = _bump(_LIFT, u, hj)
        lift = np.array([f["lift"] for f in fl])[j]
        p[idx, 2] += lift * b
        a[idx, 2] += lift * bb
        sv, sd, sdd = _bump(_SWAY, u, hj)
        a[idx, 1] += np.array([f["sway"] for f in fl])[j] * sdd
        # out-of-plane wobble in the air (deg -> rad)
        for ch, key in ((roll, "roll"), (yaw, "yaw")):
            amp = np.array([f[key] for f in fl])[j] * RAD
            ch[0][idx] += amp * sv
            ch[1][idx] += amp * sd
            ch[2][idx] += amp * sdd

    def _impact(self, t, peak, freq, decay, fore, gyro_dps):
        """A damped ringing from t: peak g mostly along the foot's vertical, some fore-aft
        (backwards: the foot is stopped), a little sideways, and a smaller gyro ringing."""
        rng = self.rng
        self.impacts.append((t, peak, freq, decay, -fore * rng.uniform(0.5, 1.0), 0.1 * rng.normal(),
                             gyro_dps, 0.3 * rng.normal()))

    def _add_impacts(self, ts, f, gyro):
        for t, peak, freq, decay, fore, side, gdps, groll in self.impacts:
            i0, i1 = np.searchsorted(ts, [t, t + 8 * decay])
            if i1 <= i0:
                continue
            tau = ts[i0:i1] - t
            env = np.exp(-tau / decay)
            # sin(2 pi f tau) peaks after a quarter period; scale so the envelope's peak is ``peak``
            ring = peak * env * np.sin(2 * np.pi * freq * tau) / math.exp(-0.25 / freq / decay)
            f[i0:i1, 0] += fore * ring
            f[i0:i1, 1] += side * ring
            f[i0:i1, 2] += ring
            gring = gdps * env * np.sin(2 * np.pi * freq * 0.8 * tau + 0.5)
            gyro[i0:i1, 0] += groll * gring
            gyro[i0:i1, 1] += gring


# ---------------------------------------------------------------------------------------------
# Mounting, sensor errors, scenarios

def _rot(axis, deg):
    c, s = math.cos(deg * RAD), math.sin(deg * RAD)
    if axis == "x":
        return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])
    if axis == "y":
        return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])


def _mounting(rng, mount):
    """(M, lever): sensor axes as columns in the foot frame, sensor position from the heel (m)."""
    if mount == "heel":
        # on the heel counter: sensor z points backwards out of the shoe, any spin about it
        base = np.array([[0.0, 0.0, -1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
        M = base @ _rot("z", rng.uniform(0, 360)) @ _rot("x", rng.normal(0, 5)) @ _rot("y", rng.normal(0, 5))
        lever = np.array([rng.uniform(-0.03, -0.015), rng.normal(0, 0.005), rng.uniform(0.035, 0.06)])
        return M, lever
    lever = np.array([rng.uniform(0.08, 0.12), rng.normal(0, 0.01), rng.uniform(0.06, 0.08)])
    if mount == "random":
        q = rng.normal(size=4)
        q /= np.linalg.norm(q)
        w, x, y, z = q
        M = np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                      [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                      [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])
        return M, lever
    # laces: flat on the instep, which rises towards the ankle (toe-down tilt ~ 20 deg), any yaw
    M = _rot("y", rng.uniform(10, 25)) @ _rot("x", rng.normal(0, 4)) @ _rot("z", rng.uniform(0, 360))
    if mount == "upside-down":
        M = M @ _rot("x", 180.0)
    return M, lever


def _butterworth2(fc, fs):
    """Impulse response of a 2nd-order Butterworth low-pass (bilinear), until it has died out."""
    k = math.tan(math.pi * fc / fs)
    norm = 1.0 / (1.0 + math.sqrt(2.0) * k + k * k)
    b0 = k * k * norm
    a1 = 2.0 * (k * k - 1.0) * norm
    a2 = (1.0 - math.sqrt(2.0) * k + k * k) * norm
    h = []
    y1 = y2 = 0.0
    for n in range(1000):
        x = b0 * ((n == 0) + 2 * (n == 1) + (n == 2))
        y = x - a1 * y1 - a2 * y2
        h.append(y)
        y1, y2 = y, y1
        if n > 2 and abs(y) < 1e-7 and abs(y1) < 1e-7 and abs(y2) < 1e-7:
            break
    return np.array(h)


def _sensor_output(scene, ts, lever, mount, rate_hz):
    """What the MPU6050 outputs at ``ts`` (s): the motion sampled at its internal 1 kHz,
    through the digital low-pass filter the firmware configures for ``rate_hz``
    (mpu6050.dlpf_for_rate), read at the sample times. The filter is what a real sensor
    does to an impact at 100 Hz: a 44 Hz bandwidth blunts it and delays it by ~5 ms.
    Modelled as a 2nd-order Butterworth at the datasheet's bandwidths (its delay, 1.2 to
    5 ms, is close to the datasheet's 2.0 to 4.9 ms). Rendered in chunks: an hour at 1 kHz
    would not fit in memory at once."""
    paths.use_firmware()
    import mpu6050

    cfg = mpu6050.dlpf_for_rate(rate_hz)
    h_acc = _butterworth2(DLPF_ACCEL_HZ[cfg], INTERNAL_RATE_HZ)
    h_gyr = _butterworth2(DLPF_GYRO_HZ[cfg], INTERNAL_RATE_HZ)
    pre = max(len(h_acc), len(h_gyr))
    step = 1.0 / INTERNAL_RATE_HZ
    f_out = np.empty((len(ts), 3))
    g_out = np.empty((len(ts), 3))
    per_chunk = max(1, int(60.0 * rate_hz))
    for i0 in range(0, len(ts), per_chunk):
        i1 = min(len(ts), i0 + per_chunk)
        k0 = int(math.floor(ts[i0] / step)) - pre
        k1 = int(math.ceil(ts[i1 - 1] / step)) + 1
        grid = np.arange(k0, k1 + 1) * step
        f, g = scene.render(np.maximum(grid, 0.0), lever, mount)  # still before t = 0
        np.clip(f, -ACCEL_FULL_SCALE_G, ACCEL_FULL_SCALE_G, out=f)  # the ADC saturates first
        np.clip(g, -GYRO_FULL_SCALE_DPS, GYRO_FULL_SCALE_DPS, out=g)
        for out, x, h in ((f_out, f, h_acc), (g_out, g, h_gyr)):
            for c in range(3):
                y = np.convolve(x[:, c], h)[:len(grid)]
                out[i0:i1, c] = np.interp(ts[i0:i1], grid, y)
    return f_out, g_out


def _sensor_errors(rng, f_g, gyro_dps, rate_hz, bias_scale, noise_scale, scale_error=0.02):
    """Noise, bias, scale error, quantization and clipping: int16 counts (N x 6)."""
    n = len(f_g)
    bw = math.sqrt(rate_hz / 200.0)          # white noise rms grows with the bandwidth
    acc = f_g * (1 + rng.uniform(-1, 1, 3) * scale_error) + rng.uniform(-0.05, 0.05, 3) * bias_scale
    acc += rng.normal(0.0, 0.01 * bw * noise_scale, (n, 3))
    gyr = gyro_dps * (1 + rng.uniform(-1, 1, 3) * scale_error) + rng.uniform(-3.0, 3.0, 3) * bias_scale
    gyr += rng.normal(0.0, 0.1 * bw * noise_scale, (n, 3))
    counts = np.empty((n, 6))
    counts[:, :3] = acc * ACCEL_LSB_PER_G
    counts[:, 3:] = gyr * GYRO_LSB_PER_DPS
    return np.clip(np.rint(counts), -32768, 32767).astype(np.int16)


def _check_range(name, value, lo, hi, unit):
    if value is None:
        return
    if not lo <= value <= hi:
        raise PodError("%s %g%s is out of range (%g to %g)" % (name, value, " " + unit if unit else "", lo, hi))


def _duration(scenario, options):
    """The requested length (0 is a length, and out of range), else the scenario's default."""
    d = options.get("duration")
    return DEFAULT_DURATION_S[scenario] if d is None else d


def _run_profile(cadence, speed, mode, episodes=()):
    """profile(t) for a run: constant, except inside episodes (t0, t1, cadence|None, mode|None)."""
    def profile(t):
        cad, m = cadence, mode
        for e0, e1, ecad, emode in episodes:
            if e0 <= t < e1:
                cad = ecad if ecad is not None else cad
                m = emode if emode is not None else m
        return cad, speed, m
    return profile


def _scenario_plan(scenario, duration, speed, cadence, strike):
    """The scenario as a list of (kind, t0, t1, extra); gaits carry a profile function."""
    plan = []
    t = 0.0
    if scenario in ("stand", "fidget", "tap"):
        return [(scenario, 0.0, duration, None)]
    gait_end = duration - END_STILL_S
    plan.append(("stand", 0.0, START_STILL_S, None))
    t = START_STILL_S
    if scenario in ("walk", "laps"):
        profile = _run_profile(cadence or 110.0, speed or 1.3, "rearfoot")
        plan.append((scenario, t, gait_end, profile))
    elif scenario in ("run", "rearfoot", "midfoot", "forefoot", "overstride"):
        mode = {"run": strike or "rearfoot", "overstride": "overstride"}.get(scenario, scenario)
        default_speed = 3.0 if scenario == "overstride" else 3.5
        profile = _run_profile(cadence or 172.0, speed or default_speed, mode)
        plan.append(("run", t, gait_end, profile))
    elif scenario == "cadence_drift":
        c0 = cadence or 180.0
        c1 = max(150.0, c0 - 20.0)
        t0, t1 = t, gait_end

        def profile(tt):
            frac = min(1.0, max(0.0, (tt - t0) / (t1 - t0)))
            return c0 + (c1 - c0) * frac, speed or 3.3, strike or "rearfoot"
        plan.append(("run", t0, t1, profile))
    elif scenario == "stop":
        pause = min(45.0, 0.25 * (gait_end - t))
        leg = (gait_end - t - pause) / 2
        profile = _run_profile(cadence or 172.0, speed or 3.5, strike or "rearfoot")
        plan.append(("run", t, t + leg, profile))
        plan.append(("stand", t + leg, t + leg + pause, None))
        plan.append(("run", t + leg + pause, gait_end, profile))
    elif scenario == "session":
        total = gait_end - t
        walk = min(180.0, 0.2 * total)
        pause = min(45.0, 0.05 * total)
        run_total = total - 2 * walk - pause
        r0 = t + walk
        mid = r0 + run_total / 2
        # overstride episode in the first half, low cadence in the second (each ~1 min at default)
        ep = min(60.0, run_total / 8)
        episodes = [(r0 + 0.25 * run_total, r0 + 0.25 * run_total + ep, None, "overstride"),
                    (mid + pause + 0.25 * run_total, mid + pause + 0.25 * run_total + ep, 158.0, None)]
        run_profile = _run_profile(cadence or 176.0, speed or 3.2, strike or "rearfoot", episodes)
        walk_profile = _run_profile(110.0, 1.3, "rearfoot")
        plan.append(("walk", t, r0, walk_profile))
        plan.append(("run", r0, mid, run_profile))
        plan.append(("stand", mid, mid + pause, None))
        plan.append(("run", mid + pause, mid + pause + run_total / 2, run_profile))
        plan.append(("walk", mid + pause + run_total / 2, gait_end, walk_profile))
    else:
        raise PodError("unknown scenario %r (try: %s)" % (scenario, ", ".join(SCENARIOS)))
    plan.append(("stand", gait_end, duration, None))
    return plan


def check_seed(seed):
    """PodError unless ``seed`` is one numpy's generator takes."""
    if not 0 <= seed < 2 ** 63:
        raise PodError("the seed must be a whole number from 0 (got %d)" % seed)


def simulate(scenario, seed=0, rate_hz=200.0, **options):
    """Simulate ``scenario``; returns (podcsv.Recording, truth events: list of dicts).

    Options: duration (s, whole recording), speed (m/s), cadence (spm, both feet),
    strike (rearfoot|midfoot|forefoot|mixed), mount (laces|heel|random|upside-down),
    drop (fraction of samples removed), bias_scale (x the default bias bounds),
    noise_scale (x the default white noise), ideal (True: no noise, bias or scale error;
    still quantized and clipped).
    """
    known = {"duration", "speed", "cadence", "strike", "mount", "drop", "bias_scale", "noise_scale", "ideal"}
    unknown = set(options) - known
    if unknown:
        raise PodError("unknown simulator option(s): %s" % ", ".join(sorted(unknown)))
    if scenario not in SCENARIOS:
        raise PodError("unknown scenario %r (try: %s)" % (scenario, ", ".join(SCENARIOS)))
    check_seed(seed)
    for name in ("speed", "cadence", "strike"):
        if options.get(name) is not None and name not in _GAIT_OPTIONS.get(scenario, ()):
            raise PodError("--%s does not apply to the %s scenario (%s)" % (name, scenario, SCENARIOS[scenario]))
    duration = _duration(scenario, options)
    speed, cadence = options.get("speed"), options.get("cadence")
    strike = options.get("strike")
    mount = options.get("mount") or "laces"
    drop = options.get("drop") or 0.0
    bias_scale = options.get("bias_scale", 1.0)
    noise_scale = options.get("noise_scale", 1.0)
    ideal = bool(options.get("ideal", False))
    rate_hz = float(rate_hz)
    _check_range("rate", rate_hz, *RATE_RANGE, "Hz")
    if scenario in ("walk", "laps"):
        _check_range("walking speed", speed, *WALK_SPEED_RANGE, "m/s")
        _check_range("walking cadence", cadence, *WALK_CADENCE_RANGE, "spm")
    else:
        _check_range("running speed", speed, *RUN_SPEED_RANGE, "m/s")
        _check_range("running cadence", cadence, *RUN_CADENCE_RANGE, "spm")
    _check_range("drop fraction", drop, 0.0, 0.5, "")
    _check_range("bias scale", bias_scale, 0.0, 20.0, "")
    _check_range("noise scale", noise_scale, 0.0, 100.0, "")
    min_duration = 5.0 if scenario in ("stand", "fidget", "tap") else 15.0
    if scenario == "session":
        min_duration = 120.0
    _check_range("duration", duration, min_duration, 6 * 3600.0, "s")
    if strike is not None and strike not in STRIKES:
        raise PodError("unknown strike %r (try: %s)" % (strike, ", ".join(STRIKES)))
    if mount not in MOUNTS:
        raise PodError("unknown mount %r (try: %s)" % (mount, ", ".join(MOUNTS)))

    # independent streams: the same seed gives the same motion whatever the mounting
    scene_seq, mount_seq, error_seq = np.random.SeedSequence(seed).spawn(3)
    rng = np.random.default_rng(error_seq)
    scene = Scene(np.random.default_rng(scene_seq))
    _build(scene, scenario, duration, options)

    n = int(math.floor(duration * rate_hz)) + 1
    t_us = np.rint(np.arange(n) * (1e6 / rate_hz)).astype(np.int64)
    ts = t_us / 1e6
    M, lever = _mounting(np.random.default_rng(mount_seq), mount)
    f_g, gyro = _sensor_output(scene, ts, lever, M, rate_hz)
    if ideal:
        imu = _sensor_errors(rng, f_g, gyro, rate_hz, 0.0, 0.0, 0.0)
    else:
        imu = _sensor_errors(rng, f_g, gyro, rate_hz, bias_scale, noise_scale)
    if drop > 0:
        keep = rng.random(n) >= drop
        keep[0] = True
        t_us, imu = t_us[keep], imu[keep]
    meta = {"sim_scenario": scenario, "sim_seed": seed, "sim_mount": mount}
    rec = podcsv.Recording(t_us=t_us, imu=imu, rate_hz=rate_hz, source="pod simulate (%s, seed %d)" %
                           (SCENARIOS[scenario], seed), meta=meta)
    return rec, _truth_rows(scene.truth, (n - 1) / rate_hz)


def foot_pitch(scenario, seed=0, rate_hz=200.0, **options):
    """The true foot pitch of ``simulate(scenario, seed, ...)`` at its sample times:
    (t_us, theta deg, rate deg/s), toe-up positive. For tests and plots."""
    rec, _ = simulate(scenario, seed=seed, rate_hz=rate_hz, **{**options, "drop": 0.0})
    scene = Scene(np.random.default_rng(np.random.SeedSequence(seed).spawn(3)[0]))
    duration = _duration(scenario, options)
    _build(scene, scenario, duration, options)
    theta, rate, _ = scene.pitch.evaluate(rec.t_us / 1e6)
    return rec.t_us, theta, rate


def _build(scene, scenario, duration, options):
    plan = _scenario_plan(scenario, duration, options.get("speed"), options.get("cadence"), options.get("strike"))
    for kind, t0, t1, profile in plan:
        t0 = max(t0, scene.pitch.t[-1])
        if t1 - t0 < 0.5:
            continue
        if kind == "laps":
            scene.gait(t0, t1, "walk", profile, laps=True)
        elif kind in ("walk", "run"):
            scene.gait(t0, t1, kind, profile)
        else:
            scene.still(t0, t1, kind)


def _strike_class(angle):
    if angle > REARFOOT_ABOVE_DEG:
        return "rearfoot"
    if angle < FOREFOOT_BELOW_DEG:
        return "forefoot"
    return "midfoot"


def _truth_rows(truth, duration):
    rows = []
    for r in truth:
        if r["ic"] > duration:
            break
        rows.append({
            "ic_us": int(round(r["ic"] * 1e6)),
            "tc_us": int(round(r["tc"] * 1e6)) if r["tc"] is not None else None,
            "contact_ms": int(round(r["contact"] * 1e3)) if r["contact"] is not None else None,
            "strike_angle_deg": round(float(r["strike_angle"]), 2),
            "strike": _strike_class(r["strike_angle"]),
            "overstride": r["overstride"],
            "activity": r["activity"],
        })
    return rows


# ---------------------------------------------------------------------------------------------
# Command line

def add_arguments(parser):
    parser.add_argument("--scenario", help="what to simulate (see --list)")
    parser.add_argument("--out", help="recording to write (REC.csv; truth goes to REC.events.csv)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--rate", type=float, default=200.0, help="sample rate in Hz, 100-1000 (default 200)")
    parser.add_argument("--duration", type=float, help="length of the recording in seconds")
    parser.add_argument("--speed", type=float, help="speed in m/s (running 2-6, walking 1-1.6)")
    parser.add_argument("--cadence", type=float, help="steps per minute, both feet (running 150-200)")
    parser.add_argument("--strike", help="foot strike for running: %s" % "|".join(STRIKES))
    parser.add_argument("--mount", default="laces", help="how the pod is clipped on: %s (default laces)"
                        % "|".join(MOUNTS))
    parser.add_argument("--drop", type=float, default=0.0, help="fraction of samples to drop (0-0.5)")
    parser.add_argument("--list", action="store_true", help="list the scenarios and exit")


def _write_pair(out, rec, events):
    """The recording and its truth, both or neither: each is written beside its place and
    put there only once both are written (a failure leaves the files already there)."""
    pair = ((str(out), podcsv.write, rec), (str(podcsv.events_path(out)), podcsv.write_events, events))
    replaceable(pair[0][0], "a pod-imu recording", podcsv.is_recording)
    replaceable(pair[1][0], "a truth sidecar", podcsv.is_events)
    done = []
    try:
        for path, write, what in pair:
            with writing(path):
                if os.path.isdir(path):
                    raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), path)
                write(path + ".part", what)
                done.append(path)
        for path in done:
            with writing(path):
                os.replace(path + ".part", path)
        done = []
    finally:
        for path in done:
            try:
                os.remove(path + ".part")
            except OSError:
                pass


def run(args):
    if args.list:
        for name, text in SCENARIOS.items():
            print("%-14s %s" % (name, text))
        return 0
    if not args.scenario or not args.out:
        raise PodError("simulate needs --scenario NAME and --out REC.csv (or --list)")
    if not str(args.out).endswith(".csv"):
        raise PodError("--out must end in .csv (the truth goes beside it as NAME.events.csv)")
    rec, events = simulate(args.scenario, seed=args.seed, rate_hz=args.rate, duration=args.duration,
                           speed=args.speed, cadence=args.cadence, strike=args.strike, mount=args.mount,
                           drop=args.drop)
    _write_pair(args.out, rec, events)
    print("%s: %d samples, %.1f s at %g Hz, %d strides of truth -> %s" % (
        args.scenario, len(rec), rec.duration_s, rec.rate_hz, len(events), podcsv.events_path(args.out)))
    return 0
