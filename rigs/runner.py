"""The rig runner: a rig's plan against its devices, through one gateway session, recorded live.

``run_rig(rig, options)`` opens the results store, starts (or resumes) a run with
:class:`~rigs.recorder.RunRecorder`, opens every radio of the rig as one gateway session on the radio's
clock (virtual time for an all-``sim://`` rig), and runs one pipeline per DUT: the plan's steps in
order, each under its ``timeout_s`` (TIMEOUT on expiry). DUTs run concurrently, at most
``max_concurrent_duts`` per radio. Ctrl-C (SIGINT) cancels the pipelines; every open step and the run
are recorded ABORTED and the outputs still run. ``--resume`` re-runs only the (step, DUT) pairs whose
latest attempt did not pass. Live progress goes to stderr, one line per DUT. Outputs are the
callbacks of ``rigs.outputs``; a failed one raises ``OutputError`` after the run is stored.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import logging
import signal
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

from hanrig_errors import BadInput, Unreachable

from .exceptions import OutputError, RigUnreachable, RunAborted
from .outputs import OutputCallback, outputs_for
from .recorder import RunRecorder
from .records import EventKind, MeasurementSpec, OutcomeDetail, RunOutcome, RunRecord, StepOutcome
from .rigfile import PlanStep, Rig, StepKind
from .steps import StepContext, classify_exception, step_function
from .store import Store, open_store

LOGGER = logging.getLogger(__name__)

TRACE_MAX_FRAMES = 20_000  # frames of the simulated PAN attached per step, at most


@dataclasses.dataclass(frozen=True)
class RunOptions:
    """Command-line overrides of the rig's ``[outputs]``, and what to resume."""

    results: str | None = None
    junit: Path | None = None
    html: Path | None = None
    resume: str | None = None
    operator: str | None = None
    serials: dict[str, str] = dataclasses.field(default_factory=dict)  # device id -> DUT serial number
    allow_test_keys: bool = False  # TEST-ONLY-signed images may go to real radios (recorded in the run)


@dataclasses.dataclass
class RunResult:
    """What a run produced: its record (as stored) and where the outputs went."""

    record: RunRecord
    outputs: list[str]
    store_url: str

    @property
    def outcome(self) -> RunOutcome:
        return self.record.outcome or RunOutcome.ERROR

    def summary(self) -> dict[str, Any]:
        """The ``--json`` document of ``hanrig rig run``."""
        run = self.record
        return {
            "run_id": run.run_id, "rig": run.rig_name, "outcome": str(self.outcome),
            "attempt": run.attempts, "results": self.store_url, "outputs": self.outputs,
            "start": run.start, "end": run.end,
            "details": [d.to_dict() for d in run.details],
            "duts": [{
                "id": d.id, "role": d.role, "eui64": d.eui64, "outcome": str(d.outcome),
                "steps": [{"name": s.name, "index": s.index, "attempt": s.attempt, "outcome": str(s.outcome),
                           "summary": s.summary() if s.outcome is not StepOutcome.PASS else ""}
                          for s in d.final_steps()],
            } for d in run.duts],
        }


# ------------------------------------------------------------------------------------ progress
class LiveProgress:
    """One status line per DUT (its step count and current step) on the shared progress display
    (``gateway.progress``): redrawn in place on a terminal, printed on change otherwise (OTA percentages
    in tenths, so a log stays short)."""

    def __init__(self, dut_ids: Sequence[str], stream: TextIO | None = None, tty: bool | None = None,
                 steps: dict[str, int] | None = None):
        from gateway.progress import ProgressDisplay

        self.display = ProgressDisplay(stream, tty)
        self.tty = self.display.tty
        self.order = list(dut_ids)
        self.tasks = {d: self.display.status(d, (steps or {}).get(d)) for d in self.order}
        for dut_id in self.order:
            self.tasks[dut_id].set("waiting", log=False)
        self._last_ota: dict[str, int] = {}
        self.display.progress.start()

    def set(self, dut_id: str, text: str, step: int | None = None) -> None:
        log = True
        if text.startswith("ota ") and text.endswith("%") and text[4:-1].isdigit():
            percent = int(text[4:-1])
            log = percent // 10 != self._last_ota.get(dut_id, -1) // 10 or percent == 100
            if log:
                self._last_ota[dut_id] = percent
        self.tasks[dut_id].set(text, step=step, log=log)

    def close(self) -> None:
        self.display.close()


