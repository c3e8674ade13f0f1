"""The device farm: a plan of recipes x boards (plan.py), run with boards in parallel under leases
(runner.py), with health checks and quarantine (health.py); rows in store/farm.py."""
