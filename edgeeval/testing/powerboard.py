"""Fake power hardware for tests (and users' own tests): sysfs trees in the kernel's formats,
`tegrastats`/`vcgencmd` executables, and a load-driven power model that rewrites them.

The model (`python -m edgeeval.testing.powerboard model ROOT ...`) reads the machine's real CPU
utilisation from /proc/stat every `interval` s and sets P = idle_w + k_w × utilisation in every
fake sensor under ROOT, logging `t_ns P_w` per update so tests know the true energy.
"""

from __future__ import annotations

import argparse
import os
import random
import stat
import subprocess
import sys
import time
from pathlib import Path

INA3221 = "sys/bus/i2c/drivers/ina3221/1-0040/hwmon/hwmon1"
INA3221_IIO = "sys/bus/i2c/drivers/ina3221x/6-0040/iio:device0"
INA226 = "sys/class/hwmon/hwmon3"
RAPL = "sys/class/powercap"
MODEL_FILE = "fake-power-mw"  # read by the fake tegrastats / vcgencmd (mW)

TEGRA_JP6 = ("05-05-2025 06:05:39 RAM 2639/7620MB (lfb 9x4MB) SWAP 0/3810MB (cached 0MB) CPU [1%@729,"
             "4%@729,8%@729,4%@729,5%@729,4%@729] GR3D_FREQ 0% cpu@44.156C soc2@43.781C soc0@44.687C "
             "gpu@45.968C tj@45.968C soc1@45.312C VDD_IN {p}mW/5263mW VDD_CPU_GPU_CV 717mW/717mW "
             "VDD_SOC 1794mW/1794mW")
TEGRA_JP4 = ("RAM 1180/3965MB (lfb 1x2MB) SWAP 149/1024MB (cached 7MB) IRAM 0/252kB(lfb 252kB) CPU "
             "[30%@1036,33%@1036,28%@1036,26%@1036] EMC_FREQ 10%@1600 GR3D_FREQ 0%@76 NVENC 716 NVDEC 716 "
             "APE 25 PLL@57C CPU@60.5C PMIC@100C GPU@59C AO@65C thermal@59.75C POM_5V_IN {p}/4680 "
             "POM_5V_GPU 0/0 POM_5V_CPU 1078/1205")
PMIC = """ 3V7_WL_SW_A current(0)=0.00000000A
  VDD_CORE_A current(7)={a:.8f}A
   3V3_SYS_A current(8)=0.20000000A
  VDD_CORE_V volt(15)=0.89745940V
   3V3_SYS_V volt(16)=3.30000000V
     EXT5V_V volt(24)=5.06788000V
      BATT_V volt(25)=3.01110800V
"""


def write(path: Path, text, mode: int = 0o444) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(f"{text}\n")
    os.chmod(tmp, mode)
    os.replace(tmp, path)  # a reader sees the old or the new value, never half of one


def public_dirs(root: Path) -> None:
    """Every directory under root world-readable (the board user reads the tree)."""
    for d in [root, *[p for p in root.rglob("*") if p.is_dir()]]:
        os.chmod(d, 0o755)


def fake_ina3221(root: Path, rails=("VDD_IN", "VDD_CPU_GPU_CV", "VDD_SOC")) -> Path:
    """Orin Nano INA3221 (JetPack 5/6 hwmon, fixture A); `rails` of 3 labels (AGX: no VDD_IN)."""
    d = Path(root) / INA3221
    write(d / "name", "ina3221")
    for i, lab in enumerate(rails, 1):
        write(d / f"in{i}_label", lab)
        write(d / f"in{i}_input", 5096)
    write(d / "in7_label", "sum of shunt voltages")
    for i, (uv, ma) in enumerate([(5160, 1032), (720, 144), (1760, 352)], 1):
        write(d / f"in{i + 3}_input", uv)
        write(d / f"curr{i}_input", ma)
        write(d / f"shunt{i}_resistor", 5000, 0o644)
    write(d / "samples", 1, 0o644)
    write(d / "update_interval", 7, 0o644)
    link = Path(root) / "sys/class/hwmon/hwmon1"
    link.parent.mkdir(parents=True, exist_ok=True)
    if not link.exists():
        link.symlink_to(d)
    return d


