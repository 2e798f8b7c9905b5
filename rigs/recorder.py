"""The bookkeeping of a run as it happens: the ``RunRecord`` and the store kept in step.

The runner (``rigs/runner.py``) drives devices; this records what happened, live, so that a killed
process leaves a consistent store: the run is inserted as running before the first step, every step
is committed when it ends, events are streamed in batches, and ``finish`` closes the run and hands
the record to the output callbacks. ``resume`` reopens a run and lists only what did not pass.
``abort`` (Ctrl-C) ends every open step and the run as ABORTED.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from .exceptions import StoreError
from .outputs import OutputCallback, run_outputs
from .records import (
    DutRecord,
    Event,
    EventKind,
    MeasurementSpec,
    OutcomeDetail,
    RunOutcome,
    RunRecord,
    StepOutcome,
    StepRecord,
)
from .rigfile import PlanStep, Rig
from .store import Store

SIM_DURATION = MeasurementSpec("sim_duration_s", "s",
                               description="simulated time the step took (start and end are wall-clock)")
EVENT_FLUSH = 500  # events buffered before they are written; steps flush them too


class RunRecorder:
    """Keeps one run's record and its rows in the store in step; one per run, one attempt at a time."""

    def __init__(self, rig: Rig, store: Store, record: RunRecord, attempt: int = 1,
                 clock: Callable[[], float] = time.time, sim_clock: Callable[[], float] | None = None):
        self.rig = rig
        self.store = store
        self.record = record
        self.attempt = attempt
        # One clock per record: ``clock`` is the wall clock every record's time is on; ``sim_clock``
        # (simulated epoch seconds, only where a simulator runs on virtual time) is recorded beside it,
        # labelled: events carry ``sim_time``, steps a ``sim_duration_s`` measurement.
        self._clock = clock
        self._sim_clock = sim_clock
        self._sim_start: dict[tuple[str, int], float] = {}
        self._started = clock()
        self._sim_started = sim_clock() if sim_clock is not None else None
        self._events: list[Event] = []
        self._open: dict[tuple[str, int], StepRecord] = {}

    @classmethod
    def start(cls, rig: Rig, store: Store, *, operator: str | None = None,
              radio_firmware: dict[str, str] | None = None, serials: dict[str, str] | None = None,
              clock: Callable[[], float] = time.time,
              sim_clock: Callable[[], float] | None = None) -> RunRecorder:
        """A new run of ``rig``, inserted in the store as running before anything else happens.
        ``serials`` (device id -> the DUT's serial number, as the operator read it; else the rig file's
        ``serial``) go into each DUT's metadata, for the report's identity block; the operator is the
        one given, else the rig's ``[rig] operator``, else the login name."""
        record = RunRecord.new(rig, operator=operator or rig.operator, start=clock())
        record.radio_firmware = dict(radio_firmware or {})
        given = {d.id: d.serial for d in rig.devices if d.serial} | dict(serials or {})  # flags win
        for dut_id, serial in given.items():
            record.dut(dut_id).metadata["serial"] = serial
        store.begin_run(record)
        return cls(rig, store, record, 1, clock, sim_clock)

    @classmethod
    def resume(cls, rig: Rig, store: Store, run_id: str, clock: Callable[[], float] = time.time,
               sim_clock: Callable[[], float] | None = None) -> RunRecorder:
        """Reopen run ``run_id`` (an id or unique prefix) for another attempt at what did not pass."""
        record = store.load_run(run_id)
        if record.rig_name != rig.name:
            raise StoreError(f"run {record.run_id}: made with rig {record.rig_name!r}, not {rig.name!r}; "
                             "resume it with the same rig")
        known = {d.id for d in record.duts}
        unknown = [d.id for d in rig.devices if d.id not in known]
        if unknown:
            raise StoreError(f"run {record.run_id}: the rig now has devices the run never had: "
                             f"{', '.join(unknown)}")
        attempt = store.begin_attempt(record.run_id)
        record.attempts, record.end, record.outcome = attempt, None, None
        return cls(rig, store, record, attempt, clock, sim_clock)

    # -- what to run ---------------------------------------------------------------------------

    def pending(self) -> list[tuple[PlanStep, str]]:
        """(plan step, device id) still to run, in plan order: everything, or on resume what did not pass."""
        todo = set(self.store.not_passed(self.record.run_id, self.rig.planned()))
        return [(step, device.id) for step in self.rig.plan for device in self.rig.devices_for(step)
                if (device.id, step.index, step.name) in todo]

    # -- while it runs -------------------------------------------------------------------------

    def dut(self, dut_id: str) -> DutRecord:
        return self.record.dut(dut_id)

    def begin_step(self, step: PlanStep, dut_id: str) -> StepRecord:
        """An open step record the runner fills with measurements and attachments."""
        key = (dut_id, step.index)
        if key in self._open:
            raise ValueError(f"step {step.index} ({step.name}) of {dut_id!r} is already open")
        record = StepRecord(step.name, step.index, dut_id, start=self._clock(), attempt=self.attempt)
        self._open[key] = record
        if self._sim_clock is not None:
            self._sim_start[key] = self._sim_clock()
        return record

    def end_step(self, step: StepRecord, outcome: StepOutcome | None = None,
                 *details: OutcomeDetail) -> StepOutcome:
        """Close a step and commit it (with the events so far) before anything else runs."""
        self._open.pop((step.dut_id, step.index), None)
        sim_start = self._sim_start.pop((step.dut_id, step.index), None)
        if self._sim_clock is not None and sim_start is not None:
            step.measure(SIM_DURATION, round(self._sim_clock() - sim_start, 3))
        result = step.finish(outcome, *details, end=self._clock())
        self.flush_events()
        self.store.record_step(self.record.run_id, step)
        self.dut(step.dut_id).steps.append(step)
        return result

    def event(self, kind: EventKind, data: dict[str, Any], dut_id: str | None = None,
              at: float | None = None) -> None:
        """Record a sample (alert, OTA progress, gas reading); written in batches."""
        if self._sim_clock is not None and "sim_time" not in data:
            data = {**data, "sim_time": self._sim_clock()}
        event = Event(self._clock() if at is None else at, kind, data, dut_id)
        (self.dut(dut_id).events if dut_id is not None else self.record.events).append(event)
        self._events.append(event)
        if len(self._events) >= EVENT_FLUSH:
            self.flush_events()

    def flush_events(self) -> None:
        if self._events:
            self.store.add_events(self.record.run_id, self._events, attempt=self.attempt)
            self._events = []

    def update_dut(self, dut_id: str, **fields: Any) -> DutRecord:
        """Write what was learnt about a device (model, firmware_before/after, image_hash, ...)."""
        dut = self.dut(dut_id)
        for name, value in fields.items():
            if name not in ("manufacturer", "model", "firmware_before", "firmware_after", "image_hash",
                            "metadata"):
                raise ValueError(f"DUT field {name!r} cannot be updated")
            setattr(dut, name, value)
        self.store.update_dut(self.record.run_id, dut)
        return dut

    # -- the end -------------------------------------------------------------------------------

    def finish(self, callbacks: Iterable[tuple[str, OutputCallback]] = (), outcome: RunOutcome | None = None,
               *details: OutcomeDetail) -> RunOutcome:
        """Close the run in the store, then give the record to every output callback.

        Without an explicit outcome it is the worst of the DUTs', or ERROR if planned steps never ran.
        Raises ``OutputError`` when an output failed (the run's own rows are already committed).
        """
        if self._open:
            names = ", ".join(f"{d}:{i}" for d, i in self._open)
            raise ValueError(f"steps still open: {names} (end or abort them first)")
        self.flush_events()
        recorded = {(d.id, s.index) for d in self.record.duts for s in d.steps}
        never_ran = [f"{d}:{name}" for d, i, name in self.rig.planned() if (d, i) not in recorded]
        if never_ran and outcome is None:
            # A plan that stopped short is the rig's failure, never a PASS by omission.
            outcome = RunOutcome.ERROR
            shown = ", ".join(never_ran[:8]) + (", ..." if len(never_ran) > 8 else "")
            details = (*details,
                       OutcomeDetail("not-run", f"{len(never_ran)} planned steps never ran: {shown}"))
        if self._sim_clock is not None and self._sim_started is not None:
            sim_s, wall_s = self._sim_clock() - self._sim_started, self._clock() - self._started
            self.event(EventKind.LOG, {
                "message": f"{sim_s:.1f} s of simulated time in {wall_s:.1f} s of wall time",
                "sim_elapsed_s": round(sim_s, 3), "wall_elapsed_s": round(wall_s, 3)})
            self.flush_events()
        result = self.record.finish(outcome, *details, end=self._clock())
        self.store.finish_run(self.record)
        run_outputs(self.record, callbacks)
        return result

    def end_open_steps(self, outcome: StepOutcome, detail: OutcomeDetail) -> None:
        """End every step still open (its work was cancelled) with ``outcome``, so the run can finish."""
        for step in list(self._open.values()):
            self.end_step(step, outcome, detail)

    def abort(self, callbacks: Iterable[tuple[str, OutputCallback]] = (),
              reason: str = "interrupted by the operator") -> RunOutcome:
        """End every open step and the run as ABORTED (Ctrl-C), leaving the store consistent."""
        self.end_open_steps(StepOutcome.ABORTED, OutcomeDetail("aborted", reason))
        return self.finish(callbacks, RunOutcome.ABORTED, OutcomeDetail("aborted", reason))
