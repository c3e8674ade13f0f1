"""Transports: how the controller reaches a board (SSH via paramiko, or `local`)."""
