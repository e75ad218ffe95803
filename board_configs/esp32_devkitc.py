"""Espressif ESP32-DevKitC (ESP32-WROOM-32), USB powered, no battery sense.

Wiring: MPU6050 on the default I2C pins, its INT to GPIO4 (motion wake-up), piezo between
GPIO25 and GND. main.py builds the machine objects from these numbers.
"""

NAME = "esp32-devkitc"
I2C_ID = 0
I2C_SCL = 22
I2C_SDA = 21
I2C_FREQ = 400000  # MPU6050 fast mode
IMU_ADDR = 0x68  # AD0 low
IMU_INT_PIN = 4  # RTC-capable, so it can wake the chip from deep sleep
BUZZER_PIN = 25
BUZZER_PIN_B = None  # set to a second GPIO wired to the piezo for RMT-timed clicks
BUTTON_PIN = 0  # the BOOT button, active low
LED_PIN = 2
LED_ACTIVE_LOW = False
BATTERY_ADC_PIN = None  # no divider on this board
BATTERY_DIVIDER = None
