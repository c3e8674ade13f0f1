"""On-board power and thermal sampling (docs/architecture.md, "Power and thermal"): sensor
drivers in sensors/, the sampler thread, the thermal sampler, the power phases."""