def fake_ina3221_iio(root: Path) -> Path:
    """JetPack 4 (Nano) INA3221x IIO rails, mW."""
    d = Path(root) / INA3221_IIO
    for i, (lab, mw) in enumerate([("POM_5V_IN", 4520), ("POM_5V_GPU", 0), ("POM_5V_CPU", 1078)]):
        write(d / f"rail_name_{i}", lab)
        write(d / f"in_power{i}_input", mw)
        write(d / f"in_current{i}_input", mw * 1000 // 5000)
        write(d / f"in_voltage{i}_input", 5000)
    return d


def fake_ina226(root: Path, update_interval_ms: int = 35) -> Path:
    """INA226 hwmon (fixture B): power1_input in µW."""
    d = Path(root) / INA226
    write(d / "name", "ina226")
    write(d / "in0_input", 2)
    write(d / "in1_input", 5120)
    write(d / "curr1_input", 1001)
    write(d / "power1_input", 5125000)
    write(d / "shunt_resistor", 2000, 0o644)
    write(d / "update_interval", update_interval_ms, 0o644)
    return d


def fake_rapl(root: Path, energy_uj: int = 65997277274, mode: int = 0o444) -> Path:
    """powercap RAPL (fixture C); mode 0o400 reproduces the root-only energy_uj of modern kernels."""
    base = Path(root) / RAPL
    for zone, name in (("intel-rapl:0", "package-0"), ("intel-rapl:0/intel-rapl:0:0", "core"),
                       ("intel-rapl:1", "psys")):
        write(base / zone / "name", name)
        write(base / zone / "energy_uj", energy_uj, mode)
        write(base / zone / "max_energy_range_uj", 262143328850)
    sub = base / "intel-rapl:0:0"
    if not sub.exists():
        sub.symlink_to(base / "intel-rapl:0" / "intel-rapl:0:0")
    return base


def fake_thermal(root: Path, temp_mc: int = 47400, freq_khz: int = 2400000, policies: int = 1) -> None:
    """thermal_zone0 (cpu-thermal) and cpufreq policies (fixture E)."""
    write(Path(root) / "sys/class/thermal/thermal_zone0/type", "cpu-thermal")
    write(Path(root) / "sys/class/thermal/thermal_zone0/temp", temp_mc)
    for i in range(policies):
        d = Path(root) / f"sys/devices/system/cpu/cpufreq/policy{i}"
        write(d / "scaling_cur_freq", freq_khz)
        write(d / "scaling_governor", "schedutil", 0o644)


def _script(path: Path, body: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!{sys.executable}\n{body}")
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH | 0o444)
    return path


def fake_tools(bindir: Path, root: Path, jetpack: int = 6, throttled: str = "0x0") -> Path:
    """`tegrastats` (JetPack 4 or 6 lines) and `vcgencmd` (pmic_read_adc, get_throttled) in bindir.
    Both read the modelled power (mW) from ROOT/fake-power-mw when it exists."""
    line = TEGRA_JP6 if jetpack >= 5 else TEGRA_JP4
    read_p = (f"import os, sys, time\nP = {str(Path(root) / MODEL_FILE)!r}\n"
              "def power_mw(default):\n"
              "    try:\n        return float(open(P).read())\n    except (OSError, ValueError):\n"
              "        return default\n")
    _script(Path(bindir) / "tegrastats", read_p + (
        "ms = int(sys.argv[sys.argv.index('--interval') + 1]) if '--interval' in sys.argv else 1000\n"
        f"LINE = {line!r}\n"
        "while True:\n"
        "    sys.stdout.write(LINE.format(p=int(round(power_mw(5263)))) + '\\n')\n"
        "    sys.stdout.flush()\n"
        "    time.sleep(ms / 1000.0)\n"))
    _script(Path(bindir) / "vcgencmd", read_p + (
        f"PMIC = {PMIC!r}\n"
        "cmd = sys.argv[1] if len(sys.argv) > 1 else ''\n"
        "if cmd == 'pmic_read_adc':\n"
        "    # the modelled power on VDD_CORE (0.8974594 V); 3V3_SYS adds a fixed 0.66 W\n"
        "    sys.stdout.write(PMIC.format(a=(power_mw(10.87674 * 897.4594) / 1000.0 - 0.66) / 0.8974594))\n"
        f"elif cmd == 'get_throttled':\n    print('throttled={throttled}')\n"
        "else:\n    sys.exit('vcgencmd: unknown command ' + cmd)\n"))
    return Path(bindir)


def cpu_busy_total() -> tuple[int, int]:
    with open("/proc/stat") as f:
        parts = [int(x) for x in f.readline().split()[1:]]
    idle = parts[3] + (parts[4] if len(parts) > 4 else 0)
    return sum(parts) - idle, sum(parts)


def run_model(root: Path, idle_w: float, k_w: float, interval: float, log: Path) -> None:
    """Rewrite every fake sensor under root from the real CPU load until killed."""
    root = Path(root)
    ina226, ina3221 = root / INA226, root / INA3221
    rapl = root / RAPL / "intel-rapl:0"
    energy = int((rapl / "energy_uj").read_text()) if (rapl / "energy_uj").exists() else 0
    b0, t0 = cpu_busy_total()
    last = time.monotonic_ns()
    with open(log, "w", buffering=1) as out:
        while True:
            time.sleep(interval)
            b1, t1 = cpu_busy_total()
            util = (b1 - b0) / (t1 - t0) if t1 > t0 else 0.0
            b0, t0 = b1, t1
            p = idle_w + k_w * util + random.uniform(0.0, 1e-3)  # converter noise: each update differs
            now = time.monotonic_ns()
            if ina226.exists():
                write(ina226 / "power1_input", int(round(p * 1e6)))
                write(ina226 / "curr1_input", int(round(p / 5.12 * 1000)))
            if ina3221.exists():
                write(ina3221 / "curr1_input", int(round(p / 5.096 * 1000)))
            if rapl.exists():
                energy = (energy + int(p * (now - last) / 1e3)) % 262143328850
                write(rapl / "energy_uj", energy, (rapl / "energy_uj").stat().st_mode & 0o777)
            write(root / MODEL_FILE, f"{p * 1000:.3f}", 0o644)
            last = now
            out.write(f"{now} {p:.6f}\n")  # after the files: the value holds from `now` on


def start_model(root: Path, log: Path, idle_w: float = 3.0, k_w: float = 4.0,
                interval: float = 0.02) -> subprocess.Popen:
    """The power model as a child process (stop it with .terminate())."""
    return subprocess.Popen([sys.executable, "-m", "edgeeval.testing.powerboard", "model", str(root),
                             "--idle-w", str(idle_w), "--k-w", str(k_w), "--interval", str(interval),
                             "--log", str(log)])


def read_model_log(log: Path) -> list[tuple[int, float]]:
    out = []
    for line in Path(log).read_text().splitlines():
        parts = line.split()
        if len(parts) == 2:
            out.append((int(parts[0]), float(parts[1])))
    return out


def model_energy(log: Path, t0_ns: int, t1_ns: int) -> float:
    """∫ P dt (J) of the model over [t0, t1]: each logged value holds until the next one."""
    pts = read_model_log(log)
    e = 0.0
    for (ta, pa), (tb, _) in zip(pts, pts[1:] + [(max(t1_ns, pts[-1][0]), 0.0)]):
        a, b = max(ta, t0_ns), min(tb, t1_ns)
        if b > a:
            e += pa * (b - a) / 1e9
    return e


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m edgeeval.testing.powerboard")
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("model", help="run the load-driven power model on a fake tree")
    m.add_argument("root")
    m.add_argument("--idle-w", type=float, default=3.0)
    m.add_argument("--k-w", type=float, default=4.0)
    m.add_argument("--interval", type=float, default=0.02)
    m.add_argument("--log", required=True)
    args = ap.parse_args(argv)
    try:
        run_model(Path(args.root), args.idle_w, args.k_w, args.interval, Path(args.log))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
