"""Gait engine: footfalls, cadence, strike angle and contact time from one foot's MPU6050.

Fed one sample at a time, in integer counts, exactly as the pod reads them::

    eng = GaitEngine(period_us=5000)
    if eng.update(ax, ay, az, gx, gy, gz, dt_us):      # true when events are pending
        while True:
            ev = eng.pop()                              # 0 when the queue is empty
            if ev == EV_IC:   eng.ic_t, eng.stride_ms, eng.cadence_x10   (a footfall, live)
            if ev == EV_STEP: eng.step_ic_t, eng.step_tc_t, eng.contact_ms,
                              eng.strike_cdeg, eng.strike            (its stance, once over)
            if ev == EV_ACTIVITY: eng.activity

Units: accelerometer 2048 counts/g (+-16 g), gyroscope 16.4 counts/(deg/s) (+-2000 dps).
Times are ticks in microseconds on the ESP32's 2**30 wrap (compat.ticks_*); ``eng.now`` is
the engine's clock, advanced by ``dt_us`` each sample; compare only with ``ticks_diff``.

How it works (no floats, no allocation, every intermediate within +-2**30):

* Orientation is learned, never assumed. The foot's pitch axis is the dominant rotation
  axis while moving: a decaying mean of sign-aligned gyro vectors taken while the foot
  rotates fast (``_ax`` in counts, normalised to the Q13 unit vector ``_mx``), their level
  part once the foot has stood still (the pitch axis is level; a turning step's swivel
  about the vertical would tilt it, a little each U-turn, until the walk was off it). Its
  sign (toe-up positive) comes from the gait itself: between two quiet moments of the foot
  the toe-down excursion (push-off, up to -60 deg and more) is larger than the toe-up one
  (strike, at most about +30 deg); a burst with no rest before it (the samples began
  mid-stride) is no evidence, nor one that turned the foot less than 40 deg either way (a
  toe tap: 20-35 deg; the first push-off from standing: 42 and more). A fast run's stances
  need not go quiet at all: a burst still under way is judged from the rest it began at
  when that rest is about to leave the history, if it turned the foot 50 deg (a foot
  shaken in the air, from a quiet moment at one end of its swing: 47); and with no rest
  seen at all for 1.5 s or a full history (the samples began mid-run), from two landings a
  stride apart, the strongest jolts: in the 0.5 s after each the foot must turn 50 deg,
  more toe-down than toe-up (a run's push-off: 60-110 deg, its swing back: 10-40), and
  both must agree (the push-off's own jolt can be the strongest; where the history cannot
  hold a stride and the half second after it, 1 s at 1 kHz, the first one's verdict is
  kept until the next landing's). Once oriented, every
  stride is checked the same way (45 deg: the first strides are past), but a swinging foot
  can be as quiet for a moment as one on the ground: a quiet moment whose accelerometer
  points more than 40 deg from the vertical the foot last stood still at is in the air,
  and so is one after the push-off, 15 deg toe-down from foot-flat (a runner who never
  stood still has no vertical; its swing's reversal just after toe-off voted the sign
  wrong, each burst from one to the next turning the foot toe-up only), and a burst
  that does not come back near where it began is half a stride, no evidence either: it
  goes on to the next quiet moment (so before orienting too: a slow walker's foot can be
  quiet for a sample just after toe-off). Gyro bias is learned while the foot
  is still. The pod clipped on again another way is noticed and the orientation learned
  afresh: at rest the learned axis is no longer level, or the foot keeps rotating about
  another axis (2 s more of fast rotation off it than on it; real walks, turns and all,
  reach 0.8 s).
* ``w`` is the pitch rate (counts), ``_ang`` its integral in millidegrees.
* A stride is a small state machine: STANCE (find foot-flat, then the push-off) -> toe-off
  TC at the peak toe-down rate -> SWING (toe-up rotation, for 20 ms at least: a jolt can
  flick the pod for a sample, a bounce for 15 ms; a foot at rest again before the swing
  peaked, for 40 ms, never swung) -> TERMINAL swing, armed for the impact (back to SWING
  if the foot turns toe-up faster than at the peak: that was an early bump)
  -> initial contact IC -> STANCE. IC is the impact onset (rate-normalised jerk of the
  accelerometer over ~5 ms, and a fifth of the acceleration it changes from: a
  hard-braking swing turns sharply on its own; across lost samples, the change beyond the
  trend before them; or the jerk's bend: at 100 Hz the sensor's filter blunts the impact
  until it is no steeper than the swing's own deceleration, but that deceleration is
  smooth and the ground is not). While the foot still turns toe-up at a third of the
  swing's peak rate, before any reversal, an impact counts only if that rotation kinks
  too: the leg braking the swing jolts the pod in the air, but only the ground turns it.
  Running, a jolt only the accelerometer shows at the toe-up reversal waits 80 ms for one
  twice as strong: the reversal itself can jolt the pod in the air, and bend its
  acceleration too (a bend is the ground at once only if the jerk is half the acceleration
  it changes from; a weaker one waits, however long after the reversal it comes; a hole in
  the samples while one waits, it was the landing). For a
  heel strike IC is the reversal of the toe-up rotation (timed between the two samples
  around it, where the rate crosses zero) that precedes the impact by at
  most 40 ms (the heel touches, the foot stops rotating toe-up, the forefoot slaps down a
  little later; running, by at most 8 ms: a runner's heel lands with the impact, and a
  reversal before that was in the air). A landing no impact showed (fast running at
  100 Hz: the swing brakes at up to 12 g, the ground adds less) is found afterwards: once
  the braking is over the foot lies flat, then turns 40 deg toe-down in the push-off,
  which a foot in the air never does (or sooner: the push-off jolts while the foot, flat
  and level a moment ago, turns toe-down fast). IC is then the heel's reversal if it came
  with the end of the braking, else that end.
* Strike angle = pitch at IC relative to foot-flat, integrated backwards from foot-flat
  (the quietest moment of the stance once the impact has rung out), so gyro drift over the
  swing never enters it.
* A swing counts as a stride only if the foot really swung (peak toe-up rate and pitch
  excursion) and stayed up for at least 150 ms: taps and fidgets are not footfalls. A
  turning step swivels the foot in the air and pitches it less: with 150 ms of fast
  rotation about the vertical (off the pitch axis, about gravity as it was at foot-flat)
  since the foot was flat, a 15 deg excursion will do. Real straight strides reach 80 ms;
  taps, and the pitch of a pod clipped on again, turn about a level axis. And a bout's
  first footfall goes out only once a second one follows within 2.5 s (with its own
  time, and the events in between): a lone stride, a shuffle or a stray tap, is not gait
  and is dropped.
  Activity: duty factor contact/stride (running has a flight phase) separates running
  from walking; no strides means idle.
* Lost samples: a hole over 50 ms breaks the stride under way (its contact time is not
  known); in the air only one over 100 ms does, and across a shorter one the swing goes
  on, with no impact read across the hole (bursts lost at 100 Hz cost every landing after
  them).
* Joining mid-stride (a pod started on the run): if the foot moves as the history it
  processes again begins, the stride machine starts in the swing, "cold", the peak and
  the 150 ms a swing lasts waived, since both may have gone before. The foot shows it
  stands instead by turning toe-down fast with no heel touching down first, or by
  holding its pitch at 1 g for 30 ms; and a landing counts only 50 ms on, once the foot
  has turned 5 deg.
"""

from array import array

from compat import const, micropython, ticks_add, ticks_diff

# Event flags returned by update().
EV_IC = const(1)  # a footfall was recognised: ic_t, stride_ms, cadence_x10
EV_STEP = const(2)  # a stance is over: step_ic_t, step_tc_t, contact_ms, strike_cdeg, strike
EV_ACTIVITY = const(4)  # activity changed: activity

# Activities and strike classes.
IDLE = const(0)
WALK = const(1)
RUN = const(2)
REARFOOT = const(0)
MIDFOOT = const(1)
FOREFOOT = const(2)
STRIKE_NONE = const(-1)
NO_VALUE = const(-32768)  # an unknown strike angle or contact time

# Terminal swing: the braking (_brake) and an unset angle limit.
_BRAKING = const(1)
_CALM = const(2)
_NO_LIM = const(-0x3FFFFFFF)

# States of the stride machine.
_S_IDLE = const(0)  # no stride under way (standing, or orientation not learned yet)
_S_STANCE = const(1)  # after IC: looking for foot-flat, then the push-off and toe-off
_S_SWING = const(2)  # after TC: toe-up rotation of the swing
_S_TERMINAL = const(3)  # past the swing peak: armed for the impact

# Thresholds in sensor counts (16.4 counts per deg/s, 2048 per g).
_E_QUIET = const(1312)  # |gx|+|gy|+|gz| below 80 deg/s: the foot barely rotates
_E_LOUD = const(3280)  # above 200 deg/s: the foot really moves
_E_AXIS = const(2460)  # above 150 deg/s the rotation teaches the pitch axis
_STILL_DA = const(61)  # block mean accel moved < 0.03 g (L1): gravity did not turn
_STILL_DG = const(1050)  # block mean gyro steady within 4 deg/s (L1, Q4 counts)
_BIAS_MAX = const(9184)  # +-35 deg/s per axis (Q4 counts): beyond that it is not bias
_W_PUSH = const(820)  # push-off: toe-down faster than 50 deg/s
_W_SWING = const(1640)  # swing starts once toe-up faster than 100 deg/s
_UP_US = const(20000)  # ... for 20 ms (a jolt flicks the pod toe-up for a sample, a bounce for 15)
_W_ZC_ARM = const(328)  # a toe-up rotation faster than 20 deg/s arms the reversal detector
_W_PEAK_MIN = const(2460)  # a real swing peaks above 150 deg/s toe-up
_W_PUSH_FAST = const(3280)  # toe-down faster than 200 deg/s: a push-off, not a landing foot
_FLAT_LOCK = const(40000)  # 40 deg toe-down from foot-flat: the heel is up, no new foot-flat
_EXCURSION_MIN = const(30000)  # a real swing turns the foot by at least 30 deg (mdeg)
_VOTE_MIN = const(45000)  # oriented, a burst votes on the axis sign if it turned the foot 45 deg
_FIRST_VOTE_MIN = const(40000)  # ... and 40 to orient it (the first push-off from standing: 42)
_LONG_VOTE_MIN = const(50000)  # ... and 50 if it is judged still under way (_bootstrap)
_TURN_US = const(150000)  # ... unless it turns: 150 ms of fast rotation about the vertical
_TURN_EXCURSION = const(15000)  # ... then 15 deg will do (and _W_SWING for the peak)
_NO_REST_US = const(1500000)  # no rest seen at all for 1.5 s: the sign is voted from landings
_LANDING_US = const(500000)  # ... by the foot's turn in the 0.5 s after each (_vote_landing)
_LANDING_JOLT = const(4096)  # ... a landing jolts the pod 2 g (L1) within ~5 ms at least
_STRIDE_APART = const(400000)  # ... and the second is 0.4 s or more from the first
_JERK_MIN = const(3072)  # impact: accel changes by >= 1.5 g (L1) within ~5 ms
_JOLT_PART = const(20)  # ... and within 5 ms by a fifth of the acceleration (L1) before it
_BEND_MIN = const(6144)  # ... or the jerk itself changes by >= 3 g (the swing is smooth)
_WJERK_MIN = const(820)  # ... or the pitch rate by >= 50 deg/s within ~5 ms
_ACC1G_SQ = const(65536)  # (2048 >> 3) ** 2: 1 g squared, in (counts >> 3) ** 2
_ACC_QUIET_SQ = const(19661)  # |a|^2 within 30 % of 1 g^2: foot not accelerating
_ACC_HARD_SQ = const(409600)  # |a| above 2.5 g: the foot is braking hard, still in the air

