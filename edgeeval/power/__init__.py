"""Power and energy on the controller: the math on the agent's raw samples, host-side meters.

    energy.py   de-duplication, counter differences with wraparound, trapezoidal integration
    stats.py    mean ± std, 95% t-interval and CV over repeated windows
    summary.py  the `power` and `thermal` blocks of a variant's summary; raw blobs for the store
    meters.py   meters on the controller (SCPI over TCP, Joulescope) for boards with no sensor
    align.py    board phase stamps -> host clock, with a guard band

The agent (edgeeval/agent/edgeeval_agent/power/) only reads sensors and
stamps samples; every number reported is computed here, so a stored run can be recomputed.
"""
