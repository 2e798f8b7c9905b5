"""The test record: what a run produced, in OpenHTF's spirit (run → DUT → step → measurement).

Run, step and measurement outcomes are separate enums. FAIL means a DUT breached a spec; ERROR means
the rig failed (radio, power, bench certificates). A measurement is declared with units and a
validator, and its outcome is computed from its value: there is no way to set it by hand. Records are
plain dataclasses that turn into JSON-friendly dicts and back; outputs (store, JSON, JUnit, HTML,
evidence packs) take the finished ``RunRecord``.
"""

from __future__ import annotations

import datetime as dt
import enum
import getpass
import hashlib
import importlib.metadata
import math
import re
import secrets
import socket
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from .rigfile import Rig


class RunOutcome(enum.StrEnum):
    """How a whole run ended."""

    PASS = "PASS"
    FAIL = "FAIL"        # at least one DUT breached a spec
    ERROR = "ERROR"      # the rig failed (radio, power, bench certificates, an output)
    SKIPPED = "SKIPPED"  # nothing ran
    TIMEOUT = "TIMEOUT"
    ABORTED = "ABORTED"  # stopped by the operator (Ctrl-C)


class StepOutcome(enum.StrEnum):
    """How one step ended for one DUT."""

    PASS = "PASS"
    FAIL = "FAIL"
    ERROR = "ERROR"
    SKIPPED = "SKIPPED"
    TIMEOUT = "TIMEOUT"
    ABORTED = "ABORTED"


class MeasurementOutcome(enum.StrEnum):
    """A measurement's verdict, computed from its value and validator."""

    PASS = "PASS"
    FAIL = "FAIL"
    UNSET = "UNSET"  # declared but no value was taken


class RunStatus(enum.StrEnum):
    """Where a run is in its life; a run left ``running`` by a dead process is ``incomplete``."""

    RUNNING = "running"
    FINISHED = "finished"
    INCOMPLETE = "incomplete"


class EventKind(enum.StrEnum):
    """Time-stamped samples recorded during a run, in bulk."""

    ALERT = "alert"                # data: code, forwarded (bool)
    OTA_PROGRESS = "ota_progress"  # data: offset, total
    GAS_READING = "gas_reading"    # data: clock_status, value, ...
    JOIN = "join"
    LEAVE = "leave"
    LOG = "log"


# Severity for combining outcomes: the worst one wins. ABORTED beats everything because a run the
# operator stopped says nothing reliable about the DUTs.
_SEVERITY = {"SKIPPED": 0, "PASS": 1, "FAIL": 2, "TIMEOUT": 3, "ERROR": 4, "ABORTED": 5}


def worst(outcomes: Iterable[StepOutcome | RunOutcome]) -> RunOutcome:
    """The combined outcome: the most severe one; PASS if some passed and the rest were skipped."""
    seen = [str(o) for o in outcomes]
    if not seen:
        return RunOutcome.SKIPPED
    return RunOutcome(max(seen, key=_SEVERITY.__getitem__))


# --------------------------------------------------------------------------------------------------
# Validators and measurements


class Validator(Protocol):
    """Decides whether a measured value is within spec, and whether it is marginal."""

    def check(self, value: Any) -> bool: ...
    def is_marginal(self, value: Any) -> bool: ...
    def describe(self) -> str: ...
    def to_dict(self) -> dict[str, Any]: ...


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and not math.isnan(value)


@dataclass(frozen=True)
class InRange:
    """``low <= value <= high`` (either bound optional); inside but beyond a marginal bound is marginal."""

    low: float | None = None
    high: float | None = None
    marginal_low: float | None = None
    marginal_high: float | None = None

    def __post_init__(self) -> None:
        if self.low is None and self.high is None:
            raise ValueError("InRange needs a low or a high limit")
        if self.low is not None and self.high is not None and self.low > self.high:
            raise ValueError(f"InRange low {self.low} above high {self.high}")

    def check(self, value: Any) -> bool:
        if not _is_number(value):
            return False
        return (self.low is None or value >= self.low) and (self.high is None or value <= self.high)

    def is_marginal(self, value: Any) -> bool:
        if not self.check(value):
            return False
        return ((self.marginal_low is not None and value <= self.marginal_low)
                or (self.marginal_high is not None and value >= self.marginal_high))

    def describe(self) -> str:
        if self.low is not None and self.high is not None:
            return f"{self.low:g} <= x <= {self.high:g}"
        return f"x >= {self.low:g}" if self.low is not None else f"x <= {self.high:g}"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "in_range", "low": self.low, "high": self.high,
                "marginal_low": self.marginal_low, "marginal_high": self.marginal_high}