# ------------------------------------------------------------------------------- the session
def radio_endpoints(rig: Rig) -> tuple[list[Any], dict[str, Any]]:
    """The gateway's radios for ``rig`` (``gateway.bench`` assembles each: network parameters, install
    codes, a simulated radio's bench with the TEST-ONLY PKI installed), and per simulated radio the trust
    that PKI needs to verify."""
    from gateway.bench import NetworkSettings, radio_endpoint

    document = rig.document() if rig.text else None
    endpoints = []
    trust: dict[str, Any] = {}
    for radio in rig.radios:
        codes = {d.eui64: d.install_code for d in rig.devices
                 if d.radio == radio.id and d.install_code is not None}
        network = NetworkSettings(channel=radio.channel, pan_id=radio.pan_id,
                                  extended_pan_id=radio.extended_pan_id, network_key=radio.network_key)
        endpoint, radio_trust = radio_endpoint(
            radio.id, radio.url, network, simulated=radio.is_simulated, install_codes=codes,
            document=document, source=str(rig.source or f"<rig {rig.name}>"), base=rig.base_dir)
        endpoints.append(endpoint)
        if radio_trust is not None:
            trust[radio.id] = radio_trust
    return endpoints, trust


def device_bindings(rig: Rig) -> list[Any]:
    """The rig's devices as the gateway binds them."""
    from gateway.session import DeviceBinding

    return [DeviceBinding(d.id, d.role, d.eui64, d.radio) for d in rig.devices]


def clock_url(rig: Rig) -> str:
    """A radio URL whose clock the whole run follows: virtual time only when every radio is ``sim://``
    on a virtual clock (the rig's ``[sim] clock``, unless a URL says ``clock=real``)."""
    real = [r.url for r in rig.radios if not r.is_simulated]
    if real:
        return real[0]
    clock = str(rig.sim_tables.sim.get("clock", "virtual"))
    if any("clock=real" in r.url for r in rig.radios):
        clock = "real"
    return f"sim://?clock={clock}"


def ota_limit_bps(rig: Rig) -> float | None:
    """The modelled OTA throughput limit to plot against (one device, one hop, full-size blocks)."""
    if not all(r.is_simulated for r in rig.radios):
        return None
    from gateway.ota import modelled_limit_bps

    return modelled_limit_bps()


def use_bench_keys(gw: Any, rig: Rig, trust: dict[str, Any]) -> None:
    """A simulated radio's bench PKI gives the session its GBCS keys (the remote parties' and the GPF's).
    A virtual stick opened with its control link (``?sim_control=PATH``) says which bench it serves, so
    its radio gets that bench's trust too."""
    from gateway.bench import linked_bench_trust

    for radio in rig.radios:
        if radio.id not in trust and not radio.is_simulated and (sim := gw.sim(radio.id)) is not None:
            trust[radio.id] = linked_bench_trust(sim)
    keystore = next((t.keystore for t in trust.values() if t.keystore is not None), None)
    if keystore is not None:
        gw.gbcs.use_keystore(keystore)


def radio_firmware(gw: Any, rig: Rig) -> dict[str, str]:
    """What each radio says it runs (its manufacturer, model and firmware version), for the run record."""
    found = {}
    for radio in rig.radios:
        info = gw.radio_info(radio.id)
        parts = [str(info[name]) for name in ("manufacturer", "model", "firmware_version") if info[name]]
        found[radio.id] = " ".join(parts) or str(info["stack"] or radio.url)
    return found


