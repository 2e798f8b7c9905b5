"""hanrig's pytest plugin (entry point ``pytest11``), after labgrid's: a rig, its gateway, its DUTs.

The session's rig comes from ``--hanrig-rig`` (alias ``--rig``) or ``HANRIG_RIG``, else the built-in
simulated bench; it is loaded only when asked for (an explicit rig file, a ``hardware`` test, or one of
the fixtures), so pytest runs that do not use hanrig pay nothing. Tests marked ``hardware`` are skipped,
with the rig named in the reason, when the rig has no real radio. A malformed rig file is a usage error.

Fixtures (session state lives in ``config.stash``):

* ``rig`` (session): the typed ``Rig``; where it came from goes into the JUnit testsuite properties;
* ``gateway`` (session): a :class:`~rigs.runner.RigSession` with the rig's radios open
  (``gateway.gateway`` is the ``gateway.session.Gateway``; ``gateway.run(coroutine)`` runs async work on
  the rig's clock, virtual time on ``sim://``). Tests using it are plain (sync) test functions. Once
  the gateway failed to open, every later test that needs it is skipped instead of retrying;
* ``dut``: one test per device of the rig, or only those ``@pytest.mark.dut("IHD", "esme", ...)`` names
  (roles or device ids; anything else is a usage error). ``dut.han`` is the joined ``HanDevice``.

Every test that used ``dut`` is recorded as a step of one run per session in the rig's results store
(``--hanrig-results`` overrides it), so ``hanrig results list`` shows pytest sessions too.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from typing import Any

import pytest

from hal.roles import Role

from .exceptions import RigFileError
from .records import OutcomeDetail, StepOutcome, StepRecord, worst
from .rigfile import DeviceSpec, Rig, default_rig, load_rig

RIG_ENV = "HANRIG_RIG"
RIG_KEY = pytest.StashKey[Rig]()
SESSION_KEY = pytest.StashKey["_PluginState"]()
DUT_STEP_BASE = 1000  # step indexes of pytest-recorded steps, clear of any plan's


@dataclasses.dataclass
class Dut:
    """A device under test as a test sees it: the rig's spec and, once joined, the gateway's device."""

    spec: DeviceSpec
    han: Any

    @property
    def id(self) -> str:
        return self.spec.id

    @property
    def role(self) -> Role:
        return self.spec.role

    @property
    def eui64(self) -> str:
        return self.spec.eui64


@dataclasses.dataclass
class _PluginState:
    session: Any = None  # rigs.runner.RigSession
    broken: str | None = None  # why the gateway could not open (later tests skip)
    recorder: Any = None  # rigs.recorder.RunRecorder
    store: Any = None
    steps: int = 0
    outcomes: list[StepOutcome] = dataclasses.field(default_factory=list)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("hanrig")
    group.addoption("--hanrig-rig", "--rig", dest="hanrig_rig", default=None, metavar="RIG.toml",
                    help="hanrig rig file to run device tests against (env HANRIG_RIG).")
    group.addoption("--hanrig-results", dest="hanrig_results", default=None, metavar="DIR_OR_URL",
                    help="Results store for the tests' records (default: the rig's [outputs] results).")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "hardware: needs a real radio; skipped when the rig has none")
    config.addinivalue_line("markers", "dut(*roles_or_ids): run the dut fixture only for these devices")
    config.stash[SESSION_KEY] = _PluginState()


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


# ------------------------------------------------------------------------------------ fixtures
def _selected(rig: Rig, marker: pytest.Mark | None, where: str) -> list[DeviceSpec]:
    if marker is None:
        return list(rig.devices)
    if marker.kwargs or not marker.args or not all(isinstance(a, str) for a in marker.args):
        raise pytest.UsageError(f"{where}: @pytest.mark.dut takes roles or device ids as strings, "
                                "e.g. @pytest.mark.dut(\"IHD\", \"esme\")")
    chosen = []
    for name in marker.args:
        found = [d for d in rig.devices if d.id == name or str(d.role) == name]
        if not found and name not in {r.value for r in Role}:
            known = ", ".join(d.id for d in rig.devices)
            raise pytest.UsageError(f"{where}: @pytest.mark.dut({name!r}): no such role or device in rig "
                                    f"{rig.name!r} (devices: {known})")
        chosen += [d for d in found if d not in chosen]
    return chosen


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "dut" not in metafunc.fixturenames:
        return
    rig = session_rig(metafunc.config)
    devices = _selected(rig, metafunc.definition.get_closest_marker("dut"), metafunc.definition.nodeid)
    if not devices:
        # a role the rig has no device of: the test is collected once and skipped, not silently dropped
        metafunc.parametrize("dut", [pytest.param(None, marks=pytest.mark.skip(
            reason=f"hanrig: rig {rig.name!r} has no device of the roles asked for"))], ids=["none"])
        return
    metafunc.parametrize("dut", [d.id for d in devices], ids=[d.id for d in devices], indirect=True)


@pytest.fixture(scope="session")
def rig(request: pytest.FixtureRequest, record_testsuite_property: Any) -> Rig:
    """The session's rig (``--hanrig-rig`` / ``HANRIG_RIG``, else the built-in simulated bench)."""
    loaded = session_rig(request.config)
    record_testsuite_property("hanrig_rig", loaded.name)
    record_testsuite_property("hanrig_rig_file", str(loaded.source) if rig_path(request.config)
                              else "built-in simulated bench")
    record_testsuite_property("hanrig_radios", " ".join(r.url for r in loaded.radios))
    return loaded


