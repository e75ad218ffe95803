"""The pod's entry point: build the board's ``machine`` objects, inject them, run the app.

This is the only firmware module (with the board file) that imports ``machine`` and
``esp32``; app.App receives everything through an ``app.Hardware``.

Board selection: ``/board.py`` on the pod's flash is the board file, a copy of one of
``board_configs/*.py`` made by ``pod flash --board NAME`` (``mpremote cp
board_configs/lolin_d32.py :board.py`` by hand). Without it the pod uses
``esp32_devkitc.py`` if that is on the flash, and says so; with neither it does not guess
pins: it says what to do on the console and stays at the REPL. A board file that does not
fit the board (a missing setting, a pin that cannot do its job, such as an LED on GPIO35,
which is input only) stops the boot too: one console line names the setting, the buzzer
sounds BOOT_FAULT if it can, and the pod stays at the REPL, where ``pod flash`` can mend it
(a reset would only fail again). A failure later in the app's boot sounds BOOT_FAULT and
resets, as a fault that passes (a brown-out, the flash) may not recur; after
MAX_BOOT_FAILURES in a row (counted in RTC memory) it sounds it once more and sleeps until
the reset button, rather than beep and reset all day.

Board constants used (see board_configs/): NAME, I2C_ID, I2C_SCL, I2C_SDA, I2C_FREQ,
IMU_ADDR, IMU_INT_PIN, BUZZER_PIN, BUZZER_PIN_B (optional second piezo pin: the clicks
are then hardware-timed by esp32.RMT on it), BUTTON_PIN, LED_PIN, LED_ACTIVE_LOW
(optional), BATTERY_ADC_PIN, BATTERY_DIVIDER. A None pin means the board has none.
"""

import micropython

if hasattr(micropython, "alloc_emergency_exception_buf"):  # not in the unix port (virtual pod)
    micropython.alloc_emergency_exception_buf(100)  # before anything can fail in an IRQ

import os  # noqa: E402
import time  # noqa: E402

import app  # noqa: E402
import buzzer  # noqa: E402
import machine  # noqa: E402
from compat import ticks_us  # noqa: E402

try:
    import esp32
except ImportError:  # not an ESP32 (e.g. a bare unix port): no RMT, no ext0 wake-up
    esp32 = None


def load_board():
    """The board module, or None when the flash holds no board file."""
    try:
        import board

        return board
    except ImportError:
        pass
    try:
        import esp32_devkitc as board

        print("main: no /board.py, using board_configs/esp32_devkitc.py")
        return board
    except ImportError:
        return None


class BoardError(Exception):
    """The board file does not fit the board: a setting is missing or a pin cannot do its job."""


def _part(setting, make):
    """``make()``, or a BoardError naming the board setting that failed."""
    try:
        return make()
    except Exception as e:  # noqa: BLE001 - a typo, a missing name, a pin that cannot do this
        raise BoardError("%s: %s: %s" % (setting, type(e).__name__, e)) from e


def _setting(board, name):
    """``board.NAME``, or a BoardError if the board file lacks it."""
    return _part(name, lambda: getattr(board, name))


def _positive(x):
    if not isinstance(x, (int, float)) or x <= 0:
        raise ValueError("%r is not a number above 0" % (x,))
    return x


