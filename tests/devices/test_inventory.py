"""Inventory YAML: schema errors are one line each with FILE:LINE; names unique across files."""

from __future__ import annotations

import sys
import textwrap

import pytest

from edgeeval.devices.inventory import connect, load_inventory
from edgeeval.errors import EXIT_USER_ERROR, UserInputError
from edgeeval.transport.local import LocalTransport
from edgeeval.transport.ssh import SSHTransport


def _write(tmp_path, text, name="devices.yaml"):
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return p


GOOD = """\
devices:
  - name: pi5
    ssh: pi@192.0.2.10:2222
    python: /usr/bin/python3
    timeouts: {connect: 3, command: 90}
    runtime: {providers: [CPUExecutionProvider], intra_op_num_threads: 4, session_config: {a: "1"}}
    tags: [arm64]
    facts: {price_usd: 80, tdp_w: 12, notes: "fan", shelf: 3}
"""


def test_good_inventory_and_builtin_local(tmp_path):
    inv = load_inventory(_write(tmp_path, GOOD))
    pi = inv.get("pi5")
    assert pi.workdir == "~/.edgeeval" and pi.timeouts.command == 90 and pi.facts.model_extra == {"shelf": 3}
    assert pi.source == f"{tmp_path / 'devices.yaml'}:2"
    assert set(inv.names()) == {"local", "pi5"}
    local = inv.get("local")
    assert local.python == sys.executable and isinstance(connect(local), LocalTransport)
    tr = connect(pi)
    assert isinstance(tr, SSHTransport)
    assert (tr.target.host, tr.target.port, tr.target.user, tr.target.connect_timeout) == ("192.0.2.10", 2222, "pi", 3)


def test_unknown_device_lists_known_names(tmp_path):
    inv = load_inventory(_write(tmp_path, GOOD))
    with pytest.raises(UserInputError, match="known devices: local, pi5"):
        inv.get("jetson")


@pytest.mark.parametrize("body, line, words", [
    ("  - name: a\n    ssh: a@h\n    colour: red\n", 4, "colour: unknown field"),
    ("  - name: a\n    ssh: a@h\n    timeouts: {connect: soon}\n", 4, "timeouts.connect"),
    ("  - name: a\n    ssh: a@h\n    workdir: /opt/../etc\n", 4, "'..'"),
    ("  - name: a\n    ssh: a@h\n    runtime: {threads: 2}\n", 4, "runtime.threads: unknown field"),
    ("  - name: a\n    ssh: a@h\n    facts: {price_usd: -1}\n", 4, "facts.price_usd"),
    ("  - name: a\n", 2, "no `ssh:`"),
    ("  - name: a\n    ssh: a@h\n  - name: a\n    ssh: b@h\n", 4, "already used"),
])
def test_each_problem_is_one_line_with_file_and_line(tmp_path, body, line, words):
    p = _write(tmp_path, "devices:\n" + body)
    with pytest.raises(UserInputError) as ei:
        load_inventory(p)
    assert ei.value.exit_code == EXIT_USER_ERROR
    assert len(ei.value.problems) == 1, ei.value.problems
    problem = ei.value.problems[0]
    assert problem.startswith(f"{p}:{line}:") and words in problem and "\n" not in problem


def test_missing_file_and_syntax_error(tmp_path):
    with pytest.raises(UserInputError, match="not found") as ei:
        load_inventory(tmp_path / "nope.yaml")
    assert ei.value.exit_code == EXIT_USER_ERROR
    p = _write(tmp_path, "devices:\n  - name: [\n")
    with pytest.raises(UserInputError, match=f"{p}:\\d+"):
        load_inventory(p)


def test_directory_names_unique_across_files(tmp_path):
    _write(tmp_path, "devices:\n  - name: a\n    ssh: a@h\n", "one.yaml")
    _write(tmp_path, "devices:\n  - name: b\n    ssh: b@h\n", "two.yaml")
    assert set(load_inventory(tmp_path).names()) == {"local", "a", "b"}
    _write(tmp_path, "devices:\n  - name: x\n    ssh: x@h\n  - name: a\n    ssh: c@h\n", "three.yaml")
    with pytest.raises(UserInputError) as ei:
        load_inventory(tmp_path)
    (problem,) = ei.value.problems
    assert "three.yaml:4" in problem and "one.yaml:2" in problem


def test_local_can_be_redefined(tmp_path):
    inv = load_inventory(_write(tmp_path, "devices:\n  - name: local\n    python: python3\n"))
    assert inv.get("local").python == "python3" and isinstance(connect(inv.get("local")), LocalTransport)


