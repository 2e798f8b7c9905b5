"""hanrig's pytest plugin (entry point ``pytest11``): ``--hanrig-rig`` and the ``hardware`` marker.

The session's rig comes from ``--hanrig-rig`` (alias ``--rig``) or ``HANRIG_RIG``, else the built-in
simulated bench; it is loaded only when asked for (an explicit rig file, or a ``hardware`` test), so
pytest runs that do not use hanrig pay nothing. Tests marked ``hardware`` are skipped, with the rig
named in the reason, when the rig has no real radio. A malformed rig file is a usage error.
The rig, gateway and dut fixtures arrive with the rig runner; they read the rig with ``session_rig``.
"""

from __future__ import annotations

import os

import pytest

from .exceptions import RigFileError
from .rigfile import Rig, default_rig, load_rig

RIG_ENV = "HANRIG_RIG"
RIG_KEY = pytest.StashKey[Rig]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("hanrig")
    group.addoption("--hanrig-rig", "--rig", dest="hanrig_rig", default=None, metavar="RIG.toml",
                    help="hanrig rig file to run device tests against (env HANRIG_RIG).")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "hardware: needs a real radio; skipped when the rig has none")


def rig_path(config: pytest.Config) -> str | None:
    """The rig file this session was given, if any."""
    return config.getoption("hanrig_rig", default=None) or os.environ.get(RIG_ENV) or None


def session_rig(config: pytest.Config) -> Rig:
    """The session's rig, loaded once: the given rig file, or the built-in simulated bench."""
    rig = config.stash.get(RIG_KEY, None)
    if rig is None:
        path = rig_path(config)
        try:
            rig = load_rig(path) if path else default_rig(base_dir=config.rootpath)
        except RigFileError as exc:
            raise pytest.UsageError(f"hanrig: {exc}") from None
        config.stash[RIG_KEY] = rig
    return rig


def pytest_report_header(config: pytest.Config) -> str | None:
    path = rig_path(config)
    return f"hanrig rig: {path}" if path else None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    hardware = []
    for item in items:
        marker = item.get_closest_marker("hardware")
        if marker is None:
            continue
        if marker.args or marker.kwargs:
            raise pytest.UsageError(f"{item.nodeid}: @pytest.mark.hardware takes no arguments")
        hardware.append(item)
    if not hardware and rig_path(config) is None:
        return
    rig = session_rig(config)  # an explicit rig file is checked even when no test needs hardware
    if not rig.has_real_radios:
        where = str(rig.source) if rig_path(config) else "the built-in simulated bench"
        skip = pytest.mark.skip(reason=f"hardware: rig {rig.name!r} ({where}) has no real radio, only sim://")
        for item in hardware:
            item.add_marker(skip)
