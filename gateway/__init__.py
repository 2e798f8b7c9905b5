"""The HAN host on top of zigpy: a session over one or more radios, devices by role, and one module
per feature (GPF, load control, inventory, alerts, change of tenancy, OTA server glue), plus the
``hanrig`` CLI in ``gateway.cli``. Imports ``hal``, ``ota`` and ``certs``; only the CLI imports ``rigs``.
"""

# first, and cheap (hal loads the rest on first use): hal/zigpy_deferred.py must be in place before ota,
# certs or hal.radio import zigpy.ota
import hal  # noqa: F401

__version__ = "0.1.0"