# Times in microseconds.
_ZC_WINDOW = const(40000)  # heel-strike reversal counts as IC up to 40 ms before impact
_ZC_RUN = const(8000)  # ... running, up to 8 ms: earlier, the foot turned back in the air
_HELD_US = const(80000)  # a running jolt at the reversal waits 80 ms for a stronger one
_HOLD_AFTER = const(15000)  # ... a jolt up to 15 ms (or a jerk span) after the reversal
_ZC_WALK = const(150000)  # walking: up to 150 ms if the foot was toe-up at the reversal
_SLAP_UP = const(10000)  # ... and is back within 10 deg (mdeg) of flat at the impact
_SLAP_TURN = const(12000)  # ... having turned 12 deg (mdeg) toe-down since the reversal
_HEEL_UP = const(3000)  # toe-up by more than 3 deg (mdeg) at the reversal: heel-first
_AIR_TURN = const(15000)  # 15 deg toe-down from foot-flat after a push-off: in the air
_PUSH_TURN = const(5000)  # a foot-flat, then 5 deg toe-down (mdeg) ...
_PUSH_SOON = const(150000)  # ... within 150 ms: a push-off (_pushing_off)
_DRIFT_MAX = const(60000)  # more than 60 deg between foot-flats is not drift
_REST_US = const(40000)  # a landing without impact: at rest for 40 ms
_REST_DA = const(410)  # ... with gravity steady within 0.2 g (L1) all that time
_ZC_REST = const(300000)  # ... then IC is the reversal if it came at most 300 ms before
_RING_US = const(25000)  # impact ringing: foot-flat is looked for after it
_MIN_CONTACT = const(60000)
_MAX_CONTACT = const(1500000)
_MIN_STRIDE = const(300000)  # 400 steps/min would be absurd
_MAX_STRIDE = const(2500000)  # slower than 48 steps/min is not gait
_MIN_SWING = const(150000)  # a foot in the air for less is a tap (real swings: 230 ms and up)
_MAX_SWING = const(1500000)
_PUSH_STALE = const(400000)  # a push-off not followed by a swing within 0.4 s is forgotten
_GAP_US = const(50000)  # a hole in the samples longer than this breaks the stride ...
_HOLE_AIR = const(100000)  # ... or in the air, longer than this (shorter: the swing goes on)
_DT_MAX = const(16000)  # integrate at most 16 ms per sample (keeps w * scale < 2**30)
_JERK_SPAN = const(5000)  # jerk measured over about 5 ms whatever the rate
_JRING = const(8)  # the jerk looks at most 8 samples back
_WRING = const(16)  # the last pitch rates: two jerk spans back (at most 2 x 8 samples)
_EVEN_MAX = const(32)  # evenly spaced samples counted (more than the bend needs)
_LEVEL_US = const(40000)  # memory of the swing's jerk level (the impact thresholds' base)
_QLEN = const(8)  # event queue length (power of two)
_AXIS_US = const(100000)  # 100 ms of fast rotation teach the pitch axis
_AXIS_LOST_US = const(2000000)  # 2 s more fast rotation off the axis than on it: relearn
_AXIS_DOUBT_US = const(300000)  # ... 0.3 s while no stride has oriented the engine yet
_COLD_SWING = const(50000)  # joined mid-swing (_cold): its landing 50 ms on at least ...
_COLD_TURN = const(5000)  # ... the foot turned 5 deg (mdeg) since (in the air, it turns)
_COLD_STILL = const(30000)  # ... and never held its pitch at 1 g for 30 ms (on the ground)
_RUN_CONTACT_MS = const(400)  # running contact times are 150-350 ms; walking 500-800
_CAD_N = const(4)  # cadence over the last 4 strides

_UNSEEN = const(-0x20000000)  # _seg_n until the foot was seen at rest: a burst's start unseen
_KEPT = const(1)  # a sign vote that kept the axis's sign (_vote)
_FLIPPED = const(2)  # ... that overturned it
_Q13 = const(8192)
_ANG_LIMIT = const(0x20000000)  # 2**29 mdeg: re-base the angle integral beyond this


def _l1(x, y, z):
    """|x| + |y| + |z| (the hot path writes this inline; this is for the slow paths)."""
    return (x if x >= 0 else -x) + (y if y >= 0 else -y) + (z if z >= 0 else -z)


