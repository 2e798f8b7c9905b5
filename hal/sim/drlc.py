"""The simulated HCALCS's Demand Response and Load Control (0x0701) client: its load event engine.

The hub (DRLC server) sends Load Control Event / Cancel commands; the HCALCS schedules each event on its
own clock, applies a randomised start offset, switches its load and reports every step back with Report
Event Status (client to server, command 0x00), as SE 1.x annex D.2 describes. What hanrig fixes where
the standard leaves room (documented in the README):

* **Level.** The commanded level travels in the event's Duty Cycle field (0..100 %). The HCALCS is a
  switch: level 100 switches the load on, any other level switches it off (SECMP0046's ALCS rule).
  When the event ends (completed or cancelled) the switch returns to the state it had before the first
  event that took control.
* **Randomised start.** With Event Control bit 0 set, the device draws a whole-second offset uniformly
  from ``0 .. min(60 * StartRandomizationMinutes, 1800) - 1`` (so never beyond 1799 s) and reports the
  actual start time in the Event Started status; the offset is that time minus the scheduled start.
* **Overlapping events** (same device class, scheduled intervals overlap): the newer event supersedes
  the older one. A superseded event that has not started is reported Event Superseded (0x07) at once and
  never runs; one already running keeps control until the newer event's effective start, then is
  reported Event Superseded instead of Event Completed.
* A repeated Issuer Event ID is ignored (SE: duplicates are not re-processed); an event for another
  device class, longer than 1440 minutes or with a duty cycle above 100 is reported Rejected (0xFE); one
  whose end has passed is reported Rejected - Event Expired (0xFB); cancelling an unknown event is
  reported 0xFD. A Cancel with a future Effective Time cancels then.

:class:`LoadControlMode` is the device's behaviour: a DRLC client, a plain On/Off switch with no DRLC
client (the gateway then drives On/Off), or a faulty one that ignores every load control command.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from hal.se_clusters import (
    DUTY_CYCLE_UNUSED,
    MAX_DURATION_MINUTES,
    START_TIME_NOW,
    TEMPERATURE_SET_POINT_APPLIED_UNUSED,
    UNSIGNED_SIGNATURE,
    CriticalityLevel,
    DemandResponseLoadControl,
    DeviceClass,
    EventControl,
    EventStatus,
    SignatureType,
)

from .wire import ZclFrame, zcl_cluster_command

LOGGER = logging.getLogger(__name__)

DRLC_CLUSTER_ID: Final = DemandResponseLoadControl.cluster_id
MAX_START_OFFSET_S: Final = 1799  # SECMP0046 / DUIS: randomised offset limit 0..1799 s
LEVEL_ON: Final = 100
DEFAULT_START_RANDOMIZATION_MINUTES: Final = 30  # SE D.2.3.2.2 default (0x1E)
HCALCS_DEVICE_CLASS: Final = DeviceClass.electric_vehicle | DeviceClass.simple_misc_loads
AVERAGE_LOAD_ADJUSTMENT_APPLIED_UNUSED: Final = -0x80
CLOCK_STEP_S: Final = 0.01


class LoadControlMode(enum.StrEnum):
    """How a simulated HCALCS takes load control (rig file ``[devices.sim] load_control``)."""

    DRLC = "drlc"  # DRLC client: schedules events itself
    ON_OFF_ONLY = "on_off_only"  # no DRLC client cluster: only On/Off commands
    IGNORE_EVENTS = "ignore_events"  # fault: a DRLC client that silently ignores every command


class SwitchHost(Protocol):
    """What the engine needs from the device that carries it."""

    def utc_now(self) -> int: ...
    def random(self) -> float: ...
    def next_tsn(self) -> int: ...
    def spawn(self, coro: Coroutine[Any, Any, Any], *, behaviour: bool = False) -> asyncio.Task[Any]: ...
    async def send_to_hub(self, cluster_id: int, data: bytes) -> None: ...
    def set_switch(self, on: bool) -> None: ...
    @property
    def is_on(self) -> bool: ...


class Phase(enum.Enum):
    """Where an event is in its life on the device."""

    SCHEDULED = "scheduled"
    RUNNING = "running"
    DONE = "done"


@dataclass
class DeviceEvent:
    """One load control event as the device holds it."""

    issuer_event_id: int
    device_class: int
    start_utc: int  # scheduled start (Start Time 0 resolved to the time of receipt)
    duration_s: int
    level: int
    criticality: int
    event_control: int
    offset_s: int
    phase: Phase = Phase.SCHEDULED
    superseded_by: int | None = None
    task: asyncio.Task[Any] | None = field(default=None, repr=False)

    @property
    def end_utc(self) -> int:
        return self.start_utc + self.duration_s

    def overlaps(self, other: DeviceEvent) -> bool:
        return (self.start_utc < other.end_utc and other.start_utc < self.end_utc
                and bool(self.device_class & other.device_class))


@dataclass(frozen=True)
class StatusRecord:
    """A Report Event Status the device sent: which event, what status, at what device time."""

    issuer_event_id: int
    status: EventStatus
    time_utc: int


class DrlcEngine:
    """The load event engine of one simulated HCALCS (see the module docstring for the rules)."""

    def __init__(self, host: SwitchHost, mode: LoadControlMode = LoadControlMode.DRLC) -> None:
        self.host = host
        self.mode = mode
        self.events: dict[int, DeviceEvent] = {}
        self.reports: list[StatusRecord] = []
        self.ignored: list[str] = []  # commands dropped by the IGNORE_EVENTS fault
        self._restore_state: bool | None = None  # switch state before the event in control took it
        self.attributes: dict[int, Any] = {
            DemandResponseLoadControl.AttributeDefs.utility_enrollment_group.id: 0,
            DemandResponseLoadControl.AttributeDefs.start_randomization_minutes.id:
                DEFAULT_START_RANDOMIZATION_MINUTES,
            DemandResponseLoadControl.AttributeDefs.duration_randomization_minutes.id: 0,
            DemandResponseLoadControl.AttributeDefs.device_class_value.id: HCALCS_DEVICE_CLASS,
        }

    # ------------------------------------------------------------------ commands in
    async def handle(self, frame: ZclFrame) -> bool:
        """A DRLC command from the hub; True when it is one this engine understands."""
        if not frame.from_server or frame.payload is None:
            return False
        if self.mode is LoadControlMode.IGNORE_EVENTS:
            self.ignored.append(frame.name)
            LOGGER.info("drlc: ignoring %s (ignore_events fault)", frame.name)
            return True
        match frame.name:
            case "load_control_event":
                await self._load_control_event(frame.payload)
            case "cancel_load_control_event":
                await self._cancel(frame.payload)
            case "cancel_all_load_control_events":
                for event in [e for e in self.events.values() if e.phase is not Phase.DONE]:
                    await self._finish(event, EventStatus.Event_Cancelled)
            case _:
                return False
        return True

    def _offset(self, event_control: int) -> int:
        if not event_control & EventControl.randomize_start_time:
            return 0
        minutes = int(self.attributes[DemandResponseLoadControl.AttributeDefs.start_randomization_minutes.id])
        window = min(60 * minutes, MAX_START_OFFSET_S + 1)
        return int(self.host.random() * window) if window > 0 else 0

    async def _load_control_event(self, args: Any) -> None:
        event_id = int(args.issuer_event_id)
        if event_id in self.events:
            LOGGER.info("drlc: duplicate event 0x%08x ignored", event_id)
            return
        now = self.host.utc_now()
        start = now if int(args.start_time) == START_TIME_NOW else int(args.start_time)
        event = DeviceEvent(
            issuer_event_id=event_id, device_class=int(args.device_class), start_utc=start,
            duration_s=60 * int(args.duration_in_minutes),
            level=int(args.duty_cycle) if int(args.duty_cycle) != DUTY_CYCLE_UNUSED else LEVEL_ON,
            criticality=int(args.criticality_level), event_control=int(args.event_control),
            offset_s=self._offset(int(args.event_control)))
        own_class = int(self.attributes[DemandResponseLoadControl.AttributeDefs.device_class_value.id])
        if (not event.device_class & own_class or int(args.duration_in_minutes) > MAX_DURATION_MINUTES
                or event.level > 100):
            await self._report(event, EventStatus.Rejected)
            return
        if event.end_utc <= now:
            await self._report(event, EventStatus.Rejected_Event_Expired)
            return
        self.events[event_id] = event
        superseded = []
        for older in list(self.events.values()):
            if older is event or older.phase is Phase.DONE or not older.overlaps(event):
                continue
            older.superseded_by = event_id
            if older.phase is Phase.SCHEDULED:
                older.phase = Phase.DONE  # decided now, before any await lets another frame in
                superseded.append(older)
        # the task exists before the first await, so a frame processed meanwhile can supersede it
        event.task = self.host.spawn(self._run(event))
        await self._report(event, EventStatus.Load_Control_Event_Received)
        for older in superseded:  # never started: nothing to switch back
            if older.task is not None:
                older.task.cancel()
                older.task = None
            await self._report(older, EventStatus.Event_Superseded)

    async def _cancel(self, args: Any) -> None:
        event = self.events.get(int(args.issuer_event_id))
        if event is None or event.phase is Phase.DONE:
            probe = DeviceEvent(int(args.issuer_event_id), int(args.device_class), 0, 0, 0, 0, 0, 0)
            await self._report(probe, EventStatus.Rejected_Invalid_Cancel_Undefined_Event)
            return
        effective = int(args.effective_time)
        delay = effective - self.host.utc_now() if effective != START_TIME_NOW else 0
        if delay > 0:
            self.host.spawn(self._cancel_later(event, delay))
        else:
            await self._finish(event, EventStatus.Event_Cancelled)

    async def _cancel_later(self, event: DeviceEvent, delay: float) -> None:
        await self._sleep_until(self.host.utc_now() + int(delay))
        if event.phase is not Phase.DONE:
            await self._finish(event, EventStatus.Event_Cancelled)

    # ------------------------------------------------------------------ event life
    async def _run(self, event: DeviceEvent) -> None:
        begin = max(event.start_utc, self.host.utc_now()) + event.offset_s
        await self._sleep_until(begin)
        if event.phase is not Phase.SCHEDULED:
            return
        for older in list(self.events.values()):
            if older.superseded_by == event.issuer_event_id and older.phase is Phase.RUNNING:
                await self._finish(older, EventStatus.Event_Superseded, restore=False)
        if self._restore_state is None:
            self._restore_state = self.host.is_on
        event.phase = Phase.RUNNING
        self.host.set_switch(event.level == LEVEL_ON)
        await self._report(event, EventStatus.Event_Started)
        await self._sleep_until(event.end_utc + event.offset_s)
        event.task = None  # finishing from inside the task: nothing to cancel
        await self._finish(event, EventStatus.Event_Completed)

    async def _sleep_until(self, utc: int) -> None:
        """Sleep until the device clock reads ``utc`` (whole seconds; steps past float rounding)."""
        await asyncio.sleep(max(0, utc - self.host.utc_now()))
        while self.host.utc_now() < utc:
            await asyncio.sleep(CLOCK_STEP_S)

    def _running(self) -> list[DeviceEvent]:
        return [e for e in self.events.values() if e.phase is Phase.RUNNING]

    async def _finish(self, event: DeviceEvent, status: EventStatus, *, restore: bool = True) -> None:
        was_running = event.phase is Phase.RUNNING
        event.phase = Phase.DONE
        if event.task is not None and event.task is not asyncio.current_task():
            event.task.cancel()
        event.task = None
        if was_running and restore and not self._running() and self._restore_state is not None:
            self.host.set_switch(self._restore_state)
            self._restore_state = None
        await self._report(event, status)

    # ------------------------------------------------------------------ status out
    async def _report(self, event: DeviceEvent, status: EventStatus) -> None:
        now = self.host.utc_now()
        self.reports.append(StatusRecord(event.issuer_event_id, status, now))
        applied = event.phase is Phase.RUNNING or status is EventStatus.Event_Started
        data = zcl_cluster_command(
            DemandResponseLoadControl, self.host.next_tsn(), "report_event_status", server_to_client=False,
            disable_default_response=True,
            issuer_event_id=event.issuer_event_id,
            event_status=status,
            event_status_time=now,
            criticality_level_applied=CriticalityLevel(event.criticality) if applied else CriticalityLevel(0),
            cooling_temperature_set_point_applied=TEMPERATURE_SET_POINT_APPLIED_UNUSED,
            heating_temperature_set_point_applied=TEMPERATURE_SET_POINT_APPLIED_UNUSED,
            average_load_adjustment_percentage_applied=AVERAGE_LOAD_ADJUSTMENT_APPLIED_UNUSED,
            duty_cycle_applied=event.level if applied else DUTY_CYCLE_UNUSED,
            event_control=EventControl(event.event_control),
            signature_type=SignatureType.No_Signature,
            signature=UNSIGNED_SIGNATURE,
        )
        LOGGER.debug("drlc: event 0x%08x %s", event.issuer_event_id, status.name)
        await self.host.send_to_hub(DRLC_CLUSTER_ID, data)
