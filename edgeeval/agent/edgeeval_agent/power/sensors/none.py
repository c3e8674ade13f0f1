"""No power sensor: the power fields are null with the reason."""

from .base import SENSORS, Sensor


@SENSORS.register
class NoSensor(Sensor):
    """No power source on this board: the power fields are null with the reason."""

    name = "none"