def test_ssh_config_alias_resolution(tmp_path):
    cfg = _write(tmp_path, """\
        Host hop
          HostName 192.0.2.1
          User jumper
        Host board-*
          HostName 192.0.2.20
          Port 2200
          User pi
          IdentityFile ~/keys/a
          IdentityFile ~/keys/b
          ProxyJump hop,root@192.0.2.2:2022
          UserKnownHostsFile ~/kh1 ~/kh2
        """, "ssh_config")
    inv = load_inventory(_write(tmp_path, f"devices:\n  - name: b\n    ssh: board-7\n    ssh_config: {cfg}\n"))
    t = connect(inv.get("b")).target
    assert (t.host, t.port, t.user) == ("192.0.2.20", 2200, "pi")
    assert [p.rsplit("/", 1)[1] for p in t.identity_files] == ["a", "b"]
    assert [p.rsplit("/", 1)[1] for p in t.known_hosts_files] == ["kh1", "kh2"]
    j2 = t.proxy_jump
    assert (j2.host, j2.port, j2.user) == ("192.0.2.2", 2022, "root")
    assert (j2.proxy_jump.host, j2.proxy_jump.user, j2.proxy_jump.proxy_jump) == ("192.0.2.1", "jumper", None)
    t2 = connect(load_inventory(_write(tmp_path, f"devices:\n  - name: c\n    ssh: me@board-1:23\n"
                                                 f"    ssh_config: {cfg}\n", "c.yaml")).get("c")).target
    assert (t2.user, t2.port) == ("me", 23)


HWMON = {"sensor": "hwmon", "chip": "ina226", "path": "/sys/class/hwmon/hwmon2", "mode": "power", "rails": ["in"]}
RAPL_LOCKED = {"sensor": "rapl", "path": "/sys/class/powercap", "rails": ["package-0"], "readable": False,
               "reason": "energy_uj: permission denied"}
PMIC = {"sensor": "rpi5-pmic", "path": "/usr/bin/vcgencmd", "rails": None}


@pytest.mark.parametrize("found, sensor, chip", [
    ([PMIC, HWMON], "hwmon", "ina226"),                 # a supply-rail monitor beats the PMIC estimate
    ([RAPL_LOCKED, PMIC], "rpi5-pmic", None),           # an unreadable source is never chosen
    ([{**HWMON, "sensor": "ina3221", "chip": "ina3221"}, HWMON], "ina3221", "ina3221"),
])
def test_power_sensor_auto_takes_the_best_readable_source(found, sensor, chip):
    from edgeeval.devices.inventory import PowerSettings

    auto = PowerSettings(sensor="auto")
    power, record = auto.resolve({"sensors": found})
    assert power.sensor == sensor and power.chip == chip
    assert record["chosen_by"] == "auto" and record["sensor"] == sensor
    assert power.job()["sensor"] == sensor                     # the agent never sees "auto"
    assert PowerSettings(sensor="rapl").resolve({"sensors": found})[0].sensor == "rapl"   # explicit wins


@pytest.mark.parametrize("facts, words", [
    ({"sensors": []}, "found no readable power sensor"),
    ({"sensors": [RAPL_LOCKED]}, "permission denied"),
    ({"sensors": None, "sensors_reason": "probe crashed"}, "could not list sensors: probe crashed"),
])
def test_power_sensor_auto_without_a_sensor_is_none_with_the_reason(facts, words):
    from edgeeval.devices.inventory import PowerSettings

    power, record = PowerSettings(sensor="auto").resolve(facts)
    assert power.sensor == "none" and record["sensor"] == "none"
    assert words in power.reason and "devices check" in power.reason


def test_a_genai_deploy_needs_onnxruntime_genai_and_check_says_how_to_install_it():
    from edgeeval.boardjob import runtimes_needed
    from edgeeval.devices.check import analyse, blocking

    facts = {"python": {"version": "3.11.2"}, "numpy": {"version": "1.26.4"},
             "runtimes": {"onnxruntime": {"version": "1.20.1", "providers": ["CPUExecutionProvider"]},
                          "onnxruntime_genai": {"error": "ModuleNotFoundError: No module named 'onnxruntime_genai'"},
                          "llama_cpp": {"version": "0.3.16"}},
             "disk": {"free_bytes": 2 ** 34, "path": "/tmp"}}
    v = type("V", (), {"path": "m.onnx"})()
    assert blocking(analyse(facts, python="python3", **runtimes_needed([v]))) == []
    missing = blocking(analyse(facts, python="python3", **runtimes_needed([v], "onnxruntime-genai")))
    assert [(f.item, f.fix) for f in missing] == [
        ("onnxruntime_genai", "on the board: python3 -m pip install onnxruntime-genai")]
    # a runner the board has, not asked for: listed with its version
    found = {f.item: f for f in analyse(facts, python="python3", **runtimes_needed([v]))}
    assert found["llama_cpp"].status == "ok" and found["llama_cpp"].detail == "0.3.16"
