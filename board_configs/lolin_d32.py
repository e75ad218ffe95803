"""WEMOS/LOLIN D32 with a LiPo cell on its JST connector.

The board halves the battery voltage with a 100k/100k divider into GPIO35 (ADC1, input
only), so the ADC reads V_bat / 2. main.py builds the machine objects from these numbers.
"""

NAME = "lolin-d32"
I2C_ID = 0
I2C_SCL = 22
I2C_SDA = 21
I2C_FREQ = 400000
IMU_ADDR = 0x68
IMU_INT_PIN = 4
BUZZER_PIN = 25
BUZZER_PIN_B = None  # set to a second GPIO wired to the piezo for RMT-timed clicks
BUTTON_PIN = None
LED_PIN = 5  # the on-board LED, active low
LED_ACTIVE_LOW = True
BATTERY_ADC_PIN = 35
BATTERY_DIVIDER = 2  # V_bat = 2 x V_adc