# ---------------------------------------------------------------------------------- the runner
class Runner:
    """Runs the pending (step, DUT) pairs of one recorder over one open gateway session."""

    def __init__(self, rig: Rig, recorder: RunRecorder, gateway: Any, progress: LiveProgress,
                 loop_to_sim: Callable[[float], float] | None, trust: dict[str, Any] | None = None):
        self.trust = trust or {}
        self.rig = rig
        self.recorder = recorder
        self.gateway = gateway
        self.progress = progress
        self.loop_to_sim = loop_to_sim
        self._limits = {r.id: asyncio.Semaphore(r.max_concurrent_duts) for r in rig.radios}

    async def run(self) -> None:
        pending = self.recorder.pending()
        by_dut: dict[str, list[PlanStep]] = {}
        for step, dut_id in pending:
            by_dut.setdefault(dut_id, []).append(step)
        for dut_id in self.progress.order:
            if dut_id not in by_dut:
                self.progress.set(dut_id, "nothing to run")
        async with asyncio.TaskGroup() as group:
            for dut_id, steps in by_dut.items():
                group.create_task(self.run_dut(dut_id, steps), name=f"dut {dut_id}")

    async def run_dut(self, dut_id: str, steps: list[PlanStep]) -> None:
        device = self.rig.device(dut_id)
        self.progress.set(dut_id, f"queued for radio {device.radio}")
        async with self._limits[device.radio]:
            for number, step in enumerate(steps):
                self.progress.set(dut_id, f"step {number + 1}/{len(steps)}: {step.name}", step=number)
                outcome = await self.run_step(step, dut_id)
                if step.step is StepKind.JOIN and outcome is not StepOutcome.PASS:
                    # nothing else can run on a device that is not on the network
                    for later in steps[steps.index(step) + 1:]:
                        record = self.recorder.begin_step(later, dut_id)
                        self.recorder.end_step(record, StepOutcome.SKIPPED,
                                               OutcomeDetail("not-joined", "the join step did not pass"))
                    break
        self._record_refusals(dut_id)   # what was refused after its last step, too
        outcome = self.recorder.dut(dut_id).outcome
        self.progress.set(dut_id, f"done: {outcome}", step=len(steps))

    def _record_refusals(self, dut_id: str) -> dict[str, int]:
        """The DUT's SE service refused so far (``policies.require_cbke``), per service, from the gateway's
        one record (``gw.cbke.refusals``), kept in the DUT's metadata as ``se_refused`` when it changed."""
        device = self.rig.device(dut_id)
        refused = self.gateway.cbke.refusals.of(device.eui64)
        dut = self.recorder.dut(dut_id)
        if refused != dut.metadata.get("se_refused", {}):
            self.recorder.update_dut(dut_id, metadata={**dut.metadata, "se_refused": refused})
        return refused

    async def run_step(self, step: PlanStep, dut_id: str) -> StepOutcome:
        device = self.rig.device(dut_id)
        record = self.recorder.begin_step(step, dut_id)

        def event(kind: EventKind, data: dict[str, Any], loop_time: float | None) -> None:
            # recorded now on the wall clock; on virtual time, when it happened goes beside it as sim_time
            if loop_time is not None and self.loop_to_sim is not None:
                data = {**data, "sim_time": self.loop_to_sim(loop_time)}
            self.recorder.event(kind, data, dut_id)

        ctx = StepContext(
            gateway=self.gateway, rig=self.rig, plan_step=step, device=device, record=record, event=event,
            progress=lambda text: self.progress.set(dut_id, text),
            update_dut=lambda **fields: self.recorder.update_dut(dut_id, **fields),
            dut=self.recorder.dut(dut_id), rig_trust=self.trust,
        )
        trace = _TraceWindow(self.gateway, device)
        refused_before = self.gateway.cbke.refusals.of(device.eui64)
        outcome: StepOutcome | None
        details: list[OutcomeDetail] = []
        try:
            async with asyncio.timeout(step.timeout_s):
                await step_function(step.step)(ctx)
            outcome = ctx.outcome
        except TimeoutError:
            outcome = StepOutcome.TIMEOUT
            details.append(OutcomeDetail("timeout",
                                         f"step {step.name} did not end within {step.timeout_s:g} s"))
        except asyncio.CancelledError:
            trace.attach(record)
            raise  # left open: the abort records it
        except Exception as exc:  # every failure of a step is recorded; the run goes on
            outcome, detail = classify_exception(exc)
            details.append(detail)
            if detail.code == "internal-error":
                LOGGER.debug("step %s of %s failed", step.name, dut_id, exc_info=True)
        trace.attach(record)
        refused = self._record_refusals(dut_id)
        during = {service: n - refused_before.get(service, 0) for service, n in refused.items()
                  if n > refused_before.get(service, 0)}
        if during:
            record.measure(SE_REFUSED, during)
        result = self.recorder.end_step(record, outcome, *details)
        self.progress.set(dut_id, f"{step.name}: {result}")
        return result


SE_REFUSED = MeasurementSpec(
    "se_refused", "", None, "SE service the hub refused this device during the step for want of a CBKE link "
    "key (policies.require_cbke), per service: requests not sent and unsolicited frames not acted on")


