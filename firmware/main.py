"""The pod's entry point: build the board's ``machine`` objects, inject them, run the app.

This is the only firmware module (with the board file) that imports ``machine`` and
``esp32``; app.App receives everything through an ``app.Hardware``.

Board selection: ``/board.py`` on the pod's flash is the board file, a copy of one of
``board_configs/*.py`` made by ``pod flash --board NAME`` (``mpremote cp
board_configs/lolin_d32.py :board.py`` by hand). Without it the pod uses
``esp32_devkitc.py`` if that is on the flash, and says so; with neither it does not guess
pins: it says what to do on the console and stays at the REPL.

Board constants used (see board_configs/): NAME, I2C_ID, I2C_SCL, I2C_SDA, I2C_FREQ,
IMU_ADDR, IMU_INT_PIN, BUZZER_PIN, BUZZER_PIN_B (optional second piezo pin: the clicks
are then hardware-timed by esp32.RMT on it), BUTTON_PIN, LED_PIN, LED_ACTIVE_LOW
(optional), BATTERY_ADC_PIN, BATTERY_DIVIDER. A None pin means the board has none.
"""

import micropython

if hasattr(micropython, "alloc_emergency_exception_buf"):  # not in the unix port (virtual pod)
    micropython.alloc_emergency_exception_buf(100)  # before anything can fail in an IRQ

import os  # noqa: E402

import app  # noqa: E402
import machine  # noqa: E402

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


def build(board):
    """An app.Hardware with the machine objects of ``board``."""
    Pin = machine.Pin
    get = getattr
    hw = app.Hardware()
    hw.board_name = get(board, "NAME", "?")

    def make_i2c():
        return machine.I2C(board.I2C_ID, scl=Pin(board.I2C_SCL), sda=Pin(board.I2C_SDA), freq=board.I2C_FREQ)

    def bus_pins():
        return Pin(board.I2C_SCL), Pin(board.I2C_SDA)

    hw.make_i2c = make_i2c
    hw.i2c = make_i2c()
    hw.bus_pins = bus_pins
    hw.imu_addr = board.IMU_ADDR
    if board.IMU_INT_PIN is not None:
        hw.imu_int = Pin(board.IMU_INT_PIN, Pin.IN)
    hw.pwm = machine.PWM(Pin(board.BUZZER_PIN), freq=2700, duty_u16=0)
    pin_b = get(board, "BUZZER_PIN_B", None)
    if pin_b is not None and esp32 is not None:
        # The piezo between BUZZER_PIN (PWM, idle low) and BUZZER_PIN_B (RMT): hardware-timed
        # clicks, the click tone (config buzzer_hz) as the carrier, 1 us ticks.
        def make_rmt(carrier_hz):
            return esp32.RMT(0, pin=Pin(pin_b), resolution_hz=1000000,
                             tx_carrier=(carrier_hz, 50, 1), idle_level=0)

        hw.make_rmt = make_rmt
    if board.BUTTON_PIN is not None:
        hw.button = Pin(board.BUTTON_PIN, Pin.IN, Pin.PULL_UP)
    if board.LED_PIN is not None:
        hw.led = Pin(board.LED_PIN, Pin.OUT)
        hw.led_active_low = get(board, "LED_ACTIVE_LOW", False)
    if board.BATTERY_ADC_PIN is not None:
        adc = machine.ADC(Pin(board.BATTERY_ADC_PIN))
        adc.atten(machine.ADC.ATTN_11DB)  # full scale ~3.1 V: V_bat / 2 of a LiPo fits
        hw.adc = adc
        hw.battery_divider = board.BATTERY_DIVIDER
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


def main():
    board = load_board()
    if board is None:
        print("main: no board file on the flash: run pod flash --board NAME (see board_configs/)")
        return
    hw = build(board)
    print("pod firmware %s on %s" % (app.FIRMWARE_VERSION, hw.board_name))
    try:
        app.App(hw).run()
    except Exception as e:  # noqa: BLE001 - only a failure at boot gets here (the loop catches its own)
        import sys
        import time

        sys.print_exception(e)
        print("main: boot failed; resetting in 5 s (Ctrl-C for the REPL)")
        time.sleep(5)
        machine.reset()


main()