def _isqrt(n):
    """Integer square root (Newton), for normalising the axis now and then."""
    if n <= 0:
        return 0
    x = n
    y = (x + 1) >> 1
    while y < x:
        x = y
        y = (x + n // x) >> 1
    return x


class GaitEngine:
    """Per-sample gait detection for one foot. See the module docstring."""

    def __init__(self, start_ticks=0, strike_rear_x10=80, strike_fore_x10=-16, period_us=5000):
        if strike_fore_x10 >= strike_rear_x10:
            raise ValueError("strike thresholds: forefoot must be below rearfoot")
        if not 500 <= period_us <= 20000:
            raise ValueError("period_us: %d is outside 500..20000 (50 to 2000 Hz)" % period_us)
        self.rear_cdeg = strike_rear_x10 * 10
        self.fore_cdeg = strike_fore_x10 * 10
        self.now = start_ticks
        # Outputs, set by pop().
        self.ic_t = 0
        self.stride_ms = 0
        self.cadence_x10 = 0  # steps/min of the runner (both feet) x 10
        self.step_ic_t = 0
        self.step_tc_t = 0
        self.contact_ms = NO_VALUE
        self.strike_cdeg = NO_VALUE
        self.strike = STRIKE_NONE
        self.activity = IDLE
        self.steps = 0
        self.oriented = False
        # Event queue (preallocated; 8 events is far more than one sample can make).
        self._qk = [0] * _QLEN
        self._qt = [0] * _QLEN
        self._qu = [0] * _QLEN
        self._qv = [0] * _QLEN
        self._qw = [0] * _QLEN
        self._qx = [0] * _QLEN
        self._qhead = 0
        self._qn = 0
        # Sample history: the jerk looks ~5 ms back, and once orientation is learned the
        # last 1.5 to 2.5 s are processed again so the first footfalls are not lost (less
        # above 680 Hz, down to 1 s at 1 kHz: 1024 samples, 14 KB, is the cap).
        n = 256
        while n * period_us < 1500000 and n < 1024:
            n <<= 1
        self._hmask = n - 1
        zeros = bytes(2 * n)  # one source for all seven (each array copies it): less garbage at boot
        self._hx = array("h", zeros)
        self._hy = array("h", zeros)
        self._hz = array("h", zeros)
        self._hgx = array("h", zeros)
        self._hgy = array("h", zeros)
        self._hgz = array("h", zeros)
        self._hdt = array("H", zeros)
        self._hi = 0
        self._hn = 0  # valid samples in the history
        # Orientation: gyro bias (counts x 16), pitch axis (accumulator, Q13 unit vector).
        self._bx = 0
        self._by = 0
        self._bz = 0
        self._ax = 0
        self._ay = 0
        self._az = 0
        self._mx = 0
        self._my = 0
        self._mz = 0
        # Its teaching: [fast samples taken, us of them (up to _AXIS_US), us of fast rotation
        # outside its cone net of inside]; then a turning step's: [us of fast rotation about
        # the vertical since the foot was last flat, that vertical (accel >> 6 then)]; then
        # the vertical when the foot last stood still (a Q13 unit vector, all 0 if never
        # since it was oriented afresh). One list, not 10 attributes (see _hold).
        self._teach = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
        # Stillness blocks for the bias: gyro and accel sums, the previous block's means.
        self._blk_len = 256000 // period_us
        self._reset_block()
        self._b0x = 0
        self._b0y = 0
        self._b0z = 0
        self._pmx = 0
        self._pmy = 0
        self._pmz = 0
        self.still = False  # the last stillness block taught the bias
        self._sign_votes = 0
        # Integration: pitch angle (mdeg) and the per-dt scale.
        self._ang = 0
        self._dt = 0
        self._scale = 0  # Q14: mdeg per count per sample = dt_us / 16400
        self._set_rate(period_us)  # _period, _jlag (samples in the jerk's ~5 ms), _jolt_q, _lshift
        self._wr = [0] * _WRING  # the last pitch rates, for the angular jerk and kink
        self._wi = 0
        self._wj_level = 0
        self._jerk_level = 0  # jerk level in terminal swing (EMA): adaptive impact threshold
        self._even = 0  # samples since the spacing last changed
        self._blind = 0  # samples after a hole in the air whose jerk spans it (_hole)
        self._bend = 0  # L1 change of the jerk over the last ~5 ms (second difference)
        self._bend_level = 0  # its level in the swing (EMA)
        # Quiet-to-quiet segments (sign learning).
        self._loud = False
        self._seg_ang = 0
        self._seg_max = 0
        self._seg_min = 0
        self._seg_n = _UNSEEN  # samples since the foot was last at rest (history distance)
        self._ex_up = 0  # a stretch of the history's excursions, mdeg (_excursions)
        self._ex_down = 0
        self._ex_net = 0  # ... and where it ended, against where it began
        self._half = False  # the burst was half a stride at its last quiet moment (_whole)
        self._half_t = 0  # ... which came then
        self._jolt_t = 0  # when the strongest jolt came (_strongest_jolt)
        self._land_ok = False  # a landing voted on alone (_vote_landing): when, which way
        self._land_t = 0
        self._land_down = False
        # Stride machine.
        self._state = _S_IDLE
        self._t_state = 0
        self._w_peak = 0
        self._ang_min = 0
        self._ang_max = 0
        self._zc_t = 0
        self._zc_ang = 0
        self._zc_ok = False
        self._zc_arm = False
        self._zc_n = 0
        self._zc_hard = 0
        self._resting = False
        self._rest_t = 0
        self._brake = 0  # terminal swing: _BRAKING above 2.5 g, then _CALM once below
        self._calm_t = 0
        self._calm_ang = 0
        # A foot-flat seen in terminal swing after the braking: 40 deg toe-down from it
        # (_NO_LIM while none), its angle and time, and the landing it implies.
        self._tf_lim = _NO_LIM
        self._tf_ang = 0
        self._tf_t = 0
        self._tf_ic = 0
        self._tf_ic_ang = 0
        self._rax = 0  # the accelerometer when the rest began
        self._ray = 0
        self._raz = 0
        self._w_prev = 0
        self._ic_ang = 0
        self._impact_t = 0
        self._e_min = 0
        self._ms_ang = 0
        self._ms_ok = False
        self._ms_t = 0
        self._prev_ms_ang = 0  # foot-flat of the previous stance: the angle's zero
        self._prev_ms_t = 0
        self._prev_ms_ok = False
        self._wb = 0  # residual pitch-rate bias (counts), from the drift between foot-flats
        self._push_min = 0
        self._push_t = 0
        self._held_ic = False  # a running landing on hold (_terminal): at _held_t, _held_ang
        self._held_t = 0
        self._held_ang = 0
        self._held_jerk = 0
        self._up = False  # the foot turns toe-up after the push-off: since _up_t, from _up_ang
        self._up_t = 0
        self._up_ang = 0
        self._valid = False
        # The history processed again began with the foot moving (_replay_history): the
        # stride machine starts in the swing, cold, until it lands or turns out to stand
        # (_on_ground). The angle's range since then, and since when its pitch is held.
        self._cold = False
        self._cold_lo = 0
        self._cold_hi = 0
        self._cold_still = False
        self._cold_t = 0
        # Cadence: the last IC times.
        self._ics = [0] * (_CAD_N + 1)
        self._ic_n = 0
        self._last_ic = 0
        self._have_ic = False
        self._out_ok = False  # a footfall went out (not held) at _out_t: none goes out again
        self._out_t = 0  # within 0.3 s of it (the history processed again, _overturned)
        self._stride_ms = 0
        self._act_vote = WALK
        # A bout's first footfall is held back, with the events after it, until a second one
        # confirms it: a lone stride is a tap or a shuffle, not gait. [holding, events held
        # (queued after the _qn that pop() hands out), the activity to go back to if the
        # bout is dropped]. One list, not three attributes: the hot ones are found faster.
        self._hold = [0, 0, IDLE]

    # ------------------------------------------------------------------ events
    @micropython.native
    def _push(self, kind, t, u, v, w, x):
        hold = self._hold
        n = self._qn + hold[1]
        if n >= _QLEN:
            return  # cannot happen with one sample's (or one held stride's) events; never grow
        i = (self._qhead + n) & (_QLEN - 1)
        self._qk[i] = kind
        self._qt[i] = t
        self._qu[i] = u
        self._qv[i] = v
        self._qw[i] = w
        self._qx[i] = x
        if hold[0]:
            hold[1] += 1
        else:
            self._qn = n + 1

    def pop(self):
        """Next pending event (EV_IC, EV_STEP or EV_ACTIVITY) with its outputs set; 0 if none."""
        if not self._qn:
            return 0
        i = self._qhead
        self._qhead = (i + 1) & (_QLEN - 1)
        self._qn -= 1
        kind = self._qk[i]
        if kind == EV_IC:
            self.ic_t = self._qt[i]
            self.stride_ms = self._qu[i]
            self.cadence_x10 = self._qv[i]
        elif kind == EV_STEP:
            self.step_ic_t = self._qt[i]
            self.step_tc_t = self._qu[i]
            self.contact_ms = self._qv[i]
            self.strike_cdeg = self._qw[i]
            self.strike = self._qx[i]
        else:
            self.activity = self._qu[i]
        return kind

    # ------------------------------------------------------------------ per sample
    @micropython.native
    def update(self, ax, ay, az, gx, gy, gz, dt_us):
        """Feed one sample (int16 counts) taken ``dt_us`` after the previous one.

        Returns the number of pending events (read them with pop()).
        """
        now = ticks_add(self.now, dt_us)
        self.now = now
        i = (self._hi + 1) & self._hmask
        self._hi = i
        self._hx[i] = ax
        self._hy[i] = ay
        self._hz[i] = az
        self._hgx[i] = gx
        self._hgy[i] = gy
        self._hgz[i] = gz
        self._hdt[i] = dt_us if dt_us < 65535 else 65535
        if self._hn <= self._hmask:
            self._hn += 1
        if dt_us != self._dt:
            self._set_dt(dt_us)
            if dt_us > _GAP_US:
                st = self._state
                if dt_us > _HOLE_AIR or not (st == _S_SWING or st == _S_TERMINAL):
                    self._gap()
                else:
                    self._hole()
            self._spaced()
        elif self._even < _EVEN_MAX:
            self._spaced()
        # Stillness blocks (~256 ms) teach the gyro bias.
        self._bsx += gx
        self._bsy += gy
        self._bsz += gz
        self._bax += ax
        self._bay += ay
        self._baz += az
        n = self._blk_n + 1
        self._blk_n = n
        if n >= self._blk_len:
            self._still_block(n)
        gx -= self._bx >> 4
        gy -= self._by >> 4
        gz -= self._bz >> 4
        e = (gx if gx >= 0 else -gx) + (gy if gy >= 0 else -gy) + (gz if gz >= 0 else -gz)
        if e > _E_AXIS:
            self._learn_axis(gx, gy, gz, dt_us)
        if self.oriented:
            self._process(ax, ay, az, gx, gy, gz, e, i)
        else:
            self._bootstrap(e, ax, ay, az)
        return self._qn

    @micropython.native
    def _process(self, ax, ay, az, gx, gy, gz, e, i):
        """One sample through segment voting and the stride machine (orientation known)."""
        # Jerk over ~5 ms: L1 change of the accelerometer against the sample _jlag back.
        j = (i - self._jlag) & self._hmask
        jerk = self._hx[j] - ax
        d = self._hy[j] - ay
        jerk = (jerk if jerk >= 0 else -jerk) + (d if d >= 0 else -d)
        d = self._hz[j] - az
        jerk += d if d >= 0 else -d
        if self._even <= self._jlag:  # an interval off the rate is within the span
            jerk = self._jerk_across(i)
        # Bend: how much the jerk itself changed (a[i] - 2 a[j] + a[k]). The swing's own
        # deceleration before contact can be steep but is smooth; the ground is not.
        k = (j - self._jlag) & self._hmask
        b = ax - self._hx[j] - self._hx[j] + self._hx[k]
        bend = b if b >= 0 else -b
        b = ay - self._hy[j] - self._hy[j] + self._hy[k]
        bend += b if b >= 0 else -b
        b = az - self._hz[j] - self._hz[j] + self._hz[k]
        bend += b if b >= 0 else -b
        # Only over evenly spaced samples: across a lost one a smooth curve bends too.
        self._bend = bend if self._even > self._jlag << 1 else 0
        # Pitch rate (counts, toe-up positive) and pitch angle (mdeg).
        w = ((self._mx * gx + self._my * gy + self._mz * gz) >> 13) - self._wb
        self._ang += (w * self._scale) >> 14
        if self._segment(e, ax, ay, az):
            self._overturned()
            return
        st = self._state
        if st == _S_STANCE:
            self._stance(w, e, ax, ay, az)
        elif st == _S_SWING:
            self._swing(w, e, ax, ay, az)
            if not self._blind:  # (a jerk across a hole is no measure of the swing's)
                self._jerk_level += (jerk - self._jerk_level) >> self._lshift
                self._bend_level += (self._bend - self._bend_level) >> self._lshift
        elif st == _S_TERMINAL:
            self._terminal(w, e, jerk, ax, ay, az)
        else:
            self._idle(w, e)
        self._w_prev = w
        if self._blind:
            self._blind -= 1
        wi = (self._wi + 1) & (_WRING - 1)
        self._wi = wi
        self._wr[wi] = w
        if (self._have_ic or self._out_ok) and ticks_diff(self.now, self._last_ic) > _MAX_STRIDE:
            # No footfall for a while: idle. Forget old times too: after ~9 minutes their
            # tick differences would wrap.
            if self._hold[0]:
                self._drop_held()
            if self.activity != IDLE:
                self._set_activity(IDLE)
            self._ic_n = 0
            self._have_ic = False
            self._out_ok = False
            self._prev_ms_ok = False

    @micropython.native
    def _jerk_across(self, i):
        """The jerk at sample i when samples were lost: the change since the latest sample
        ~5 ms back, and across a hole, the change beyond the trend before it (braking in
        the air, the accelerometer changes smoothly, by 2 g and more in 20 ms; the ground
        stops it). The samples are found by time, not by count."""
        mask = self._hmask
        span = self._jlag * self._period
        half = self._period >> 1
        lim = self._hn - 1  # samples in the history before i
        if lim > _JRING << 1:
            lim = _JRING << 1
        t_ij = 0
        m = 0
        while t_ij < span - half and m < lim:
            t_ij += self._hdt[(i - m) & mask]
            m += 1
        j = (i - m) & mask
        t_jk = 0
        while t_jk < span - half and m < lim:
            t_jk += self._hdt[(i - m) & mask]
            m += 1
        k = (i - m) & mask
        f = 0  # Q8: the trend's spans to add for the time lost
        if t_ij - span > half and t_jk > 0:
            f = ((t_ij - span) << 8) // t_jk
            if f > 2048:
                f = 2048  # at most 8 spans (a hole read across is < 50 ms: _GAP_US)
        xj = self._hx[j]
        yj = self._hy[j]
        zj = self._hz[j]
        d = self._hx[i] - xj - (((xj - self._hx[k]) * f) >> 8)
        jerk = d if d >= 0 else -d
        d = self._hy[i] - yj - (((yj - self._hy[k]) * f) >> 8)
        jerk += d if d >= 0 else -d
        d = self._hz[i] - zj - (((zj - self._hz[k]) * f) >> 8)
        jerk += d if d >= 0 else -d
        return jerk

    @micropython.native
    def _set_dt(self, dt_us):
        """The interval since the last sample changed: a sample lost, jitter, a new rate."""
        self._dt = dt_us
        dt = dt_us if dt_us < _DT_MAX else _DT_MAX
        if dt < 1:
            dt = 1
        self._scale = (dt << 14) // 16400  # counts * dt_us / 16.4 / 1000 = mdeg

    @micropython.native
    def _spaced(self):
        """Is the last interval the rate's? Within a quarter of it, yes: that is timestamp
        jitter (a logger's timer, a host's latency), while a lost sample doubles the interval.
        ``_even`` counts the samples since one was not (up to _EVEN_MAX), or, below zero, the
        intervals off the rate in a row: _EVEN_MAX of those are a new rate, not lost samples."""
        dt = self._dt
        p = self._period
        n = self._even
        if -(p >> 2) <= dt - p <= p >> 2:
            if n < 0:
                n = 1
            elif n < _EVEN_MAX:  # (jitter calls this at every sample: the count stays small)
                n += 1
        elif n > 0:
            n = 0
        else:
            n -= 1
            if n <= -_EVEN_MAX:
                self._set_rate(dt)
                n = 1
        self._even = n

    def _set_rate(self, period_us):
        """The jerk's span and the impact thresholds' memory follow the sample rate (not a
        lone long interval: a lost sample must not change how the jerk is measured)."""
        if period_us < 1:
            period_us = 1
        self._period = period_us
        dt = period_us if period_us < _DT_MAX else _DT_MAX
        lag = (_JERK_SPAN + (dt >> 1)) // dt
        self._jlag = 1 if lag < 1 else (_JRING if lag > _JRING else lag)
        # The part of the acceleration a jolt must change by, in quarters: a fifth within
        # 5 ms, more over a longer span (two fifths over 10 ms at 100 Hz), never less.
        q = (_JOLT_PART * _JERK_SPAN) // (dt * self._jlag)
        self._jolt_q = 1 if q < 1 else (_JOLT_PART if q > _JOLT_PART else q)
        # The impact thresholds follow the swing's jerk with a ~40 ms memory whatever the
        # rate: 2**shift samples, the power of two nearest to 40 ms.
        n = _LEVEL_US // dt
        s = 0
        while (2 << s) <= n:
            s += 1
        if n * 2 >= 3 << s:
            s += 1
        self._lshift = s

    def _gap(self):
        """Samples were lost: the stride under way cannot be trusted (the bout goes on: a
        footfall held for confirmation stays held). If the push-off went into the hole, the
        foot comes back in the air: its next toe-up turn is a swing, timed from here. A
        running landing waiting for a stronger jolt (``_held_ic``) is taken: none can be
        seen now. Its step goes out at once, with no contact time or strike angle."""
        if self._state == _S_TERMINAL and self._held_ic:
            self._take_held()
        if self._state == _S_STANCE:
            self._end_stance(-1)
        if self._state != _S_IDLE and self._push_min >= -_W_PUSH:
            self._push_min = -_W_PUSH - 1
            self._push_t = self.now
        self._state = _S_IDLE
        self._ic_n = 0
        self._loud = False
        self._half = False
        self._seg_n = _UNSEEN
        self._land_ok = False
        self._blind = 0
        self._hn = 1

    def _hole(self):
        """A hole of 50-100 ms in the samples while the foot is in the air (bursts lost at
        100 Hz): the swing goes on, but no impact is read across the hole (the swing's own
        acceleration changes by several g in that time). If the foot landed in the hole, the
        foot-flat and push-off after it tell (_terminal)."""
        if self._held_ic:
            self._take_held()
            return
        self._blind = (self._jlag << 1) + 1

    def _take_held(self):
        """The running landing on hold (``_held_ic``) was the landing: it goes out."""
        self._held_ic = False
        self._contact(self._held_t, self._held_ang)

    # ------------------------------------------------------------------ learning
    def _reset_block(self):
        self._blk_n = 0
        self._bsx = 0
        self._bsy = 0
        self._bsz = 0
        self._bax = 0
        self._bay = 0
        self._baz = 0

    @micropython.native
    def _still_block(self, n):
        """End of a ~256 ms block: if the foot was still through it, its mean gyro is bias.

        Still means: the mean acceleration equals the previous block's (gravity did not
        turn in the sensor frame), |a| is 1 g, and the mean gyro equals the previous
        block's within 4 deg/s (a standing runner sways a little). A slow deliberate
        rotation fails the first test; a steady rate is the bias.
        """
        mx = self._bsx * 16 // n  # Q4 means
        my = self._bsy * 16 // n
        mz = self._bsz * 16 // n
        ax = self._bax // n
        ay = self._bay // n
        az = self._baz // n
        self._reset_block()
        da = _l1(ax - self._b0x, ay - self._b0y, az - self._b0z)
        dg = _l1(mx - self._pmx, my - self._pmy, mz - self._pmz)
        self._b0x = ax
        self._b0y = ay
        self._b0z = az
        self._pmx = mx
        self._pmy = my
        self._pmz = mz
        if da > _STILL_DA or dg > _STILL_DG:
            return
        if not (-_BIAS_MAX < mx < _BIAS_MAX and -_BIAS_MAX < my < _BIAS_MAX and -_BIAS_MAX < mz < _BIAS_MAX):
            return
        if self._at_rest(ax, ay, az):  # |a| near 1 g (allowing accel bias)
            self._bx = mx
            self._by = my
            self._bz = mz
            self.still = True
            self._flat_turn(ax, ay, az)
            teach = self._teach
            x = ax >> 2
            y = ay >> 2
            z = az >> 2
            norm = _isqrt(x * x + y * y + z * z)  # (at rest: ~512)
            teach[7] = x * _Q13 // norm
            teach[8] = y * _Q13 // norm
            teach[9] = z * _Q13 // norm
            if self.oriented and self._axis_tilted(ax, ay, az):
                self._relearn(0)  # at rest: the next burst is seen whole

    @micropython.native
    def _axis_tilted(self, ax, ay, az):
        """Standing still, is the learned pitch axis more than 35 deg from horizontal? The
        foot's own pitch axis is level whether it stands flat or on its toes; one that
        points that far up or down means the pod was clipped on again, another way."""
        d = (self._mx * ax + self._my * ay + self._mz * az) >> 13  # counts; |a| ~ 2048 here
        x = ax >> 3
        y = ay >> 3
        z = az >> 3
        return 3 * ((d >> 3) * (d >> 3)) > x * x + y * y + z * z  # cos > 0.577

    @micropython.native
    def _relearn(self, seg_n):
        """Forget the orientation: the next strides teach it again (and their history is
        processed again once they have, as at the start). ``seg_n``: 0 at rest, else
        _UNSEEN (the burst under way is not seen whole)."""
        self._rebase()  # the angle, the segment and the stride machine start afresh
        self.oriented = False
        teach = self._teach
        teach[0] = 0
        teach[1] = 0
        teach[2] = 0
        teach[3] = 0
        if seg_n:  # clipped on again in motion: the vertical it stood at is gone too
            teach[7] = 0
            teach[8] = 0
            teach[9] = 0
        self._mx = 0
        self._my = 0
        self._mz = 0
        self._ax = 0
        self._ay = 0
        self._az = 0
        self._sign_votes = 0
        self._wb = 0
        self._prev_ms_ok = False
        self._seg_n = seg_n
        self._land_ok = False

    @micropython.native
    def _learn_axis(self, gx, gy, gz, dt_us):
        """Fast rotation: add the sign-aligned gyro vector to the axis accumulator.

        Once the axis is known, only rotations within ~30 deg of it teach it more, so a
        turn (the foot yawing) or a stumble cannot drag it away.
        """
        ax = self._ax
        ay = self._ay
        az = self._az
        x = gx >> 4
        y = gy >> 4
        z = gz >> 4
        dot = (ax >> 4) * x + (ay >> 4) * y + (az >> 4) * z
        teach = self._teach
        if self._mx or self._my or self._mz:
            # (m . g)^2 >= 0.75 |g|^2, with m the unit axis in Q13 and g at 1/16 scale.
            p = (self._mx * x + self._my * y + self._mz * z) >> 13
            if 4 * p * p < 3 * (x * x + y * y + z * z):
                # Outside the cone. Real walks turn and roll the foot (15-30 % of the fast
                # samples, at most 0.8 s more outside than inside); far more means the pod
                # was clipped on again, turned on the laces: the axis is not the pitch axis.
                # Before any stride has oriented the engine, the axis may be a fidget's (a
                # foot rolled or shaken before the run): 0.3 s more outside will do.
                miss = teach[2] + dt_us
                teach[2] = miss
                if teach[3] < _TURN_US:
                    # Within 45 deg of the vertical (as it was at foot-flat): the foot swivels.
                    x = gx >> 6
                    y = gy >> 6
                    z = gz >> 6
                    p = (teach[4] * x + teach[5] * y + teach[6] * z) >> 5  # 1 g >> 6 = 32
                    if p * p > (x * x + y * y + z * z) >> 1:
                        teach[3] += dt_us
                if miss > _AXIS_LOST_US or (miss > _AXIS_DOUBT_US and not self.oriented):
                    self._relearn(_UNSEEN)
                return
            if teach[2]:
                miss = teach[2] - dt_us
                teach[2] = miss if miss > 0 else 0
        ux = teach[7]
        uy = teach[8]
        uz = teach[9]
        if ux or uy or uz:
            # Only the level part teaches (about an axis square to the vertical the foot
            # last stood still at): the pitch axis is level, and the swivel of turning steps
            # would otherwise tilt it, a little each time, until the walk itself is off it.
            p = (ux * gx + uy * gy + uz * gz) >> 13
            gx -= (ux * p) >> 13
            gy -= (uy * p) >> 13
            gz -= (uz * p) >> 13
            dot = (ax >> 4) * (gx >> 4) + (ay >> 4) * (gy >> 4) + (az >> 4) * (gz >> 4)
        if dot < 0:
            gx = -gx
            gy = -gy
            gz = -gz
        # Decaying mean over ~32 fast samples; values stay within +-2**16.
        self._ax = ax + ((gx - ax) >> 5)
        self._ay = ay + ((gy - ay) >> 5)
        self._az = az + ((gz - az) >> 5)
        n = (teach[0] + 1) & 0xFFFF  # (only n & 7 matters: it stays a small int)
        teach[0] = n
        if teach[1] < _AXIS_US:
            us = teach[1] + dt_us
            teach[1] = us
            if us >= _AXIS_US:
                self._normalise_axis()
        elif n & 7 == 0:
            self._normalise_axis()

    @micropython.native
    def _normalise_axis(self):
        # Quarter scale keeps the squares below 2**30 (|a| <= 32768 * sqrt(3)).
        ax = self._ax >> 2
        ay = self._ay >> 2
        az = self._az >> 2
        norm = _isqrt(ax * ax + ay * ay + az * az)
        if norm < (_E_QUIET >> 2):
            return
        # Keep the sign already learned (the accumulator's own sign is arbitrary).
        sign = -1 if (self._mx * ax + self._my * ay + self._mz * az) < 0 else 1
        self._mx = sign * ax * _Q13 // norm
        self._my = sign * ay * _Q13 // norm
        self._mz = sign * az * _Q13 // norm

    @micropython.native
    def _grounded(self, ax, ay, az):
        """A quiet moment, |a| near 1 g: is it on the ground? In the air a swinging foot can
        pass through such a moment too (just after toe-off, its toes down 60-80 deg from
        flat): there the accelerometer points more than 40 deg from the vertical the foot
        last stood still at (hills and standing on the toes stay well within), and it
        comes after the push-off, the foot 15 deg toe-down from foot-flat: either is the
        air (a runner who never stood still has no vertical, and its reversals voted the
        sign wrong). True when neither tells."""
        if self._state == _S_STANCE and self._push_min < -_W_PUSH_FAST and self._ang < self._ms_ang - _AIR_TURN:
            return False
        teach = self._teach
        ux = teach[7]
        uy = teach[8]
        uz = teach[9]
        if not (ux or uy or uz):
            return True
        x = ax >> 6
        y = ay >> 6
        z = az >> 6
        p = (ux * x + uy * y + uz * z) >> 13  # |a| cos, the vertical a Q13 unit vector
        if p <= 0:
            return False
        # cos > 0.766 (40 deg): p^2 > 0.587 |a|^2; 0.587 ~ 75 / 128.
        return (p * p) << 7 > 75 * (x * x + y * y + z * z)

    @micropython.native
    def _at_rest(self, ax, ay, az):
        """|a| within 30 % of 1 g: the foot is not accelerating (on the ground)."""
        x = ax >> 3
        y = ay >> 3
        z = az >> 3
        a2 = x * x + y * y + z * z - _ACC1G_SQ
        return -_ACC_QUIET_SQ < a2 < _ACC_QUIET_SQ

    @micropython.native
    def _bootstrap(self, e, ax, ay, az):
        """Not oriented yet: find a stride-like burst between quiet moments; once one is
        seen and the axis is known, integrate that burst from the history along the axis
        (as learned by its end) to learn the sign, then run the stride machine over the
        history so the first footfalls count too.

        A burst longer than the history (a run started without a pause, or at high rates
        a long walking stride) is judged when the rest it began at is about to leave the
        history, from that rest; if it turned the foot too little by then, at its end by
        the whole history, its excursions measured from where the foot rests there. (It
        was integrated live, along the axis as it was being learned: over a run's first
        seconds that drifted, and with a 20 deg/s gyro offset taught a wrong sign the next
        strides then took 3 s to overturn.)"""
        if e > _E_LOUD:
            self._loud = True
        elif e < _E_QUIET and self._at_rest(ax, ay, az):
            whole = True
            if self._loud:
                self._loud = False
                n = self._seg_n
                if n < 0:
                    pass  # no rest before it (the samples began, or came back, mid-stride):
                    # half a burst, its push-off perhaps unseen, is no evidence of the sign
                elif self._teach[1] >= _AXIS_US:
                    if n < self._hn - 2:
                        self._excursions(n + 2, False, 0)
                        whole = self._whole(self._ex_net, self._ex_up, self._ex_down)
                        ok = whole and self._vote(self._ex_up, self._ex_down, _FIRST_VOTE_MIN)
                    else:
                        ok = self._vote_history(self._hn, True, _FIRST_VOTE_MIN)
                    if ok:
                        self.oriented = True
                        self._replay_history()
                        return
            elif self._half:
                whole = self._half_over()
            if whole:
                self._seg_n = 0
                return
        # Counted from the last rest: a slow heel rise, under the loud threshold, is the
        # burst's too (without it the first push-off looks small).
        n = self._seg_n + 1
        self._seg_n = n
        if n == self._hmask and self._hn > n and self._loud and self._teach[1] >= _AXIS_US:
            # The rest it began at is about to leave the history and the foot has not been
            # at rest since: a fast run's stances need not go quiet. Judge it from there, by
            # 50 deg: a run's push-offs turn the foot 50-120 deg from where it stood, a foot
            # shaken in the air up to 47 from a quiet moment at one end of its swing.
            if self._vote_history(n + 1, False, _LONG_VOTE_MIN):
                self.oriented = True
                self._replay_history()
        elif n < 0 and n & 63 == 0 and self._loud and self._teach[1] >= _AXIS_US:
            # No rest seen at all: the samples began (or came back) mid-run, and a fast
            # run's stances need not go quiet. Once there are 1.5 s of it (or a full
            # history: 1 s at 1 kHz), judge it from two landings instead (again every 64
            # samples, until they will do).
            k = n - _UNSEEN
            if k > self._hn:
                k = self._hn
            if (k > self._hmask or k >= _NO_REST_US // self._period) and self._vote_landing(k):
                self.oriented = True
                self._replay_history()

    @micropython.native
    def _vote_landing(self, n):
        """Vote on the axis sign from the last n samples, from two landings a stride apart:
        the strongest jolt among them at least 0.5 s before the end (2 g within ~5 ms at
        least), and the strongest 0.4 s or more from that one. In the 0.5 s after a landing
        a run's push-off turns the foot 60-110 deg toe-down, and the swing back toe-up by
        10-40; after the push-off's own jolt (at 100 Hz it can be a stride's strongest) the
        swing turns it toe-up the most. So both must tell the same sign, by 50 deg each.
        Half a second keeps the drift of a gyro bias not learned yet small."""
        span = self._span(n)
        cutoff = span - _LANDING_US  # jolts up to 0.5 s before the newest sample
        ka = self._strongest_jolt(n, cutoff, -_STRIDE_APART)  # (from none)
        if ka < 0:
            return False
        ta = self._jolt_t
        kb = self._strongest_jolt(n, cutoff, ta)
        if kb < 0:
            return self._vote_alone(n, ka, ticks_add(self.now, ta - span))
        if not self._turned_after(n, kb):
            return False
        up = self._ex_up
        down = self._ex_down
        self._turn_after(n, ka)
        if (self._ex_down > self._ex_up) != (down > up):
            return False  # one of them was no landing
        return self._vote(self._ex_up, self._ex_down, _LONG_VOTE_MIN)

    @micropython.native
    def _vote_alone(self, n, k, t):
        """Only one landing fits in the history before its 0.5 s (at 1 kHz it holds 1 s:
        a stride and the half second after the second landing do not). Remember which way
        this one, at ``t``, turned the foot; vote once another, a stride from the last,
        turned it the same way."""
        if not self._turned_after(n, k):
            return False
        up = self._ex_up
        down = self._ex_down
        if self._land_ok:
            d = ticks_diff(t, self._land_t)
            if d < _STRIDE_APART:
                return False  # the same landing again: the first verdict stands
            if d <= _MAX_STRIDE and (down > up) == self._land_down:
                return self._vote(up, down, _LONG_VOTE_MIN)
        self._land_ok = True
        self._land_t = t
        self._land_down = down > up
        return False

    @micropython.native
    def _span(self, n):
        """The time (us) from the oldest of the last n samples of the history to the newest."""
        mask = self._hmask
        i = (self._hi - n + 1) & mask
        t = 0
        k = 1
        while k < n:
            t += self._hdt[(i + k) & mask]
            k += 1
        return t

    @micropython.native
    def _strongest_jolt(self, n, cutoff, away):
        """The strongest jolt (L1 change over the jerk span, 2 g at least) among the last n
        samples, up to ``cutoff`` us after the oldest and 0.4 s or more from ``away``: its
        index among them (-1: none), and its time in ``_jolt_t``."""
        mask = self._hmask
        lag = self._jlag
        i0 = (self._hi - n + 1) & mask
        best = _LANDING_JOLT
        kb = -1
        t = 0
        k = 1
        while k < n:
            i = (i0 + k) & mask
            t += self._hdt[i]
            if t > cutoff:
                break
            if k >= lag and (t - away >= _STRIDE_APART or away - t >= _STRIDE_APART):
                j = (i - lag) & mask
                d = _l1(self._hx[i] - self._hx[j], self._hy[i] - self._hy[j], self._hz[i] - self._hz[j])
                if d > best:
                    best = d
                    kb = k
                    self._jolt_t = t
            k += 1
        return kb

    @micropython.native
    def _turn_after(self, n, k):
        """The excursions (``_ex_up``, ``_ex_down``) over the 0.5 s after sample k of the
        last n samples, measured from its angle."""
        mask = self._hmask
        i0 = (self._hi - n + 1) & mask
        m = 0
        t = 0
        j = k + 1
        while j < n and t < _LANDING_US:
            t += self._hdt[(i0 + j) & mask]
            m += 1
            j += 1
        self._excursions(m, False, n - 1 - k - m)  # the m samples that end at k + m

    @micropython.native
    def _turned_after(self, n, k):
        """Did the foot turn 50 deg one way in the 0.5 s after sample k of the last n, as
        after a landing? (Its excursions are left in ``_ex_up``, ``_ex_down``.)"""
        self._turn_after(n, k)
        up = self._ex_up
        down = self._ex_down
        return (up if up > down else down) >= _LONG_VOTE_MIN

    @micropython.native
    def _vote_history(self, n, from_end, least):
        """Vote on the axis sign (_vote, by at least ``least`` mdeg) from the excursions of
        the last n samples (_excursions)."""
        self._excursions(n, from_end, 0)
        return self._vote(self._ex_up, self._ex_down, least)

    @micropython.native
    def _whole(self, net, up, down):
        """A burst between quiet moments turned the foot ``up`` and ``down`` (mdeg) and
        ended ``net`` from where it began: is it a whole stride, back within a third of its
        larger excursion? If not, it is half of one, and goes on from where it began
        (``_half``): a moment in the swing can be as quiet as one on the ground, just
        after toe-off where the foot turns from toe-down to toe-up, or before the landing,
        and half a stride, from the ground down or back up, is all one way. (From a slow
        walk's first push-off, 36 deg, the swing alone taught the wrong sign.)"""
        half = 3 * (net if net >= 0 else -net) > (up if up > down else down)
        self._half = half
        if half:
            self._half_t = self.now
        return not half

    @micropython.native
    def _half_over(self):
        """Half a stride, then a quiet moment (_whole): 40 ms of quiet is a rest. The
        foot came down elsewhere: the burst ends there after all."""
        if ticks_diff(self.now, self._half_t) > _REST_US:
            self._half = False
            return True
        return False

    @micropython.native
    def _excursions(self, n, from_end, back):
        """Integrate the n samples of the history that end ``back`` samples before the
        newest along the axis: how far the foot turned toe-up (``_ex_up``) and toe-down
        (``_ex_down``), in mdeg, from where it was before the first of them, or from_end,
        from where it is after the last."""
        mask = self._hmask
        i = (self._hi - back - n + 1) & mask
        ang = 0
        hi = 0
        lo = 0
        bx = self._bx >> 4
        by = self._by >> 4
        bz = self._bz >> 4
        mx = self._mx
        my = self._my
        mz = self._mz
        k = 0
        while k < n:
            dt = self._hdt[i]
            dt = dt if dt < _DT_MAX else _DT_MAX
            w = (mx * (self._hgx[i] - bx) + my * (self._hgy[i] - by) + mz * (self._hgz[i] - bz)) >> 13
            ang += (w * ((dt << 14) // 16400)) >> 14
            if ang > hi:
                hi = ang
            elif ang < lo:
                lo = ang
            i = (i + 1) & mask
            k += 1
        if from_end:
            hi -= ang
            lo -= ang
        self._ex_up = hi
        self._ex_down = -lo
        self._ex_net = ang

    @micropython.native
    def _vote(self, up, down, least):
        """One burst's evidence on the axis sign: push-off (toe-down) must dominate.
        0 if the burst turned the foot less than least (mdeg) either way, too little to
        tell it from a toe tap, else _KEPT or _FLIPPED."""
        if (up if up > down else down) < least:
            return 0
        v = self._sign_votes + (1 if down > up else -1)
        if v < 0:
            # Wrong sign: flip the axis (the accumulator keeps its own arbitrary sign).
            self._mx = -self._mx
            self._my = -self._my
            self._mz = -self._mz
            self._sign_votes = 1
            return _FLIPPED
        self._sign_votes = v if v < 8 else 8
        return _KEPT

    @micropython.native
    def _replay_history(self):
        """Process the samples kept in the history with the orientation just learned."""
        mask = self._hmask
        n = self._hn
        i = (self._hi - n + 1) & mask
        now_end = self.now
        self.now = ticks_add(now_end, -self._span(n))  # the clock at the oldest sample
        self._rebase()  # the angle, the segment and the stride machine start afresh
        self._even = 0  # the spacing before the oldest sample is not known
        votes = self._sign_votes
        self._sign_votes = 8  # the burst that decided the sign is in there: not evidence twice
        bx = self._bx >> 4
        by = self._by >> 4
        bz = self._bz >> 4
        gx = self._hgx[i] - bx
        gy = self._hgy[i] - by
        gz = self._hgz[i] - bz
        if _l1(gx, gy, gz) >= _E_QUIET or not self._at_rest(self._hx[i], self._hy[i], self._hz[i]):
            # The foot moves as the history begins: joining a run (or a walk) mid-stride, it
            # may be in the air, its push-off unseen. Start in the swing, cold (_on_ground).
            self._start_swing(self.now, 0)
            self._cold = True
            self._cold_lo = 0
            self._cold_hi = 0
            self._cold_still = False
        self._blind = (self._jlag << 1) + 1  # no jerk spans the history's start either
        k = 0
        while k < n:
            if k:
                dt = self._hdt[i]
                self.now = ticks_add(self.now, dt)
                if dt != self._dt:
                    self._set_dt(dt)
                    self._spaced()
                elif self._even < _EVEN_MAX:
                    self._spaced()
            gx = self._hgx[i] - bx
            gy = self._hgy[i] - by
            gz = self._hgz[i] - bz
            e = (gx if gx >= 0 else -gx) + (gy if gy >= 0 else -gy) + (gz if gz >= 0 else -gz)
            self._process(self._hx[i], self._hy[i], self._hz[i], gx, gy, gz, e, i)
            i = (i + 1) & mask
            k += 1
        self.now = now_end
        self._sign_votes = votes

    def _overturned(self):
        """The axis sign was overturned while oriented: the strides seen with the wrong
        one are in the history (this sample too), processed again with the right one.
        What they make is a new bout (its first footfall held until a second confirms
        it), and no footfall goes out twice (_out_t), however often the sign turns. (After
        toe taps, which teach an arbitrary sign, a run's first two strides were lost; and a
        stance under way was dropped although its footfall had gone out.)"""
        self._rebase()  # the stance under way ends here, a step all the same
        self._wb = -self._wb  # the bias along the axis turns with it
        self._prev_ms_ok = False  # the last foot-flat's angle was the wrong way up
        if self._hold[0]:
            self._drop_held()  # a bout's first footfall, seen the wrong way up: it goes
        self._have_ic = False
        self._ic_n = 0
        self._replay_history()

    @micropython.native
    def _segment(self, e, ax, ay, az):
        """Oriented: keep checking the axis sign on every burst between quiet moments.
        True if this sample's vote overturned it."""
        ang = self._ang
        if e > _E_LOUD:
            if ang > _ANG_LIMIT or ang < -_ANG_LIMIT:
                self._rebase()
                return
            self._loud = True
        if ang > self._seg_max:
            self._seg_max = ang
        elif ang < self._seg_min:
            self._seg_min = ang
        if e >= _E_QUIET or not self._at_rest(ax, ay, az) or not self._grounded(ax, ay, az):
            return
        flip = False
        if self._loud:
            self._loud = False
            up = self._seg_max - self._seg_ang
            down = self._seg_ang - self._seg_min
            # Only a whole stride is evidence (_whole), and one that turned the foot a
            # push-off's 45 deg at least (a toe tap turns it 20-30 deg and back, the wrong
            # way for one).
            if not self._whole(ang - self._seg_ang, up, down):
                return  # half a stride: it goes on from where it began
            flip = self._vote(up, down, _VOTE_MIN) == _FLIPPED
        elif self._half and not self._half_over():
            return
        self._seg_ang = ang
        self._seg_max = ang
        self._seg_min = ang
        return flip

    @micropython.native
    def _rebase(self):
        """Start the angle, the segment and the stride machine afresh: the angle integral
        ran far (a spinning sensor), the orientation is learned again, or the history is
        processed again with it. A stance under way ends here, a step all the same (its
        footfall went out)."""
        if self._state == _S_STANCE:
            self._end_stance(-1)
        self._ang = 0
        self._seg_ang = 0
        self._seg_max = 0
        self._seg_min = 0
        self._loud = False
        self._half = False
        self._state = _S_IDLE
        self._push_min = 0  # a push-off seen before (in a replay: after) is not this one's

    # ------------------------------------------------------------------ states
    @micropython.native
    def _idle(self, w, e):
        """Waiting for a swing: the push-off (toe-down) then toe-up rotation."""
        self._cold = False  # (a swing the history began in is over)
        if w < self._push_min:
            self._push_min = w
            self._push_t = self.now
        elif w > _W_SWING and self._push_min < -_W_PUSH:
            # From standing, the swing is timed from the push-off's peak toe-down rate, not
            # from this toe-up turn (as after a stance): a first push-off is slow, and the
            # foot may turn toe-down for 150 ms more after it left the ground, which would
            # leave the swing too little time for _MIN_SWING.
            self._start_swing(self._push_t, self._ang)
        elif self._push_min and ticks_diff(self.now, self._push_t) > _PUSH_STALE:
            self._push_min = 0
        if e < _E_QUIET:
            self._teach[3] = 0  # the foot is still: a turning step starts afresh

    @micropython.native
    def _flat_turn(self, ax, ay, az):
        """The foot is flat, or standing still: a turning step is counted from here, about
        the vertical as the accelerometer shows it now."""
        teach = self._teach
        teach[3] = 0
        teach[4] = ax >> 6
        teach[5] = ay >> 6
        teach[6] = az >> 6

    @micropython.native
    def _start_swing(self, t, ang):
        """The swing started at ``t``, the foot at ``ang`` (the lowest it has been since)."""
        self._state = _S_SWING
        self._jerk_level = _JERK_MIN
        self._bend_level = _JERK_MIN
        self._t_state = t
        self._w_peak = 0
        self._ang_min = ang
        self._ang_max = self._ang
        self._push_min = 0
        self._resting = False

    @micropython.native
    def _rested(self, e, at_rest, ax, ay, az):
        """Has the foot been at rest for 40 ms, gravity steady (|a| near 1 g alone is not
        enough: a slow swing can sweep through it)? ``at_rest``: |a| is near 1 g now."""
        if e >= _E_QUIET or not at_rest:
            self._resting = False
            return False
        dx = ax - self._rax
        dy = ay - self._ray
        dz = az - self._raz
        moved = (dx if dx >= 0 else -dx) + (dy if dy >= 0 else -dy) + (dz if dz >= 0 else -dz) > _REST_DA
        if not self._resting or moved:
            self._resting = True
            self._rest_t = self.now
            self._rax = ax
            self._ray = ay
            self._raz = az
            return False
        return ticks_diff(self.now, self._rest_t) > _REST_US

    @micropython.native
    def _on_ground(self, w, ax, ay, az):
        """Joined mid-stride (_cold): is the foot on the ground after all? It is if it turns
        toe-down fast with no heel touching down first (a push-off, or the slap after a heel
        strike before the history), or 40 deg toe-down since one did (a push-off), or it
        holds its pitch at 1 g for 30 ms (rolling, maybe, but standing on the foot). Then
        the stride machine takes it from here, in its idle state."""
        ang = self._ang
        if ang < self._cold_lo:
            self._cold_lo = ang
        elif ang > self._cold_hi:
            self._cold_hi = ang
        if self._zc_ok:
            turned = self._zc_ang - ang  # toe-down since the toe-up turn reversed
            if turned >= _FLAT_LOCK and w < -_W_PUSH_FAST:
                self._stood(w)
                return True
            if turned >= _SLAP_TURN:
                return False  # a heel touched down at the reversal; the foot rolls onto it
        elif w < -_W_PUSH_FAST:
            self._stood(w)
            return True
        if -_W_ZC_ARM < w < _W_ZC_ARM and self._at_rest(ax, ay, az):
            if not self._cold_still:
                self._cold_still = True
                self._cold_t = self.now
            elif ticks_diff(self.now, self._cold_t) >= _COLD_STILL:
                self._stood(0)
                return True
        else:
            self._cold_still = False
        return False

    def _stood(self, w):
        """The history began on the ground (_on_ground): idle, a push-off under way if the
        foot turns toe-down at ``w``."""
        self._cold = False
        self._state = _S_IDLE
        self._push_min = w
        self._push_t = self.now

    @micropython.native
    def _swing(self, w, e, ax, ay, az):
        if self._cold and self._on_ground(w, ax, ay, az):
            return
        if self._rested(e, e < _E_QUIET and self._at_rest(ax, ay, az), ax, ay, az):
            # Back on the ground before the swing peaked: that was no swing (a foot shifted
            # while standing, too slowly to be a step). Waiting for its landing would miss
            # the real push-off and swing that follow.
            self._state = _S_IDLE
            return
        ang = self._ang
        if ang < self._ang_min:
            self._ang_min = ang
        if w > self._w_peak:
            self._w_peak = w
        elif (self._w_peak > _W_PEAK_MIN or self._teach[3] >= _TURN_US or self._cold) and w < (self._w_peak >> 1):
            # (Joined mid-swing, the peak may have gone before: any will do.)
            self._state = _S_TERMINAL
            self._held_ic = False
            self._ang_max = ang
            self._zc_ok = False
            self._zc_arm = False
            self._resting = False
            self._wj_level = _WJERK_MIN >> 1
            self._brake = 0
            self._tf_lim = _NO_LIM
        if ticks_diff(self.now, self._t_state) > _MAX_SWING:
            self._state = _S_IDLE

    @micropython.native
    def _terminal(self, w, e, jerk, ax, ay, az):
        if self._cold and self._on_ground(w, ax, ay, az):
            return
        now = self.now
        ang = self._ang
        if self._held_ic and ticks_diff(now, self._held_t) > _HELD_US:
            self._take_held()  # no stronger jolt followed: the landing was the one on hold
            return
        if ang > self._ang_max:
            self._ang_max = ang
        if w > self._w_peak and not self._held_ic:
            # Toe-up faster than at the swing's peak: that was not its peak, the swing goes
            # on (a foot can turn toe-up a little just after toe-off, slow down, and only
            # then swing through; in the swing itself it can jolt the pod as a landing does).
            self._state = _S_SWING
            return
        # Heel strike: a real toe-up rotation (not noise around zero) reverses.
        if w > _W_ZC_ARM:
            self._zc_arm = True
        elif w <= 0 and self._zc_arm:
            self._zc_arm = False
            # The rate crossed zero between the last sample and this one: where, by linear
            # interpolation (taking this sample put IC half an interval late on average,
            # 5 ms at 100 Hz, against 1 ms at 400 Hz).
            wp = self._w_prev
            back = 0
            if wp > 0:
                dt = self._dt if self._dt < _DT_MAX else _DT_MAX
                back = (dt * (((-w) << 8) // (wp - w))) >> 8
            self._zc_t = ticks_add(now, -back)
            self._zc_ang = ang
            self._zc_ok = True
            self._zc_n = 0
            self._zc_hard = 0
        x = ax >> 3
        y = ay >> 3
        z = az >> 3
        a2 = x * x + y * y + z * z
        hard = a2 > _ACC_HARD_SQ
        if self._zc_ok:
            # Since the reversal: how many samples braked harder than 2.5 g (_heel_first).
            self._zc_n += 1
            if hard:
                self._zc_hard += 1
        # The end of the swing's braking (a landing the impact detector may not see).
        if hard:
            self._brake = _BRAKING
        elif self._brake == _BRAKING:
            self._brake = _CALM
            self._calm_t = now
            self._calm_ang = ang
        if ang < self._tf_lim:
            # The foot was flat, and now turns 40 deg toe-down: a push-off, so it landed
            # without an impact seen (at 100 Hz the sensor's filter can hide it in the
            # swing's own braking, up to 12 g in fast running).
            self._landed_before(w)
            return
        # Impact: the accelerometer jumps, or the pitch rate does (the ground stops the
        # foot and it pivots about the contact: soft forefoot landings ring too little to
        # see in the accelerometer at 100 Hz, but never fail to turn the foot).
        level = self._jerk_level
        thr = level + level + level
        if thr < _JERK_MIN:
            thr = _JERK_MIN
        # Only a sudden toe-up turn counts: the heel dropping onto the ground after the
        # forefoot landed. (The swing itself only ever slows its toe-up rotation here.)
        wr = self._wr
        i = self._wi + 1
        lag = self._jlag
        w_lag = wr[(i - lag) & (_WRING - 1)]  # the pitch rate a jerk span back
        wj = w - w_lag
        if wj < 0:
            wj = 0
        wlevel = self._wj_level
        wthr = wlevel << 2
        if wthr < _WJERK_MIN:
            wthr = _WJERK_MIN
        bend = self._bend
        blevel = self._bend_level
        bthr = blevel + blevel + blevel
        if bthr < _BEND_MIN:
            bthr = _BEND_MIN
        # A jolt must also be large against the acceleration the foot already had: braking
        # hard in late swing (8-10 g at speed), a foot changes by 1.5 g within 5 ms on its
        # own where its rotation turns from toe-up to toe-down, some 60 ms before it lands.
        jolt = jerk > thr and jerk * self._jolt_q > self._l1_back() << 2
        # A bend counts only while the accelerometer is still changing: the ground jolts it,
        # while a swing that merely stops decelerating bends as much and then goes flat.
        shown = wj > wthr or (bend > bthr and jerk * 3 > bend)  # more than the jolt shows it
        if w > _W_SWING and w * 3 > self._w_peak and not self._zc_ok:
            # Still turning toe-up at over 100 deg/s and a third of the swing's peak, not yet
            # reversed: the leg braking the swing can jolt the pod as hard as a landing, up
            # to 150 ms before it, and leave the rotation smooth (its kink: up to 30 deg/s).
            # A foot touching down on its toes while still turning toe-up kinks it (a real
            # walk: 150 deg/s); every other landing before a reversal came at 26 % of the
            # peak at most.
            kink = w - w_lag - w_lag + wr[(i - lag - lag) & (_WRING - 1)]
            if -_WJERK_MIN <= kink <= _WJERK_MIN:
                jolt = False
                shown = False
        if self._blind:  # the jerk spans a hole in the air (_hole)
            jolt = False
            shown = False
        if self._held_ic:
            if shown or jerk >= self._held_jerk << 1:
                self._held_ic = False  # this is the landing, not the jolt on hold
            else:
                jolt = False
        if jolt or shown:
            if self._pushing_off(now, ang, w):
                self._landed_before(w)  # the landing was at that foot-flat: this is later
                return
            span = self._dt * self._jlag  # the jerk's span, us
            if self._zc_ok and self._heel_first(now):
                ic_t = self._zc_t
                ic_ang = self._zc_ang
            else:
                # Impact onset: the change began about half a jerk span ago.
                ic_t = ticks_add(now, -(span >> 1))
                ic_ang = ang - ((((w * self._scale) >> 14) * self._jlag) >> 1)
            # A bend shows the ground only if the acceleration changed by half of what it was:
            # braking at 7 g, a foot turning toe-down bends it as much, in the air, and not
            # only at the reversal (a forefoot runner's, 20-45 ms after it).
            weak = shown and wj <= wthr and jerk + jerk < self._l1_back()
            if weak:
                shown = False
            near = self._zc_ok and ticks_diff(now, self._zc_t) <= (span if span > _HOLD_AFTER else _HOLD_AFTER)
            hold = self.activity == RUN and self._even > self._jlag << 1 and not shown and (near or weak)
            if not hold:
                self._contact(ic_t, ic_ang)
                return
            # Running, a weak bend (wherever it comes), or a jolt only the accelerometer
            # shows within 15 ms of the reversal (or a jerk span): the heel landing, or the
            # reversal itself, in the air (its angular acceleration jolts the pod too, up to
            # 60 ms before the landing, whose jolt can show 15 ms after it; and a gyro bias
            # of 3 deg/s moves the reversal by a sample at 200 Hz). On hold: a jolt twice as
            # strong within 80 ms, or one the gyro or a bend shows, is the landing (a weak
            # bend is held afresh), otherwise this was (top of _terminal; _gap).
            # Not across lost samples: a landing's jolt measured across them reads weak.
            self._held_ic = True
            self._held_t = ic_t
            self._held_ang = ic_ang
            self._held_jerk = jerk
        if not self._blind:
            self._wj_level = wlevel + ((wj - wlevel) >> self._lshift)
            self._jerk_level = level + ((jerk - level) >> self._lshift)
            self._bend_level = blevel + ((bend - blevel) >> self._lshift)
        a2 -= _ACC1G_SQ
        at_rest = -_ACC_QUIET_SQ < a2 < _ACC_QUIET_SQ  # as _at_rest: near 1 g
        if at_rest and -_E_QUIET < w < _E_QUIET and self._brake == _CALM:
            # Foot-flat after the braking ended: the landing was at the heel's reversal
            # if that came with the end of the braking, otherwise at the end itself.
            self._tf_lim = ang - _FLAT_LOCK
            self._tf_ang = ang
            self._tf_t = now
            if self._zc_ok and ticks_diff(self._zc_t, self._calm_t) >= -_ZC_WINDOW:
                self._tf_ic = self._zc_t
                self._tf_ic_ang = self._zc_ang
            else:
                self._tf_ic = self._calm_t
                self._tf_ic_ang = self._calm_ang
        if self._rested(e, at_rest, ax, ay, az):
            # A soft landing that never rang: at the heel's reversal if there was one.
            # Joined mid-stride, only if the foot rolled down onto that heel since: else it
            # was on the ground when the history began.
            heel = self._zc_ok and ticks_diff(self._rest_t, self._zc_t) < _ZC_REST
            if self._cold and not (heel and self._zc_ang - ang >= _SLAP_TURN):
                self._stood(0)
            elif heel:
                self._contact(self._zc_t, self._zc_ang)
            else:
                self._contact(self._rest_t, ang)
            return
        if ticks_diff(now, self._t_state) > _MAX_SWING:
            self._state = _S_IDLE

    def _l1_back(self):
        """|a| (L1, counts) of the sample a jerk span back: what the jerk changed from."""
        j = (self._hi - self._jlag) & self._hmask
        return _l1(self._hx[j], self._hy[j], self._hz[j])

    @micropython.native
    def _landed_before(self, w):
        """The landing the foot-flat in terminal swing implied: a stance, already at foot-flat."""
        self._contact(self._tf_ic, self._tf_ic_ang)
        self._ms_ok = True
        self._ms_ang = self._tf_ang
        self._ms_t = self._tf_t
        self._e_min = 0  # this foot-flat stays: the push-off is under way
        self._push_min = w
        self._push_t = self.now

    @micropython.native
    def _pushing_off(self, now, ang, w):
        """Is this jolt the push-off of a foot that landed unseen, at the foot-flat of
        terminal swing (``_tf_*``; none seen yet: no)?

        At 100 Hz a landing can ring less than the swing's braking before it, and the next
        jolt is the push-off's. Yes if that foot-flat was level with the last stance's
        (a toe-up one is the heel down and the forefoot still to come), came at most
        150 ms ago, and the foot has since turned 5 deg toe-down and still does at more
        than 200 deg/s: a foot about to land plantarflexes far slower."""
        if self._tf_lim == _NO_LIM or not self._prev_ms_ok or ticks_diff(now, self._tf_t) > _PUSH_SOON:
            return False
        level = self._tf_ang - self._prev_ms_ang
        return -_HEEL_UP < level < _HEEL_UP and ang < self._tf_ang - _PUSH_TURN and w < -_W_PUSH_FAST

    @micropython.native
    def _heel_first(self, now):
        """Was the last toe-up reversal the heel touching down, before this impact?

        Running: only within 8 ms. A runner's heel takes the body's weight as it touches,
        so its touch is the impact; a reversal longer before it happened in the air (the leg
        swings back just before landing and turns the foot toe-down with it). Otherwise,
        within 40 ms: yes. Walking, the forefoot may slap down up to 150 ms after the heel
        touched: then only if the foot was toe-up at the reversal (against the last
        foot-flat, with the drift observer keeping that reference level), is back within
        10 deg of flat at the impact, has turned at least 12 deg toe-down since the
        reversal, and has not been braking hard since. A slap is the forefoot coming down
        flat after rolling over the heel (the real walk's: from 24 deg toe-up to 7 deg); a
        foot still 13-24 deg toe-up, or one that turned only a few degrees since, is landing
        on its heel now, after a toe-up peak in the air (as a walker's foot may turn
        toe-down 50-100 ms before the heel touches). Once the heel is down the
        foot only rolls over it (real walks: |a| mostly under 2.3 g, above 2.5 g at most
        35 % of the time); a flat-footed walker's foot that turned back in the air is still
        shedding its swing speed, above 2.5 g most of the time."""
        since = ticks_diff(now, self._zc_t)
        if self.activity == RUN:
            return since <= _ZC_RUN
        if since <= _ZC_WINDOW:
            return True
        if since > _ZC_WALK or not self._prev_ms_ok:
            return False
        if self._ang - self._prev_ms_ang > _SLAP_UP:
            return False  # still toe-up: this impact is the heel's, the reversal was in the air
        if self._zc_ang - self._ang < _SLAP_TURN:
            return False  # barely turned since: the same
        if self._zc_hard << 1 > self._zc_n:
            return False
        return self._zc_ang - self._prev_ms_ang > _HEEL_UP

    @micropython.native
    def _contact(self, ic_t, ic_ang):
        """Initial contact at ``ic_t``: publish it if it ends a real stride."""
        excursion = self._ang_max - self._ang_min
        teach = self._teach
        if teach[3] >= _TURN_US:
            # A turning step (the foot pivoted while it was up) pitches the foot less.
            valid = excursion > _TURN_EXCURSION
        else:
            valid = self._w_peak > _W_PEAK_MIN and excursion > _EXCURSION_MIN
        teach[3] = 0
        if self._cold:
            # Joined mid-swing: its start, peak and most of its excursion came before the
            # history. In the air the foot turns; standing, or rolling on it, hardly.
            self._cold = False
            valid = ticks_diff(ic_t, self._t_state) >= _COLD_SWING and self._cold_hi - self._cold_lo > _COLD_TURN
        elif ticks_diff(ic_t, self._t_state) < _MIN_SWING:
            valid = False
        self._state = _S_STANCE
        self._t_state = ic_t
        self._impact_t = self.now
        self._ic_ang = ic_ang
        self._ms_ok = False
        self._e_min = 0x3FFFFFFF
        self._push_min = 0
        first = not self._have_ic  # no footfall in the last 2.5 s: a bout starts
        if self._out_ok and ticks_diff(ic_t, self._out_t) < _MIN_STRIDE:
            valid = False  # out already, before the sign was overturned (perhaps twice)
        if valid and not first:
            stride = ticks_diff(ic_t, self._last_ic)
            if stride < _MIN_STRIDE:
                valid = False  # too soon after the last footfall: not a new one
            elif stride > _MAX_STRIDE:
                self._ic_n = 0
                first = True
        self._valid = valid
        if not valid:
            if excursion < _EXCURSION_MIN >> 1:
                # The foot barely turned: that was no swing, and this is no landing. Wait for
                # a push-off and swing afresh: a stance here could lock the machine half a
                # stride out of step (joining a run mid-stride, a forefoot landing's heel
                # drop taken for a swing, and its toe-off for a landing, stride after stride).
                self._state = _S_IDLE
            return
        hold = self._hold
        if first:  # the first footfall of a bout: held until a second one follows
            if hold[0]:
                self._drop_held()
            hold[0] = 1
            hold[2] = self.activity
        else:
            if hold[0]:  # the second: the bout is gait, its first stride goes out too
                self._qn += hold[1]
                hold[0] = 0
                hold[1] = 0
            self._out_ok = True
            self._out_t = ic_t
        self._have_ic = True
        self._last_ic = ic_t
        self.steps += 1
        ics = self._ics
        i = 0
        while i < _CAD_N:
            ics[i] = ics[i + 1]
            i += 1
        ics[_CAD_N] = ic_t
        n = self._ic_n + 1
        if n > _CAD_N + 1:
            n = _CAD_N + 1
        self._ic_n = n
        stride_ms = 0
        cadence = 0
        if n > 1:
            k = n - 1
            span = ticks_diff(ic_t, ics[_CAD_N - k]) // 1000  # ms over the last k strides
            stride_ms = span // k
            cadence = 1200000 * k // span  # x10, both feet: 2 steps per stride
        self._push(EV_IC, ic_t, stride_ms, cadence, 0, 0)
        self._stride_ms = stride_ms

    @micropython.native
    def _stance(self, w, e, ax, ay, az):
        now = self.now
        # Foot-flat: the quietest rotation once the impact has rung out, and not once the
        # push-off has turned the foot far toe-down (the swing's own reversal can be as
        # quiet, and would drop the push-off). Not |a| near 1 g: a running stance can ring
        # at several g from the impact to the push-off, and the first quiet-enough sample
        # would then stay foot-flat, mid-slap, 5-10 deg off the strike angle.
        if e < self._e_min and ticks_diff(now, self._impact_t) > _RING_US:
            if not self._ms_ok or self._ang > self._ms_ang - _FLAT_LOCK:
                if not self._ms_ok or self._at_rest(ax, ay, az):
                    self._flat_turn(ax, ay, az)  # (gravity only where |a| shows it)
                self._e_min = e
                self._ms_ang = self._ang
                self._ms_t = now
                self._ms_ok = True
                self._push_min = 0
        if self._ms_ok:
            # Push-off: the toe-down rate peaks at toe-off, then the swing turns it toe-up,
            # for 20 ms at least: a landing's jolt can flick the pod toe-up for a sample,
            # and the forefoot slapping down after the heel can bounce it toe-up for three
            # (15 ms at 200 Hz), which is no swing either: a swing turns toe-up for 100 ms.
            if w < self._push_min:
                self._push_min = w
                self._push_t = now
                self._up = False
            elif w > _W_SWING and self._push_min < -_W_PUSH:
                if not self._up:
                    self._up = True
                    self._up_t = now
                    self._up_ang = self._ang
                elif ticks_diff(now, self._up_t) >= _UP_US:
                    self._up = False
                    self._end_stance(self._push_t)
                    self._start_swing(self._up_t, self._up_ang)  # when it turned toe-up
                    return
            else:
                self._up = False
        if ticks_diff(now, self._t_state) > _MAX_CONTACT:
            # Standing on this foot: the step is over without a toe-off.
            self._end_stance(-1)
            self._state = _S_IDLE

    @micropython.native
    def _end_stance(self, tc_t):
        """Publish the step whose stance ends now (tc_t = -1: no toe-off seen)."""
        if not self._valid:
            return
        self._valid = False
        contact = NO_VALUE
        if tc_t >= 0:
            c = ticks_diff(tc_t, self._t_state)
            if c > _MIN_CONTACT:
                contact = c // 1000
        cdeg = NO_VALUE
        strike = STRIKE_NONE
        if self._ms_ok:
            self._flat(self._ms_ang, self._ms_t)
            cdeg = (self._ic_ang - self._ms_ang) // 10
            if cdeg > self.rear_cdeg:
                strike = REARFOOT
            elif cdeg < self.fore_cdeg:
                strike = FOREFOOT
            else:
                strike = MIDFOOT
        self._push(EV_STEP, self._t_state, tc_t, contact, cdeg, strike)
        # Activity: running has a flight phase, so the stance is about half the stride or
        # less (under 0.55: walking spends 0.6 or more on the foot), and it is short; the
        # first step (no stride yet) is judged on its contact alone. Two steps in a row
        # must agree before the activity changes. A margin above 0.5 matters: taken for
        # walking, a midfoot runner's late-swing toe-up turn could pass for a heel strike,
        # move IC early, lengthen the contact and so keep the walking verdict.
        stride = self._stride_ms
        if contact == NO_VALUE:
            act = self._act_vote
        elif contact < _RUN_CONTACT_MS and (contact * 20 < stride * 11 or not stride):
            act = RUN
        else:
            act = WALK
        if act != self.activity and (act == self._act_vote or self.activity == IDLE):
            self._set_activity(act)
        self._act_vote = act

    @micropython.native
    def _flat(self, ang, t):
        """A foot-flat: the foot is level again, so any angle since the last one is drift.

        Half of it goes into the pitch-rate bias, which keeps the angle integral level
        over many strides (needed to judge a heel-first landing before foot-flat)."""
        if self._prev_ms_ok:
            span = ticks_diff(t, self._prev_ms_t)
            if 0 < span < _MAX_STRIDE:
                d = ang - self._prev_ms_ang
                if -_DRIFT_MAX < d < _DRIFT_MAX:
                    # mdeg over span us -> counts: d / 1000 * 16.4 / (span / 1e6)
                    self._wb += (d * 8200) // span
        self._prev_ms_ang = ang
        self._prev_ms_t = t
        self._prev_ms_ok = True

    @micropython.native
    def _set_activity(self, act):
        self.activity = act
        self._push(EV_ACTIVITY, self.now, act, 0, 0, 0)

    def _drop_held(self):
        """The bout ended after one footfall: forget it and the events after it."""
        hold = self._hold
        hold[0] = 0
        hold[1] = 0
        self.steps -= 1
        self.activity = hold[2]

    def finish(self):
        """End of input: publish the stance under way, if any (its toe-off unseen). A lone
        footfall still held is dropped, as it would have been 2.5 s later."""
        if self._state == _S_STANCE:
            self._state = _S_IDLE
            self._end_stance(-1)
        if self._hold[0]:
            self._drop_held()
        return self._qn