class _TraceWindow:
    """The simulated PAN's frames to and from one device during one step, as CSV and pcapng attachments
    (through the simulator control protocol, ``gw.sim``; nothing on a real radio)."""

    def __init__(self, gateway: Any, device: Any):
        sim = gateway.sim(device.radio)
        self.sim = sim if sim is not None and sim.has_device(device.eui64) else None
        self.start = self.sim.trace_mark() if self.sim is not None else 0
        self.eui64 = device.eui64
        self.capture = self.sim.capture_device(self.eui64) if self.sim is not None else None

    def attach(self, record: Any) -> None:
        if self.sim is None:
            return
        if self.capture is not None:
            pcapng = self.capture.stop()
            self.capture = None
            if pcapng is not None:  # the step's frames as Wireshark reads them (hal.capture)
                record.attach("capture.pcapng", "application/vnd.tcpdump.pcap", pcapng)
        frames = list(self.sim.frames(self.eui64, since=self.start)[:TRACE_MAX_FRAMES])
        if not frames:
            return
        lines = ["time_s,src,dst,profile,cluster,length,outcome,data"]
        lines += [f"{f.time:.6f},0x{f.src:04x},0x{f.dst:04x},0x{f.profile:04x},0x{f.cluster:04x},{f.length},"
                  f"{f.outcome},{f.data.hex()}" for f in frames]
        record.attach("frames.csv", "text/csv", ("\n".join(lines) + "\n").encode())


class RigSession:
    """The rig's gateway session on its own event loop (the rig's clock), for synchronous callers such
    as the pytest plugin: ``session.run(coroutine)`` runs one piece of async work on it. Between calls
    the loop is idle, so on virtual time the simulated bench does not age while tests are collected."""

    def __init__(self, rig: Rig):
        import hal

        self.rig = rig
        self.loop = hal.new_event_loop(clock_url(rig))
        self.gateway: Any = None
        self.trust: dict[str, Any] = {}
        self._stack: contextlib.AsyncExitStack | None = None
        self._anchor = (time.time(), self.loop.time())

    def clock(self) -> float:
        """Wall-clock epoch seconds (what records carry)."""
        return time.time()

    @property
    def sim_clock(self) -> Callable[[], float] | None:
        """Simulated epoch seconds from the session's wall-clock start, on a virtual-time bench (recorded
        beside the wall clock, labelled sim_time); None on real time."""
        import hal

        if not hal.parse_radio_url(clock_url(self.rig)).virtual_clock:
            return None
        wall, at = self._anchor
        return lambda: wall + (self.loop.time() - at)

    def open(self) -> Any:
        from gateway.session import Gateway

        async def enter() -> Any:
            stack = contextlib.AsyncExitStack()
            endpoints, self.trust = radio_endpoints(self.rig)
            gw = await stack.enter_async_context(Gateway.open(endpoints, device_bindings(self.rig),
                                                              self.rig.policies))
            self._stack = stack
            use_bench_keys(gw, self.rig, self.trust)
            return gw

        self.gateway = self.run(enter())
        return self.gateway

    def run(self, work: Any) -> Any:
        """Run a coroutine on the session's loop and return its result."""
        asyncio.set_event_loop(self.loop)
        try:
            return self.loop.run_until_complete(work)
        finally:
            asyncio.set_event_loop(None)

    def close(self) -> None:
        try:
            if self._stack is not None:
                self.run(self._stack.aclose())
            # tasks zigpy left behind are cancelled before the loop closes (as hal.run does)
            leftover = [t for t in asyncio.all_tasks(self.loop) if not t.done()]
            for task in leftover:
                task.cancel()
            if leftover:
                self.run(asyncio.gather(*leftover, return_exceptions=True))
            self.run(self.loop.shutdown_asyncgens())
        finally:
            self._stack = None
            self.loop.close()


# ------------------------------------------------------------------------------- entry points
def resolve_outputs(rig: Rig, options: RunOptions) -> Rig:
    """The rig with the command line's ``--results``/``--junit``/``--html`` in its ``[outputs]``."""
    changes: dict[str, Any] = {}
    if options.results is not None:
        changes["results"] = options.results
    if options.junit is not None:
        changes["junit"] = Path(options.junit)
    if options.html is not None:
        changes["html"] = Path(options.html)
    if not changes:
        return rig
    return dataclasses.replace(rig, outputs=dataclasses.replace(rig.outputs, **changes))