@dataclass(frozen=True)
class Equals:
    """The value must equal ``expected`` exactly."""

    expected: Any

    def check(self, value: Any) -> bool:
        return value == self.expected and type(value) is type(self.expected)

    def is_marginal(self, value: Any) -> bool:
        return False

    def describe(self) -> str:
        return f"x == {self.expected!r}"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "equals", "expected": self.expected}


@dataclass(frozen=True)
class OneOf:
    """The value must be one of ``allowed``."""

    allowed: tuple[Any, ...]

    def check(self, value: Any) -> bool:
        return value in self.allowed

    def is_marginal(self, value: Any) -> bool:
        return False

    def describe(self) -> str:
        return "x in {" + ", ".join(repr(a) for a in self.allowed) + "}"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "one_of", "allowed": list(self.allowed)}


@dataclass(frozen=True)
class Matches:
    """The value must be a string matching ``pattern`` in full."""

    pattern: str

    def check(self, value: Any) -> bool:
        return isinstance(value, str) and re.fullmatch(self.pattern, value) is not None

    def is_marginal(self, value: Any) -> bool:
        return False

    def describe(self) -> str:
        return f"x matches /{self.pattern}/"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "matches", "pattern": self.pattern}


def validator_from_dict(data: Mapping[str, Any] | None) -> Validator | None:
    """Rebuild a validator stored by ``to_dict`` (in the store or a JSON record)."""
    if data is None:
        return None
    kind = data.get("kind")
    if kind == "in_range":
        return InRange(data.get("low"), data.get("high"), data.get("marginal_low"), data.get("marginal_high"))
    if kind == "equals":
        return Equals(data["expected"])
    if kind == "one_of":
        return OneOf(tuple(data["allowed"]))
    if kind == "matches":
        return Matches(data["pattern"])
    raise ValueError(f"unknown validator kind {kind!r}")


@dataclass(frozen=True)
class Measurement:
    """A measured value with its units and validator; ``outcome`` and ``marginal`` are derived."""

    name: str
    value: Any
    units: str = ""
    validator: Validator | None = None
    description: str = ""
    outcome: MeasurementOutcome = field(init=False)
    marginal: bool = field(init=False)

    def __post_init__(self) -> None:
        if self.value is None:
            outcome, marginal = MeasurementOutcome.UNSET, False
        elif self.validator is None:  # recorded for information only
            outcome, marginal = MeasurementOutcome.PASS, False
        elif self.validator.check(self.value):
            outcome, marginal = MeasurementOutcome.PASS, self.validator.is_marginal(self.value)
        else:
            outcome, marginal = MeasurementOutcome.FAIL, False
        object.__setattr__(self, "outcome", outcome)
        object.__setattr__(self, "marginal", marginal)

    @property
    def limits(self) -> str:
        return self.validator.describe() if self.validator is not None else ""

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "value": self.value, "units": self.units, "limits": self.limits,
                "validator": self.validator.to_dict() if self.validator else None,
                "outcome": str(self.outcome), "marginal": self.marginal, "description": self.description}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Measurement:
        return cls(data["name"], data["value"], data.get("units", ""),
                   validator_from_dict(data.get("validator")), data.get("description", ""))


@dataclass(frozen=True)
class MeasurementSpec:
    """A declared measurement: its name, units and limits, before any value is taken."""

    name: str
    units: str = ""
    validator: Validator | None = None
    description: str = ""

    def measure(self, value: Any) -> Measurement:
        return Measurement(self.name, value, self.units, self.validator, self.description)


# --------------------------------------------------------------------------------------------------
# Records


