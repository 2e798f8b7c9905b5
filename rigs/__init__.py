"""Rig files, test plans, the runner, the results store, reports, and the pytest plugin.
Uses ``gateway`` through its public API only; measurements flow up into the store, never down.
"""

# first, and cheap (hal loads the rest on first use): hal/zigpy_deferred.py must be in place before ota,
# certs or hal.radio import zigpy.ota
import hal  # noqa: F401
