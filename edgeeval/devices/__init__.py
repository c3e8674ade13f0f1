"""Devices: the inventory of boards, the built-in `local` device, and host key trust."""

from .inventory import Device, Inventory, connect, load_inventory

__all__ = ["Device", "Inventory", "connect", "load_inventory"]