@dataclass(frozen=True)
class OutcomeDetail:
    """Why an outcome is what it is: a short machine code and a human description."""

    code: str
    description: str

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "description": self.description}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> OutcomeDetail:
        return cls(data["code"], data["description"])


@dataclass(frozen=True)
class Attachment:
    """A file a step produced (log, frame trace, certificate): its bytes, or a path to them."""

    name: str
    mimetype: str
    data: bytes | None = None
    path: Path | None = None

    def __post_init__(self) -> None:
        if (self.data is None) == (self.path is None):
            raise ValueError(f"attachment {self.name!r}: give data or path, exactly one")

    def read(self) -> bytes:
        return self.data if self.data is not None else Path(self.path).read_bytes()  # type: ignore[arg-type]

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.read()).hexdigest()

    @property
    def size(self) -> int:
        return len(self.data) if self.data is not None else Path(self.path).stat().st_size  # type: ignore[arg-type]


@dataclass(frozen=True)
class Event:
    """A time-stamped sample: an alert, an OTA progress sample, a gas reading.

    ``time`` is wall-clock epoch seconds (when it was recorded); on a simulated bench ``data["sim_time"]``
    is when it happened on the simulated clock (epoch seconds counted from the run's wall-clock start)."""

    time: float
    kind: EventKind
    data: Mapping[str, Any] = field(default_factory=dict)
    dut_id: str | None = None

    @property
    def run_time(self) -> float:
        """When it happened on the clock the devices ran on: simulated time if any, else wall time
        (what plots of rates and intervals must use)."""
        sim = self.data.get("sim_time")
        return float(sim) if isinstance(sim, int | float) and not isinstance(sim, bool) else self.time

    def to_dict(self) -> dict[str, Any]:
        return {"time": self.time, "kind": str(self.kind), "data": dict(self.data), "dut_id": self.dut_id}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Event:
        return cls(float(data["time"]), EventKind(data["kind"]), dict(data.get("data") or {}),
                   data.get("dut_id"))


@dataclass
class StepRecord:
    """One plan step run against one DUT (one attempt of it; a resumed run adds attempts)."""

    name: str
    index: int
    dut_id: str
    start: float
    end: float | None = None
    outcome: StepOutcome | None = None
    details: list[OutcomeDetail] = field(default_factory=list)
    measurements: list[Measurement] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    attempt: int = 1

    def measure(self, spec: MeasurementSpec, value: Any) -> Measurement:
        measurement = spec.measure(value)
        self.measurements.append(measurement)
        return measurement

    def attach(self, name: str, mimetype: str, data: bytes | None = None,
               path: Path | None = None) -> Attachment:
        attachment = Attachment(name, mimetype, data, path)
        self.attachments.append(attachment)
        return attachment

    def finish(self, outcome: StepOutcome | None = None, *details: OutcomeDetail,
               end: float | None = None) -> StepOutcome:
        """Close the step. PASS (or no outcome) is only granted when no measurement failed."""
        self.details.extend(details)
        failed = [m.name for m in self.measurements if m.outcome is MeasurementOutcome.FAIL]
        if outcome in (None, StepOutcome.PASS) and failed:
            outcome = StepOutcome.FAIL
            self.details.append(OutcomeDetail("measurement-failed", "out of limits: " + ", ".join(failed)))
        self.outcome = outcome or StepOutcome.PASS
        self.end = end if end is not None else time.time()
        return self.outcome

    @property
    def duration(self) -> float:
        return max(0.0, (self.end or self.start) - self.start)

    def failing_measurements(self) -> list[Measurement]:
        return [m for m in self.measurements if m.outcome is MeasurementOutcome.FAIL]

    def summary(self) -> str:
        """One line on why the step ended as it did (for JUnit messages and reports)."""
        parts = [f"{d.code}: {d.description}" for d in self.details]
        parts += [f"{m.name} = {m.value!r} {m.units} (limits {m.limits})".replace("  ", " ")
                  for m in self.failing_measurements()]
        return "; ".join(parts) or str(self.outcome or "running")

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "index": self.index, "dut_id": self.dut_id, "attempt": self.attempt,
            "start": self.start, "end": self.end, "start_time": iso(self.start),
            "end_time": iso(self.end) if self.end is not None else None,
            "outcome": str(self.outcome) if self.outcome else None,
            "details": [d.to_dict() for d in self.details],
            "measurements": [m.to_dict() for m in self.measurements],
            "attachments": [{"name": a.name, "mimetype": a.mimetype, "size": a.size, "sha256": a.sha256}
                            for a in self.attachments],
        }


