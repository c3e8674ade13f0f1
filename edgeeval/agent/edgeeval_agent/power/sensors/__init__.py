"""Power sensors, one small module each, registered by name (job.power.sensor)."""

from . import hwmon, ina3221, none, rapl, rpi5_pmic, tegrastats  # noqa: F401  (each registers itself)
from .base import SENSORS  # noqa: F401