@pytest.fixture(scope="session")
def gateway(request: pytest.FixtureRequest, rig: Rig, record_testsuite_property: Any) -> Iterator[Any]:
    """The rig's radios open as one gateway session (a ``rigs.runner.RigSession``)."""
    from .runner import RigSession

    state = request.config.stash[SESSION_KEY]
    session = RigSession(rig)
    try:
        session.open()
    except Exception as exc:
        state.broken = f"{type(exc).__name__}: {exc}"
        session.loop.close()
        raise
    state.session = session
    _start_run(request.config, rig, state, record_testsuite_property)
    try:
        yield session
    finally:
        _finish_run(state)
        state.session = None
        session.close()


@pytest.fixture
def dut(request: pytest.FixtureRequest, gateway: Any, rig: Rig) -> Iterator[Dut]:
    """One device under test of the rig (see ``@pytest.mark.dut``), recorded as a step of the run."""
    spec = rig.device(request.param)
    state = request.config.stash[SESSION_KEY]
    han = gateway.gateway.device(spec.eui64)
    record = None
    if state.recorder is not None:
        state.steps += 1
        record = StepRecord(request.node.name, DUT_STEP_BASE + state.steps, spec.id, start=gateway.clock())
    yield Dut(spec, han)
    if record is not None:
        call = getattr(request.node, "_hanrig_call", None)
        outcome, details = _step_outcome(call)
        state.outcomes.append(state.recorder.end_step(record, outcome, *details))


def _step_outcome(report: pytest.TestReport | None) -> tuple[StepOutcome, list[OutcomeDetail]]:
    if report is None:
        return StepOutcome.ERROR, [OutcomeDetail("no-result", "the test did not run its call phase")]
    if report.passed:
        return StepOutcome.PASS, []
    if report.skipped:
        return StepOutcome.SKIPPED, [OutcomeDetail("skipped", str(report.longrepr)[-200:])]
    crash = getattr(report.longrepr, "reprcrash", None)
    line = crash.message if crash is not None else (report.longreprtext.strip() or "failed")
    return StepOutcome.FAIL, [OutcomeDetail("test-failed", line.splitlines()[0][:500])]


def pytest_runtest_setup(item: pytest.Item) -> None:
    # labgrid's never_retry: once the gateway failed to open, later tests skip instead of failing again
    state = item.config.stash.get(SESSION_KEY, None)
    if state is not None and state.broken is not None and \
            {"gateway", "dut"} & set(getattr(item, "fixturenames", ())):
        pytest.skip(f"hanrig: the rig's gateway failed to open earlier ({state.broken})")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[Any]:
    report = yield
    if report.when == "call":
        item._hanrig_call = report  # type: ignore[attr-defined]
    return report


def _start_run(config: pytest.Config, rig: Rig, state: _PluginState, record_property: Any) -> None:
    from .recorder import RunRecorder
    from .store import open_store

    target = config.getoption("hanrig_results", default=None) or rig.outputs.results
    state.store = open_store(target)
    state.recorder = RunRecorder.start(rig, state.store, clock=state.session.clock,
                                       sim_clock=state.session.sim_clock)
    record_property("hanrig_run_id", state.recorder.record.run_id)
    record_property("hanrig_results", state.store.url)


def _finish_run(state: _PluginState) -> None:
    if state.recorder is None:
        return
    try:
        # the tests, not the rig's plan, are what ran: the outcome is theirs, never "plan not run"
        state.recorder.finish([], worst(state.outcomes),
                              OutcomeDetail("pytest", f"{len(state.outcomes)} device test(s) recorded"))
    finally:
        state.store.close()
        state.recorder = None