@dataclass
class DutRecord:
    """One device under test and everything the run did to it."""

    id: str
    role: str
    eui64: str
    radio: str = ""
    manufacturer: str | None = None
    model: str | None = None
    firmware_before: int | None = None
    firmware_after: int | None = None
    image_hash: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    steps: list[StepRecord] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)

    def final_steps(self) -> list[StepRecord]:
        """The latest attempt of each step, in plan order."""
        latest: dict[int, StepRecord] = {}
        for step in self.steps:
            if step.index not in latest or step.attempt >= latest[step.index].attempt:
                latest[step.index] = step
        return [latest[i] for i in sorted(latest)]

    def step(self, name: str) -> StepRecord | None:
        """The latest attempt of the first step called ``name``."""
        for step in self.final_steps():
            if step.name == name:
                return step
        return None

    @property
    def outcome(self) -> RunOutcome:
        return worst(s.outcome or StepOutcome.ABORTED for s in self.final_steps())


@dataclass
class RunRecord:
    """One run of a rig's plan: where, by whom, with which software, and every DUT's record."""

    run_id: str
    rig_name: str
    rig_snapshot: str
    host: str
    operator: str
    versions: dict[str, str]
    start: float
    radio_firmware: dict[str, str] = field(default_factory=dict)
    end: float | None = None
    outcome: RunOutcome | None = None
    status: RunStatus = RunStatus.RUNNING
    details: list[OutcomeDetail] = field(default_factory=list)
    duts: list[DutRecord] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    attempts: int = 1

    @classmethod
    def new(cls, rig: Rig, operator: str | None = None, run_id: str | None = None,
            start: float | None = None) -> RunRecord:
        """A fresh record for ``rig``: host, operator and versions captured now, one DUT per device."""
        start = time.time() if start is None else start
        return cls(
            run_id=run_id or new_run_id(start), rig_name=rig.name, rig_snapshot=rig.text,
            host=socket.gethostname(), operator=operator or _login_name(), versions=collect_versions(),
            start=start,
            duts=[DutRecord(d.id, str(d.role), d.eui64, d.radio) for d in rig.devices],
        )

    def dut(self, dut_id: str) -> DutRecord:
        for dut in self.duts:
            if dut.id == dut_id:
                return dut
        raise KeyError(dut_id)

    def all_events(self) -> list[Event]:
        return sorted([*self.events, *(e for d in self.duts for e in d.events)], key=lambda e: e.time)

    def finish(self, outcome: RunOutcome | None = None, *details: OutcomeDetail,
               end: float | None = None) -> RunOutcome:
        """Close the run; without an explicit outcome it is the worst of its DUTs'."""
        self.details.extend(details)
        derived = worst(d.outcome for d in self.duts if d.steps)
        self.outcome = outcome if outcome is not None else derived
        self.end = end if end is not None else time.time()
        self.status = RunStatus.FINISHED
        return self.outcome


def new_run_id(start: float | None = None) -> str:
    """A sortable, unique run id: UTC start time plus random hex (``20261129T015500-1a2b3c4d``)."""
    stamp = dt.datetime.fromtimestamp(time.time() if start is None else start, dt.UTC)
    return f"{stamp:%Y%m%dT%H%M%S}-{secrets.token_hex(4)}"


def iso(timestamp: float | None) -> str | None:
    """Epoch seconds as an ISO 8601 UTC string with milliseconds."""
    if timestamp is None:
        return None
    stamp = dt.datetime.fromtimestamp(timestamp, dt.UTC)
    return stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def collect_versions() -> dict[str, str]:
    """Installed versions of hanrig and the radio libraries, for the record."""
    versions = {}
    for dist in ("hanrig", "zigpy", "bellows", "zigpy-znp", "zigpy-deconz"):
        try:
            versions[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def _login_name() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name in a bare container
        return "unknown"
