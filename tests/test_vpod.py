"""The virtual pod, driven as a real ESP32 is: by the real mpremote over its serial port.

Host-only (CPython + pytest). Each test starts its own pod on a pseudo-terminal; files go
on its littlefs flash image. Power-cut fuzzing runs a handful of random cut points here;
``VPOD_FUZZ_CUTS=150 pytest tests/test_vpod.py -k fuzz`` runs a longer campaign.
"""

import datetime
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import serial

from podtools.errors import PodError
from podtools.podcsv import Recording
from podtools.vpod import VirtualPod
from podtools.vpod import pod as vpod_pod

MPREMOTE = str(Path(sys.executable).with_name("mpremote"))

pytestmark = pytest.mark.skipif(not Path(MPREMOTE).exists(), reason="mpremote not installed")


def mpr(pod, *args, timeout=30, check=True):
    """Run ``mpremote connect PORT ARGS...``; returns its stdout as text."""
    r = subprocess.run([MPREMOTE, "connect", pod.port, *args], capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise AssertionError("mpremote %s failed (%d): %s %s" % (args, r.returncode, r.stdout, r.stderr))
    return r.stdout


def boots(pod):
    return [e for e in pod.trace_events("boot")]


def test_ls_cp_exec_run(tmp_path):
    src = tmp_path / "data.txt"
    src.write_bytes(bytes(range(256)) * 20)  # binary, 5 KB: several raw-paste windows
    script = tmp_path / "script.py"
    script.write_text("import os\nprint('files', sorted(os.listdir('/')))\n")
    with VirtualPod(speed=1) as pod:
        assert "boot.py" in mpr(pod, "ls")  # a fresh flash is formatted with a boot.py
        mpr(pod, "cp", str(src), ":data.txt")
        assert "5120 data.txt" in mpr(pod, "ls")
        back = tmp_path / "back.txt"
        mpr(pod, "cp", ":data.txt", str(back))
        assert back.read_bytes() == src.read_bytes()
        assert mpr(pod, "exec", "print(6 * 7)").strip() == "42"
        assert "files ['boot.py', 'data.txt']" in mpr(pod, "run", str(script))
        out = subprocess.run([MPREMOTE, "connect", pod.port, "exec", "1/0"], capture_output=True, text=True,
                             timeout=20)
        assert out.returncode == 1 and "ZeroDivisionError" in out.stdout + out.stderr
        # the platform answers as an ESP32 would for the modules the firmware uses
        assert mpr(pod, "exec", "import machine; print(len(machine.unique_id()), machine.freq())").split() == [
            "6", "160000000"]


def test_rtc_set_then_read_back():
    with VirtualPod(speed=1) as pod:
        mpr(pod, "rtc", "--set")
        out = mpr(pod, "rtc")
        t = eval(out.strip())  # (year, month, day, weekday, hour, minute, second, subsecond)
        got = datetime.datetime(t[0], t[1], t[2], t[4], t[5], t[6])
        assert abs((got - datetime.datetime.now()).total_seconds()) < 5
        assert t[3] == got.weekday()
        # time.time() is the same clock on the ESP32's 2000 epoch
        secs = int(mpr(pod, "exec", "import time; print(time.time())"))
        assert abs(secs + 946684800 - (got - datetime.datetime(1970, 1, 1)).total_seconds()) < 5


MAIN_LOOP = """
import time
with open('runs.txt', 'a') as f:
    f.write('run\\n')
print('main.py started')
while True:
    time.sleep_ms(20)
"""


def test_main_runs_at_reset_ctrl_c_stops_it_soft_reset_reruns_it(tmp_path):
    main = tmp_path / "main.py"
    main.write_text(MAIN_LOOP)
    with VirtualPod(speed=1) as pod:
        mpr(pod, "cp", str(main), ":main.py")
        mpr(pod, "reset")  # hard reset: a new boot runs main.py, which never ends
        pod.wait_for(lambda ev: any(e["ev"] == "boot" and e["cause"] == 2 for e in ev))
        pod.wait_output("main.py started")
        # mpremote's Ctrl-C interrupts main.py, then it works as usual
        assert "main.py" in mpr(pod, "ls")
        assert b"KeyboardInterrupt" in pod.output
        assert mpr(pod, "fs", "cat", "runs.txt").count("run") == 1
        # Ctrl-D at the friendly prompt: soft reboot, main.py runs again in the same process
        with serial.Serial(pod.port, 115200, timeout=0.2) as s:
            s.write(b"\r\x03\x03")
            time.sleep(0.3)
            s.read(10000)
            s.write(b"\x04")
            seen = b""
            end = time.monotonic() + 10
            while b"main.py started" not in seen and time.monotonic() < end:
                seen += s.read(1000)
            assert b"MPY: soft reboot" in seen and b"main.py started" in seen
        assert mpr(pod, "fs", "cat", "runs.txt").count("run") == 2
        assert pod.boots == 2  # one hard reset, every soft reset stayed in the process
        assert mpr(pod, "resume", "exec", "import machine; print(machine.reset_cause())").strip() == "5"


def test_firmware_without_a_board_file_says_what_to_do_and_stays_at_the_repl():
    firmware = Path(__file__).resolve().parents[1] / "firmware"
    with VirtualPod(speed=1) as pod:
        mpr(pod, "cp", *[str(p) for p in sorted(firmware.glob("*.py"))], ":")
        mpr(pod, "reset")
        pod.wait_output("no board file on the flash: run pod flash --board NAME")
        assert mpr(pod, "exec", "print(1 + 1)").strip() == "2"  # no reset loop, the REPL answers
        assert pod.boots == 2  # the first power-on and the reset: nothing reset again


def test_a_board_file_that_does_not_fit_names_the_setting_sounds_the_fault_and_stays_at_the_repl(tmp_path):
    # A classic wiring mistake: the LED on GPIO35, which the ESP32 can only read.
    root = Path(__file__).resolve().parents[1]
    board = tmp_path / "board.py"
    board.write_text((root / "board_configs" / "lolin_d32.py").read_text().replace("LED_PIN = 5", "LED_PIN = 35"))
    with VirtualPod(speed=1) as pod:
        mpr(pod, "cp", *[str(p) for p in sorted((root / "firmware").glob("*.py"))], str(board), ":")
        mpr(pod, "reset")
        pod.wait_output("the board file does not fit this board: LED_PIN: ValueError: invalid pin for output")
        pod.wait_for(lambda ev: any(e["ev"] == "main_done" and e["boot"] == 1 for e in ev), timeout=20)
        tones = [e for e in pod.trace_events("buzz") if e["boot"] == 1]
        assert mpr(pod, "exec", "print(1 + 1)").strip() == "2"  # the REPL answers
        assert pod.boots == 2  # no reset loop
    # BOOT_FAULT, whole: two 1 s tones at 2 kHz, 0.3 s apart
    on = [e for e in tones if e["on"] == 1]
    off = [e for e in tones if e["on"] == 0]
    assert [e["hz"] for e in on] == [2000, 2000] and len(off) == 2
    assert [round((b["w"] - a["w"]) / 1e5) for a, b in zip(tones, tones[1:])] == [10, 3, 10]


def test_a_failing_app_boot_sounds_the_fault_resets_and_after_three_in_a_row_sleeps(tmp_path):
    # Whatever fails there (here a planted bug) may pass at the next boot, so the pod resets;
    # a fault that stays would beep and reset all day: the third failure in a row sleeps.
    root = Path(__file__).resolve().parents[1]
    bad_app = tmp_path / "app.py"
    bad_app.write_text((root / "firmware" / "app.py").read_text()
                       + "\n\ndef _broken(self):\n    raise RuntimeError('planted')\n\n\nApp.boot = _broken\n")
    board = tmp_path / "board.py"
    board.write_text((root / "board_configs" / "lolin_d32.py").read_text())
    files = [str(p) for p in sorted((root / "firmware").glob("*.py")) if p.name != "app.py"]
    with VirtualPod(speed=20) as pod:
        mpr(pod, "cp", *files, str(bad_app), str(board), ":")
        mpr(pod, "reset")
        pod.wait_output("main: boot failed 3 times in a row; asleep until a reset", timeout=30)
        pod.wait_for(lambda ev: any(e["ev"] == "reset" and e["kind"] == "deepsleep" for e in ev), timeout=10)
        events = [e for e in pod.trace_events() if e["ev"] in ("boot", "buzz", "reset") and e["boot"] >= 1]
    assert pod.output.count(b"main: boot failed; resetting in 5 s") == 2
    kinds = [(e["ev"], e.get("on"), e.get("hz"), e.get("kind"), e.get("sleep_us")) for e in events]
    boot = ("boot", None, None, None, None)
    fault = [("buzz", 1, 2000, None, None), ("buzz", 0, 2000, None, None)] * 2
    reset = ("reset", None, None, "reset", 0)
    asleep = ("reset", None, None, "deepsleep", None)  # no wake-up time: until the reset button
    assert kinds[:len(kinds) - 1] == [boot] + fault + [reset, boot] + fault + [reset, boot] + fault
    assert kinds[-1][:4] == asleep[:4]


def test_bytes_written_just_before_the_port_closes_still_arrive():
    # A client that writes and closes at once (as pod tools do with their closing Ctrl-B and
    # Ctrl-D) reaches the pod as over a UART: the relay used to drop input that came with
    # the hang-up, and a busy machine then left the pod in the raw REPL.
    with VirtualPod(speed=1) as pod:
        mpr(pod, "exec", "print(1)")  # booted, at the friendly REPL
        for k in range(3):
            with serial.Serial(pod.port, 115200) as s:
                s.write(b"print(%d * 1111)\r" % (k + 1))
                s.flush()
            pod.wait_output("\r\n%d\n" % ((k + 1) * 1111), timeout=10)  # the answer, not the echo


def test_files_survive_a_restart_of_the_launcher(tmp_path):
    image = tmp_path / "pod.img"
    with VirtualPod(flash=image, speed=1) as pod:
        mpr(pod, "exec", "with open('kept.txt', 'w') as f: f.write('still here')")
    with VirtualPod(flash=image, speed=1) as pod:
        assert mpr(pod, "fs", "cat", "kept.txt") == "still here"
        assert [e["fs"] for e in boots(pod) if not e["soft"]] == ["mounted"]


def test_one_pod_per_flash_image(tmp_path):
    image = tmp_path / "pod.img"
    with VirtualPod(flash=image, speed=1):
        second = VirtualPod(flash=image, speed=1)
        with pytest.raises(PodError, match="is in use by another virtual pod"):
            second.start()
        assert not second.workdir.exists()  # nothing left behind by the refused one
    with VirtualPod(flash=image, speed=1):  # free again once the first powered off
        pass


def test_one_pod_per_trace(tmp_path):
    trace = tmp_path / "trace.jsonl"
    with VirtualPod(flash=tmp_path / "a.img", trace=trace, speed=1) as pod:
        pod.wait_for(lambda ev: any(e["ev"] == "boot" for e in ev), timeout=20)
        second = VirtualPod(flash=tmp_path / "b.img", trace=trace, speed=1)
        with pytest.raises(PodError, match="the trace .* is in use by another virtual pod: give --trace another"):
            second.start()
        assert not second.workdir.exists()
        assert pod.trace_events("boot")  # the first one's trace is whole


def test_pod_vpod_refuses_what_it_would_destroy_or_cannot_use(tmp_path, capsys, monkeypatch):
    from podtools import cli

    monkeypatch.chdir(tmp_path)
    run = tmp_path / "run.csv"  # a mistyped --flash: the pod would format it
    run.write_bytes(b"# pod-imu 1\n" + b"1,2,3\n" * 1000)
    kept = run.read_bytes()
    header_only = tmp_path / "empty.csv"
    header_only.write_text("# pod-imu 1\n# rate_hz=200\nt_us,ax,ay,az,gx,gy,gz\n")
    for argv, said in ((["--flash", str(run)], "is not a virtual pod's flash image"),
                       (["--board", "nope"], "unknown board 'nope' (known: esp32_devkitc, lolin_d32)"),
                       (["--board", "../firmware/app"], "unknown board '../firmware/app'"),
                       (["--speed", "nan"], "--speed must be a positive number or 'max', not 'nan'"),
                       (["--speed", "inf"], "--speed must be a positive number or 'max', not 'inf'"),
                       (["--recording", str(run), "--trace", str(run)], "is the recording: it would be overwritten"),
                       (["--trace", str(run)], "exists and is not a virtual pod's trace: not overwritten"),
                       (["--recording", str(run), "--seed", "3"], "--seed is for --scenario"),
                       (["--rate", "400"], "--rate is for --scenario (a recording has its own rate)"),
                       (["--battery", "150"], "--battery is a charge in percent, 0 to 100"),
                       (["--recording", str(header_only)], "the recording has no samples"),
                       (["--trace", str(tmp_path / "no" / "t.jsonl")], "No such file or directory")):
        assert cli.main(["vpod", *argv]) == 1, argv
        err = capsys.readouterr().err
        assert err.startswith("pod: ") and said in err and err.count("\n") == 1, err
    assert run.read_bytes() == kept
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.csv", "run.csv"]  # nothing made


def test_pod_vpod_killed_powers_off_and_cleans_up(tmp_path):
    env = dict(os.environ, TMPDIR=str(tmp_path))
    pod = Path(sys.executable).with_name("pod")
    proc = subprocess.Popen([str(pod), "vpod", "--flash", str(tmp_path / "pod.img"), "--trace",
                             str(tmp_path / "trace.jsonl")], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout.readline().startswith("virtual pod on /dev/pts/")
        assert [p.name for p in tmp_path.glob("vpod-*")]  # its working folder
        proc.terminate()
        assert proc.wait(20) == 0
        assert "virtual pod powered off" in proc.stdout.read()
    finally:
        proc.kill()
    assert not list(tmp_path.glob("vpod-*"))


def test_imu_fifo_fills_from_the_recording_at_the_configured_rate():
    n = 2000
    t_us = np.arange(n, dtype=np.int64) * 5000  # 200 Hz
    imu = np.zeros((n, 6), dtype=np.int16)
    imu[:, 0] = np.arange(n)  # ax counts = sample index: easy to check
    imu[:, 2] = 2048
    rec = Recording(t_us=t_us, imu=imu, rate_hz=200.0)
    code = (
        "import machine, time, struct\n"
        "i2c = machine.I2C(0, scl=machine.Pin(22), sda=machine.Pin(21), freq=400000)\n"
        "print('scan', i2c.scan())\n"
        "w = lambda r, v: i2c.writeto_mem(0x68, r, bytes((v,)))\n"
        "w(0x6B, 0x01); w(0x1A, 0x01); w(0x19, 4); w(0x1C, 0x18); w(0x1B, 0x18)\n"
        "w(0x23, 0x78); w(0x6A, 0x44)\n"
        "time.sleep_ms(100)\n"
        "c = i2c.readfrom_mem(0x68, 0x72, 2)\n"
        "count = c[0] << 8 | c[1]\n"
        "data = i2c.readfrom_mem(0x68, 0x74, count)\n"
        "ax = [struct.unpack('>h', data[i:i + 2])[0] for i in range(0, count, 12)]\n"
        "print('count', count, 'ax', ax[0], ax[-1])\n"
    )
    with VirtualPod(recording=rec, speed="max") as pod:
        out = mpr(pod, "exec", code)
    words = out.split()
    assert words[:3] == ["scan", "[104]", "count"]
    count, first, last = int(words[3]), int(words[5]), int(words[6])
    assert count == 20 * 12  # 100 ms at 200 Hz, 12 bytes a sample (accel + gyro)
    assert last - first == 19  # consecutive recording samples


CLICKS = """
import esp32, machine, time
rmt = esp32.RMT(0, pin=machine.Pin(25), clock_div=80, tx_carrier=(2700, 50, 1))
period = 60000000 // 180  # 180 clicks a minute
t = time.ticks_us()
for i in range(%d):
    t = time.ticks_add(t, period)
    d = time.ticks_diff(t, time.ticks_us())
    if d > 0:
        time.sleep_us(d)
    rmt.write_pulses((15000, 100), 1)  # a 15 ms click (1 us ticks)
print('clicks done')
"""


def test_a_virtual_hour_of_metronome_clicks_keeps_time(tmp_path):
    clicks = 180 * 60  # one hour
    main = tmp_path / "main.py"
    main.write_text(CLICKS % clicks)
    t0 = time.monotonic()
    with VirtualPod(speed="max") as pod:
        mpr(pod, "cp", str(main), ":main.py")
        mpr(pod, "reset")
        pod.wait_for(lambda ev: any(e["ev"] == "main_done" and e["boot"] == 1 for e in ev), timeout=40)
        on = [e["w"] for e in pod.trace_events("buzz") if e["on"] == 1 and e["boot"] == 1]
    assert time.monotonic() - t0 < 40
    assert len(on) == clicks
    onsets = np.array(on) - on[0]
    ideal = np.arange(clicks) * (60000000 // 180)
    assert np.max(np.abs(onsets - ideal)) <= 2000  # +-2 ms, no drift over the hour


FUZZ_MAIN = """
import os
try:
    with open('log.txt') as f:
        lines = f.read().split('\\n')
except OSError:
    lines = ['']
whole = lines[:-1]
ok = all(int(x) == i for i, x in enumerate(whole))
print('CHECK', 'ok' if ok else 'BAD', len(whole))
n = len(whole)
while True:
    with open('log.txt', 'a') as f:
        f.write('%d\\n' % n)
    n += 1
    if n % 5 == 0:
        with open('big%d.bin' % (n % 3), 'w') as f:
            f.write('x' * 3000)
    if n % 7 == 0:
        try:
            os.remove('big%d.bin' % ((n + 1) % 3))
        except OSError:
            pass
"""


def test_power_cut_fuzz_always_boots_and_mounts(tmp_path):
    cuts = int(os.environ.get("VPOD_FUZZ_CUTS", "8"))
    rng = random.Random(int(os.environ.get("VPOD_FUZZ_SEED", "5")))
    image = tmp_path / "pod.img"
    main = tmp_path / "main.py"
    main.write_text(FUZZ_MAIN)
    with VirtualPod(flash=image, speed=1) as pod:
        mpr(pod, "cp", str(main), ":main.py")
    points = [rng.randint(1, 120) for _ in range(cuts)]
    t0 = time.monotonic()
    with VirtualPod(flash=image, speed="max", power_cuts=points) as pod:
        pod.wait_for(lambda ev: sum(1 for e in ev if e["ev"] == "boot") > cuts, timeout=20 + cuts)
        pod.wait_output(b"CHECK", timeout=5)
        time.sleep(0.2)
        checks = [ln.split() for ln in pod.output.decode(errors="replace").splitlines() if ln.startswith("CHECK")]
        events = pod.trace_events()
    elapsed = time.monotonic() - t0
    assert len([e for e in events if e["ev"] == "power_cut"]) == cuts
    assert [e["fs"] for e in events if e["ev"] == "boot"] == ["mounted"] * (cuts + 1)  # never reformatted
    assert len(checks) >= cuts + 1 and all(c[1] == "ok" for c in checks), checks
    counts = [int(c[2]) for c in checks]
    assert counts == sorted(counts)  # nothing committed is ever lost
    print("%d power cuts in %.1f s" % (cuts, elapsed))


FIRMWARE = Path(__file__).resolve().parents[1] / "firmware"

DRIVER_MAIN = """
import time, machine, compat
from mpu6050 import MPU6050, recover_bus
print('ticks', abs(compat.ticks_diff(compat.ticks_us(), time.ticks_us())) < 1000)
def bus():
    return machine.I2C(0, scl=machine.Pin(22), sda=machine.Pin(21), freq=400000)
imu = MPU6050(bus(), rate_hz=200)
buf = bytearray(40 * 12)
samples = errors = recovered = 0
t0 = time.ticks_ms()
while time.ticks_diff(time.ticks_ms(), t0) < 4000:
    try:
        samples += imu.read_fifo(buf)
    except OSError:
        errors += 1
        time.sleep_ms(20)
        try:
            imu.init()
        except OSError:
            scl, sda = machine.Pin(22), machine.Pin(21)
            if sda.value() == 0 and recover_bus(scl, sda):  # SDA held low: a stuck bus
                recovered += 1
                try:
                    imu = MPU6050(bus(), rate_hz=200)
                except OSError:
                    pass
        continue
    time.sleep_ms(50)
print('driver', samples, errors, recovered)
"""


def test_firmware_driver_reads_the_simulated_imu_through_faults(tmp_path):
    main = tmp_path / "main.py"
    main.write_text(DRIVER_MAIN)
    faults = [{"kind": "nack", "at_us": 2500000, "dur_us": 200000}, {"kind": "stuck", "at_us": 3500000}]
    with VirtualPod(speed="max", i2c_faults=faults) as pod:
        mpr(pod, "cp", str(FIRMWARE / "compat.py"), str(FIRMWARE / "mpu6050.py"), str(main), ":")
        mpr(pod, "reset")
        pod.wait_output("driver", timeout=20)
        time.sleep(0.1)
        text = pod.output.decode(errors="replace")
        kinds = [e["kind"] for e in pod.trace_events("i2c_fault")]
    assert "ticks True" in text  # compat.py's ticks are the virtual clock's
    samples, errors, recovered = map(int, text.split("driver")[-1].split()[:3])
    assert errors >= 2 and recovered == 1
    assert 650 <= samples <= 800  # 4 s at 200 Hz, less what the faults cost
    assert kinds[0] == "nack" and "stuck" in kinds


RESETS_MAIN = """
import machine, time
cause = machine.reset_cause()
with open('causes.txt', 'a') as f:
    f.write('%d %d\\n' % (cause, time.time()))
if cause == machine.PWRON_RESET:
    machine.deepsleep(5000)
elif cause == machine.DEEPSLEEP_RESET:
    wdt = machine.WDT(timeout=200)
    while True:
        time.sleep_ms(50)
print('resets done')
"""


def flash_with_main(tmp_path, source):
    """A flash image whose main.py is ``source`` (copied there by mpremote)."""
    main = tmp_path / "main.py"
    main.write_text(source)
    image = tmp_path / "pod.img"
    with VirtualPod(flash=image, speed=1) as pod:
        mpr(pod, "cp", str(main), ":main.py")
    return image


PULLS_MAIN = """
from machine import Pin
print('pins %d %d %d' % (Pin(0, Pin.IN, Pin.PULL_UP).value(), Pin(4, Pin.IN, Pin.PULL_DOWN).value(),
                         Pin(25, Pin.OUT, value=1).value()))
"""


def test_an_input_with_a_pull_up_reads_high_until_something_drives_it(tmp_path):
    # The DevKitC's BOOT button (GPIO0, active low, pulled up) read as held down: every boot
    # of a virtual DevKitC pod then started a session by the long-press rule.
    image = flash_with_main(tmp_path, PULLS_MAIN)
    with VirtualPod(flash=image, speed="max") as pod:
        pod.wait_output("pins 1 0 1", timeout=20)


def test_deepsleep_and_watchdog_reset_into_boot(tmp_path):
    image = flash_with_main(tmp_path, RESETS_MAIN)
    with VirtualPod(flash=image, speed="max") as pod:
        pod.wait_output("resets done", timeout=20)
        resets = pod.trace_events("reset")
        boot_causes = [e["cause"] for e in pod.trace_events("boot")]
        out = mpr(pod, "fs", "cat", "causes.txt")
    assert [e["kind"] for e in resets] == ["deepsleep", "wdt"]
    assert boot_causes[:3] == [1, 4, 3]
    lines = [tuple(map(int, ln.split())) for ln in out.splitlines()]
    assert [c for c, _ in lines] == [1, 4, 3]
    assert lines[1][1] - lines[0][1] >= 5  # the RTC ran on through the deep sleep


SLEEPER_MAIN = """
import machine
a = machine.ADC(machine.Pin(35))
a.atten(machine.ADC.ATTN_11DB)
if machine.reset_cause() != machine.DEEPSLEEP_RESET:
    print('before', a.read_uv() * 2 // 1000)
    machine.deepsleep(10 * 3600 * 1000)
print('after', a.read_uv() * 2 // 1000)
"""


def test_the_battery_drains_at_sleep_current_in_deep_sleep(tmp_path):
    # 10 hours of deep sleep draw ~2 mAh (0.23 mA, docs/power.md), not 400 mAh at 40 mA: a
    # virtual pod left idle must not wake into a low-battery loop.
    image = flash_with_main(tmp_path, SLEEPER_MAIN)
    with VirtualPod(flash=image, speed="max") as pod:
        pod.wait_output("after", timeout=20)
        time.sleep(0.2)
        out = pod.output.decode(errors="replace")
    before = int(out.split("before ")[1].split()[0])
    after = int(out.split("after ")[1].split()[0])
    assert before - after < 30, (before, after)


def test_low_battery_and_brownout():
    code = ("import machine; a = machine.ADC(machine.Pin(35)); a.atten(machine.ADC.ATTN_11DB);"
            " print(a.read_uv() * 2 // 1000)")
    with VirtualPod(speed="max", battery={"soc": 4}, brownout_at_us=3000000) as pod:
        mv = int(mpr(pod, "exec", code))
        assert 3000 <= mv < 3450  # the cell is nearly empty
        mpr(pod, "exec", "--no-follow", "import time; time.sleep(5)")  # a reset will cut it
        pod.wait_for(lambda ev: any(e["ev"] == "boot" and e["boot"] == 1 for e in ev))
        assert [e["kind"] for e in pod.trace_events("reset")] == ["brownout"]
        assert mpr(pod, "resume", "exec", "import machine; print(machine.reset_cause())").strip() == "1"


def test_speed_compresses_sleeps_and_timers_run_on_the_virtual_clock():
    code = ("import time, machine\n"
            "hits = []\n"
            "tm = machine.Timer(0, mode=machine.Timer.PERIODIC, period=100, callback=lambda t: hits.append(1))\n"
            "t = time.ticks_ms(); time.sleep(2); tm.deinit()\n"
            "print(time.ticks_diff(time.ticks_ms(), t), len(hits))\n")
    with VirtualPod(speed=20) as pod:
        t0 = time.monotonic()
        virtual_ms, hits = map(int, mpr(pod, "exec", code).split())
        real = time.monotonic() - t0
    assert 2000 <= virtual_ms < 2100 and hits in (19, 20)
    assert real < 1.5  # two virtual seconds at 20x, plus mpremote's own start-up


def raw_repl(s):
    """Interrupt and enter the raw REPL on an open serial line; a deadline 5 s on from now."""
    s.write(b"\r\x03\x03\r\x01")
    seen = b""
    end = time.monotonic() + 5
    while not seen.endswith(b"raw REPL; CTRL-B to exit\r\n>") and time.monotonic() < end:
        seen += s.read(1)
    assert seen.endswith(b"raw REPL; CTRL-B to exit\r\n>"), seen
    return end


def test_the_watchdog_outlives_a_soft_reset_and_fires_at_an_idle_repl():
    # As on an ESP32: machine.WDT cannot be stopped, a soft reset leaves it running and the
    # REPL does not feed it (so the firmware gives it a long timeout before it lets go).
    with VirtualPod(speed=1) as pod:
        with serial.Serial(pod.port, 115200, timeout=0.2) as s:
            raw_repl(s)
            s.write(b"import machine; machine.WDT(timeout=2000)\x04")
            assert s.read(2) == b"OK"
            time.sleep(0.3)
            s.write(b"\x04")  # Ctrl-D at the empty raw prompt: soft reset
            pod.wait_for(lambda ev: any(e["ev"] == "boot" and e["soft"] for e in ev), timeout=5)
            events = pod.wait_for(lambda ev: any(e["ev"] == "reset" for e in ev), timeout=10)
    assert [e["kind"] for e in events if e["ev"] == "reset"] == ["wdt"]
    wdt_at = [e for e in events if e["ev"] == "wdt"][0]
    assert wdt_at["timeout_ms"] == 2000


def test_ctrl_c_is_only_a_byte_while_kbd_intr_is_off():
    # The mpremote mount protocol (and some firmware) turns Ctrl-C off to move binary data.
    code = b"import micropython, sys; micropython.kbd_intr(-1); c = sys.stdin.buffer.read(1); " \
           b"micropython.kbd_intr(3); print('got', c)"
    with VirtualPod(speed=1) as pod:
        with serial.Serial(pod.port, 115200, timeout=0.2) as s:
            end = raw_repl(s)
            s.write(code + b"\x04")
            assert s.read(2) == b"OK"
            time.sleep(0.3)
            s.write(b"\x03")
            seen = b""
            while b"\x04\x04" not in seen and time.monotonic() < end + 5:
                seen += s.read(100)
        assert b"got b'\\x03'" in seen
        assert pod.boots == 1



def test_ctrl_c_lands_where_the_pod_waits_not_inside_a_c_call(monkeypatch):
    # The unix port raises KeyboardInterrupt inside whatever C code runs (a littlefs write,
    # the GC); the ESP32 only between bytecodes. The launcher delivers it at the next wait.
    monkeypatch.setattr(vpod_pod, "_CTRL_C_WAIT_S", 30.0)  # no fallback for busy code here
    code = (b"import time\nl = [(i * 7919) % 1000003 for i in range(3_000_000)]\nsorted_ = False\n"
            b"try:\n print('sorting')\n l.sort()\n sorted_ = True\n time.sleep(10)\n"
            b"except KeyboardInterrupt:\n print('interrupted, sorted:', sorted_)\n")
    with VirtualPod(speed=1, heap="256M") as pod:
        with serial.Serial(pod.port, 115200, timeout=0.2) as s:
            end = raw_repl(s)
            s.write(code + b"\x04")
            seen = b""
            while b"sorting" not in seen and time.monotonic() < end + 10:
                seen += s.read(100)
            s.write(b"\x03")
            time.sleep(0.02)
            s.write(b"\x03")  # a second one before the first has landed: still one interrupt
            while seen.count(b"\x04") < 2 and time.monotonic() < end + 20:
                seen += s.read(100)
        assert b"interrupted, sorted: True" in seen, seen
        assert pod.exits == [] and pod.boots == 1