def run_rig(rig: Rig, options: RunOptions = RunOptions(), *, progress_stream: TextIO | None = None,
            tty: bool | None = None) -> RunResult:
    """Run (or resume) ``rig``'s plan; the store and every output are written before this returns.

    Raises ``RigUnreachable`` (a radio did not open; the run is stored as ERROR), ``RunAborted`` (Ctrl-C;
    stored as ABORTED) and ``OutputError`` (an output failed). A run whose DUTs failed returns normally:
    the caller decides the exit code from ``RunResult.outcome``.
    """
    import hal
    from hal import capture

    rig = resolve_outputs(rig, options)
    store = open_store(rig.outputs.results)
    try:
        callbacks = outputs_for(rig.outputs, store, ota_limit_bps=ota_limit_bps(rig),
                                alerts=rig.policies.alerts)
        steps = collections.Counter(dut_id for dut_id, _, _ in rig.planned())
        progress = LiveProgress([d.id for d in rig.devices], progress_stream, tty, steps=dict(steps))

        async def main() -> RunResult:
            return await _run(rig, store, options, callbacks, progress)

        # [outputs] capture: the run's HAN traffic as pcapng (the command line's --capture wins)
        wanted = rig.outputs.capture if capture.requested_writer() is None else None
        try:
            with capture.capture_to(wanted) if wanted is not None else contextlib.nullcontext():
                return hal.run(main, clock_url(rig))
        finally:
            progress.close()
    finally:
        store.close()


async def _run(rig: Rig, store: Store, options: RunOptions, callbacks: list[tuple[str, OutputCallback]],
               progress: LiveProgress) -> RunResult:
    import hal
    from gateway.session import Gateway

    loop = asyncio.get_running_loop()
    anchor_wall, anchor_loop = time.time(), loop.time()
    simulated = hal.parse_radio_url(clock_url(rig)).virtual_clock

    def loop_to_sim(loop_time: float) -> float:
        # simulated time as epoch seconds from the run's wall-clock start (labelled sim_time in records)
        return anchor_wall + (loop_time - anchor_loop)

    # One clock per record: records are on the wall clock; on virtual time, simulated time goes beside it
    sim_clock = (lambda: loop_to_sim(loop.time())) if simulated else None
    if options.resume:
        recorder = RunRecorder.resume(rig, store, options.resume, clock=time.time, sim_clock=sim_clock)
    else:
        recorder = RunRecorder.start(rig, store, operator=options.operator, serials=options.serials,
                                     clock=time.time, sim_clock=sim_clock)
    names = [name for name, _ in callbacks]
    main_task = asyncio.current_task()
    assert main_task is not None
    interrupted = {"yes": False}

    def on_sigint() -> None:
        interrupted["yes"] = True
        main_task.cancel()

    with contextlib.suppress(NotImplementedError, RuntimeError):
        loop.add_signal_handler(signal.SIGINT, on_sigint)
    try:
        try:
            endpoints, trust = radio_endpoints(rig)
            async with Gateway.open(endpoints, device_bindings(rig), rig.policies) as gw:
                recorder.record.radio_firmware = radio_firmware(gw, rig)
                store.set_radio_firmware(recorder.record.run_id, recorder.record.radio_firmware)
                use_bench_keys(gw, rig, trust)
                if options.allow_test_keys:
                    gw.ota.configure(allow_test_keys=True)
                    gw.certs.allow_test_keys = True
                    recorder.event(EventKind.LOG, {"message": "--allow-test-keys given: images signed with "
                                                   "the published TEST-ONLY key may go to real radios, and "
                                                   "TEST-ONLY certificate chains are trusted there",
                                                   "allow_test_keys": True})
                await Runner(rig, recorder, gw, progress, loop_to_sim if simulated else None, trust).run()
        except asyncio.CancelledError:
            if not interrupted["yes"]:
                raise
            recorder.abort(callbacks, "interrupted by the operator (SIGINT)")
            raise RunAborted(f"run {recorder.record.run_id}: aborted by the operator; "
                             f"resume it with --resume {recorder.record.run_id}") from None
        except Unreachable as exc:
            # a radio lost mid-run (e.g. its labgrid place) cancels the steps in flight: ERROR, resumable
            recorder.end_open_steps(StepOutcome.ERROR, OutcomeDetail("radio-unreachable", str(exc)))
            recorder.finish(callbacks, RunOutcome.ERROR, OutcomeDetail("radio-unreachable", str(exc)))
            raise RigUnreachable(f"run {recorder.record.run_id}: {exc}") from None
        except BadInput as exc:
            if isinstance(exc, OutputError):
                raise
            recorder.finish(callbacks, RunOutcome.ERROR, OutcomeDetail("rig-error", str(exc)))
            raise
        except Exception as exc:
            # nothing may leave a run incomplete: an error nobody foresaw still finishes it as ERROR
            recorder.finish(callbacks, RunOutcome.ERROR,
                            OutcomeDetail("internal-error", f"{type(exc).__name__}: {exc}"))
            raise
    finally:
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.remove_signal_handler(signal.SIGINT)
    recorder.finish(callbacks)
    return RunResult(recorder.record, names, store.url)
