"""Project-wide test configuration: strictness (malformed log calls fail the test)."""

from __future__ import annotations

import logging

import pytest


class FailOnBadFormattingHandler(logging.Handler):
    """Fail any test whose log call has arguments that do not fit its format string."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            record.getMessage()
        except Exception as exc:  # pragma: no cover - only fires on a bug
            pytest.fail(f"bad log call {record.msg!r} % {record.args!r}: {exc}")


@pytest.fixture(autouse=True)
def _strict_logging():
    handler = FailOnBadFormattingHandler()
    root = logging.getLogger()
    root.addHandler(handler)
    yield
    root.removeHandler(handler)


# ---------------------------------------------------------------- the simulated bench (hal.sim)
# Both fixtures run on looptime's virtual clock, so zigpy's timeouts, the sleepy GSME's polls and hours
# of HAN traffic cost no wall time. ``sim_bench`` switches the clock on for the whole test (fixtures are
# otherwise outside looptime); tests using ``sim_han`` are marked ``looptime`` automatically.


def pytest_collection_modifyitems(config, items):
    for item in items:
        names = getattr(item, "fixturenames", ())
        if "sim_han" in names and "sim_bench" not in names:
            item.add_marker(pytest.mark.looptime)


@pytest.fixture
async def sim_bench():
    """A started default ``sim://`` bench (all five devices interviewed) on virtual time.

    Yields zigpy's ControllerApplication; ``sim_bench.han`` is the ``hal.sim.VirtualHan`` behind it
    (devices by id: ``sim_bench.han.device("ihd")``; faults: ``sim_bench.han.inject(FaultSpec(...))``).
    Do not also mark the test ``looptime``: the clock is already virtual.
    """
    import looptime

    import hal

    with looptime.enabled(strict=True):
        async with hal.open_radio("sim://") as app:
            yield app


@pytest.fixture
def sim_han():
    """Open a ``sim://`` radio with a custom ``hal.sim.SimConfig`` on virtual time::

        async with sim_han(config) as app: ...          # config=None: the default bench
    """
    import hal

    def opener(config=None, url="sim://", **radio_config):
        return hal.open_radio(url, hal.RadioConfig(sim=config, **radio_config))

    return opener


# ---------------------------------------------------------------- the lab's services (issue: lab at scale)
# A throw-away PostgreSQL cluster on 127.0.0.1 for the whole session, one fresh database per test.
# Without the server package the tests that need it skip with the reason; with HANRIG_REQUIRE_LAB=1
# (set by .ci/run once it has installed the package) they fail instead, so CI never skips silently.


@pytest.fixture(scope="session")
def postgres_server():
    from lab_services import ServiceUnavailable, TempPostgres, lab_unavailable

    try:
        server = TempPostgres().start()
    except ServiceUnavailable as exc:
        lab_unavailable(f"PostgreSQL: {exc}")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_url(postgres_server) -> str:
    """The URL of a fresh, empty database on the session's PostgreSQL server."""
    return postgres_server.new_database()
