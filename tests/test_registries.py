"""Names registered in one place and accepted in another agree: sensors (agent ↔ controller ↔
inventory), host meters (power/meters.py ↔ inventory)."""

from __future__ import annotations

import re

from edgeeval.agent.edgeeval_agent.power.sensors import SENSORS as AGENT_SENSORS
from edgeeval.devices.inventory import AUTO_PREFERENCE, MeterSettings, PowerSettings
from edgeeval.jobdefaults import SENSORS
from edgeeval.power.meters import METERS


def _pattern_names(model, field):
    pattern = next(m.pattern for m in model.model_fields[field].metadata if hasattr(m, "pattern"))
    return sorted(re.fullmatch(r"\^\((.*)\)\$", pattern).group(1).split("|"))


def test_power_sensor_names_agree():
    assert sorted(AGENT_SENSORS) == sorted(SENSORS)
    assert _pattern_names(PowerSettings, "sensor") == sorted([*SENSORS, "auto"])
    assert set(AUTO_PREFERENCE) <= set(SENSORS)


def test_host_meter_names_agree():
    assert _pattern_names(MeterSettings, "type") == METERS.names()