def build(board, hw):
    """Fill ``hw`` (an app.Hardware) with the machine objects of ``board``.

    The buzzer comes first, so that whatever fails later can still be signalled."""
    Pin = machine.Pin
    get = getattr
    hw.board_name = get(board, "NAME", "?")
    hw.pwm = _part("BUZZER_PIN", lambda: machine.PWM(Pin(board.BUZZER_PIN), freq=2700, duty_u16=0))

    def make_i2c():
        return machine.I2C(board.I2C_ID, scl=Pin(board.I2C_SCL), sda=Pin(board.I2C_SDA), freq=board.I2C_FREQ)

    def bus_pins():
        return Pin(board.I2C_SCL), Pin(board.I2C_SDA)

    hw.make_i2c = make_i2c
    hw.i2c = _part("I2C_ID, I2C_SCL, I2C_SDA, I2C_FREQ", make_i2c)
    hw.bus_pins = bus_pins
    hw.imu_addr = _setting(board, "IMU_ADDR")
    int_pin = _setting(board, "IMU_INT_PIN")
    if int_pin is not None:
        hw.imu_int = _part("IMU_INT_PIN", lambda: Pin(int_pin, Pin.IN))
    pin_b = get(board, "BUZZER_PIN_B", None)
    if pin_b is not None and esp32 is not None:
        # The piezo between BUZZER_PIN (PWM, idle low) and BUZZER_PIN_B (RMT): hardware-timed
        # clicks, the click tone (config buzzer_hz) as the carrier, 1 us ticks.
        def make_rmt(carrier_hz):
            return esp32.RMT(0, pin=Pin(pin_b), resolution_hz=1000000,
                             tx_carrier=(carrier_hz, 50, 1), idle_level=0)

        hw.make_rmt = make_rmt
    button_pin = _setting(board, "BUTTON_PIN")
    if button_pin is not None:
        hw.button = _part("BUTTON_PIN", lambda: Pin(button_pin, Pin.IN, Pin.PULL_UP))
    led_pin = _setting(board, "LED_PIN")
    if led_pin is not None:
        hw.led = _part("LED_PIN", lambda: Pin(led_pin, Pin.OUT))
        hw.led_active_low = get(board, "LED_ACTIVE_LOW", False)
    adc_pin = _setting(board, "BATTERY_ADC_PIN")
    if adc_pin is not None:
        def make_adc():
            adc = machine.ADC(Pin(adc_pin))
            adc.atten(machine.ADC.ATTN_11DB)  # full scale ~3.1 V: V_bat / 2 of a LiPo fits
            return adc

        hw.adc = _part("BATTERY_ADC_PIN", make_adc)
        divider = _setting(board, "BATTERY_DIVIDER")
        hw.battery_divider = _part("BATTERY_DIVIDER", lambda: _positive(divider))
    hw.rtc = machine.RTC()

    def make_wdt(timeout_ms):
        return machine.WDT(timeout=timeout_ms)

    hw.make_wdt = make_wdt
    hw.lightsleep = machine.lightsleep
    hw.deepsleep = machine.deepsleep
    hw.set_freq = machine.freq
    if esp32 is not None and hasattr(esp32, "wake_on_ext0"):
        def wake_on_motion(pin):
            esp32.wake_on_ext0(pin, esp32.WAKEUP_ANY_HIGH)  # the MPU6050's INT is active high

        hw.wake_on_motion = wake_on_motion
    hw.unique_id = machine.unique_id()

    def rand16():
        b = os.urandom(2)
        return b[0] | b[1] << 8

    hw.rand16 = rand16
    hw.woke_from_deepsleep = machine.reset_cause() == machine.DEEPSLEEP_RESET
    return hw


MAX_BOOT_FAILURES = 3  # in a row; then the pod sleeps rather than beep and reset all day
_FAILS_TAG = b"pod-bootfail:"


def boot_failures(rtc, count):
    """Failed boots in a row before this one, kept in RTC memory (it outlives a reset, not a
    power cut); stores ``count`` for the next boot. 0 when there is no record."""
    before = 0
    try:
        mem = rtc.memory()
        if mem.startswith(_FAILS_TAG):
            before = int(mem[len(_FAILS_TAG):])
        rtc.memory(_FAILS_TAG + str(count).encode())
    except Exception:  # noqa: BLE001 - no RTC memory, or someone else's bytes: start from 0
        pass
    return before


def fault_tone(pwm):
    """Sound BOOT_FAULT and wait for it to end; nothing if there is no buzzer to sound."""
    if pwm is None:
        return
    try:
        buz = buzzer.Buzzer(pwm)
        buz.play(buzzer.BOOT_FAULT)
        buz.drain(ticks_us, time.sleep_us)
    except Exception as e:  # noqa: BLE001 - the buzzer may be what is broken
        print("main: no fault tone (%s)" % (e,))


def main():
    board = load_board()
    if board is None:
        print("main: no board file on the flash: run pod flash --board NAME (see board_configs/)")
        return
    hw = app.Hardware()
    try:
        build(board, hw)
    except BoardError as e:
        # Resetting would fail the same way: stay at the REPL, where pod flash can mend it.
        print("main: the board file does not fit this board: %s; fix it and run pod flash --board NAME" % e)
        fault_tone(hw.pwm)
        return
    print("pod firmware %s on %s" % (app.FIRMWARE_VERSION, hw.board_name))
    failed = boot_failures(hw.rtc, 0)  # this boot's count so far; cleared: a good boot ends the series
    try:
        app.App(hw).run()
    except Exception as e:  # noqa: BLE001 - only a failure at boot gets here (the loop catches its own)
        import sys

        sys.print_exception(e)
        failed += 1
        boot_failures(hw.rtc, failed)
        if failed >= MAX_BOOT_FAILURES:
            print("main: boot failed %d times in a row; asleep until a reset (Ctrl-C for the REPL)" % failed)
            fault_tone(hw.pwm)
            time.sleep(3)
            boot_failures(hw.rtc, 0)  # the reset that wakes it starts a new series
            try:  # a reset may have left the MPU6050 sampling: 3.8 mA all through the sleep
                import mpu6050

                mpu6050.sleep_sensor(hw.i2c, hw.imu_addr)
            except Exception:  # noqa: BLE001 - the sensor, or its bus, may be what failed
                pass
            machine.deepsleep()  # no wake-up source: only the reset button or power
        print("main: boot failed; resetting in 5 s (Ctrl-C for the REPL)")
        fault_tone(hw.pwm)
        time.sleep(3)
        machine.reset()


main()
