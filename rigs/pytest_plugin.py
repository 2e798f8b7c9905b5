"""hanrig's pytest plugin (entry point ``pytest11``): ``--hanrig-rig`` and the ``hardware`` marker.

The rig, gateway and dut fixtures arrive with the rig runner; this module already registers the
options so that every pytest run in an environment with hanrig installed sees a stable interface.
"""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("hanrig")
    group.addoption("--hanrig-rig", "--rig", dest="hanrig_rig", default=None, metavar="RIG.toml",
                    help="hanrig rig file to run device tests against (env HANRIG_RIG).")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "hardware: needs a real radio; skipped when the rig has none")
