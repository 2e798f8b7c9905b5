"""HCALCS load control (SECMP0046): load events to a HAN-connected auxiliary load control switch.

The hub is the Demand Response and Load Control (0x0701) server. A load event is on, off or a level
(100 = on; any other level = off for a switch), a start time, a duration and a randomised start offset
limit of 0..1799 s that the *device* applies and reports back. hanrig's encoding and checks (README):

* **DRLC** when the device has a DRLC client cluster: the level travels in Duty Cycle (0..100 %),
  Device Class is electric vehicle | simple misc loads, Criticality Green, duration in whole minutes
  (1..1440). With a randomise limit of S > 0 s, the hub writes the device's StartRandomizationMinutes
  to ceil(S / 60) and sets Event Control bit 0; the device may then start up to
  ``min(60 * minutes, 1800) - 1`` s late (never beyond 1799 s). The device's Report Event Status frames
  (Received, Started, Completed, Superseded, Cancelled, Rejected...) are followed per event; the offset
  is the Event Started time minus the scheduled start.
* **On/Off** (0x0006) when that is all the device offers: the hub itself waits for the start, draws and
  applies the offset, switches, and switches back at the end (``offset_applied_by = "host"``). The
  result says the device is On/Off-only, and its start and end are measured from the device's own
  OnOff attribute reports (when they arrive), never from the hub's own commands: a switch that does not
  report its change has not shown that it switched.
* **Checks**: the device acknowledged (DRLC: a Report Event Status within ``ack_timeout_s``), did not
  reject, started within its window, its offset lies within bounds, and the On/Off state read back after
  the start (and, when followed to the end, after it) is what the event asked for. Any miss is a problem
  on the result, so a device that ignores events fails the check.
* **Policy**: who may command (rig ``policies.hcalcs_commanders``: supplier, network-operator); a refused
  command raises :class:`CommandRefused` saying which role and what the policy allows.

Report Event Status frames arrive through the session's one input door (``gateway.han_input``): a
malformed one is logged with the device and the reason, counted and ignored; one for an event this
session did not send is counted as unsolicited.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import math
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

import zigpy.types as zigpy_t
from zigpy.exceptions import ZigbeeException
from zigpy.zcl import foundation
from zigpy.zcl.clusters.general import OnOff

from hal.se_clusters import (
    TEMPERATURE_OFFSET_UNUSED,
    TEMPERATURE_SET_POINT_UNUSED,
    CriticalityLevel,
    DemandResponseLoadControl,
    DeviceClass,
    EventControl,
    EventStatus,
)
from hal.zigpy_fixes import radio_utc_now
from hanrig_errors import HanrigError

from .cbke import LOADCONTROL
from .exceptions import CommandRefused, DeviceNotFound, LoadControlError
from .han_input import FrameSource, HanInput, MalformedFrame

if TYPE_CHECKING:
    from .session import Gateway, HanDevice

LOGGER = logging.getLogger(__name__)

DRLC: Final = DemandResponseLoadControl.cluster_id
REPORT_EVENT_STATUS: Final = DemandResponseLoadControl.ServerCommandDefs.report_event_status.id
LEVEL_ON: Final = 100
MAX_OFFSET_S: Final = 1799
MAX_DURATION_S: Final = 1440 * 60
DEFAULT_DURATION_S: Final = 1800
HCALCS_DEVICE_CLASS: Final = DeviceClass.electric_vehicle | DeviceClass.simple_misc_loads
ACK_TIMEOUT_S: Final = 30.0  # a device must acknowledge a load control event within this
START_MARGIN_S: Final = 60.0  # slack after the latest allowed start (and end) before "did not start"
CLOCK_TOLERANCE_S: Final = 2  # device vs hub clock, in whole seconds, when judging the offset
AVERAGE_LOAD_ADJUSTMENT_UNUSED: Final = -0x80
DUTY_CYCLE_UNUSED: Final = 0xFF

_DEFINED_STATUSES: Final = frozenset(int(s) for s in EventStatus)
_FINAL_STATUSES: Final = frozenset({
    EventStatus.Event_Completed, EventStatus.Event_Cancelled, EventStatus.Event_Superseded,
    EventStatus.Rejected, EventStatus.Rejected_Event_Expired, EventStatus.Event_Completed_No_Participation,
    EventStatus.Event_Partially_Completed_Opt_In, EventStatus.Event_Partially_Completed_Opt_Out,
})
_REJECTIONS: Final = frozenset({EventStatus.Rejected, EventStatus.Rejected_Event_Expired})


def zcl_utc(moment: datetime) -> int:
    """A datetime as ZCL UTCTime (seconds since 2000-01-01T00:00:00Z), by zigpy's own type."""
    return int(zigpy_t.UTCTime.from_datetime(moment))


def from_zcl_utc(seconds: int) -> datetime:
    return zigpy_t.UTCTime(seconds).to_datetime()


class Commander(enum.StrEnum):
    """Who a load control command is sent on behalf of."""

    SUPPLIER = "supplier"
    NETWORK_OPERATOR = "network-operator"


class Transport(enum.StrEnum):
    """How the event reaches the device."""

    DRLC = "drlc"
    ON_OFF = "on_off"


@dataclass(frozen=True)
class LoadControlPolicy:
    """Who may command, and how long the hub waits (rig ``policies.hcalcs_commanders``)."""

    commanders: frozenset[Commander] = frozenset(Commander)
    ack_timeout_s: float = ACK_TIMEOUT_S
    start_margin_s: float = START_MARGIN_S

    @classmethod
    def of(cls, commanders: Iterable[str], **kwargs: Any) -> LoadControlPolicy:
        return cls(commanders=frozenset(Commander(c) for c in commanders), **kwargs)


@dataclass(frozen=True)
class LoadCommand:
    """One load event as asked for."""

    level: int  # 0..100; 100 switches a switch on, anything else off
    start: datetime | None = None  # None: now
    duration_s: int = DEFAULT_DURATION_S
    randomise_s: int = 0  # randomised start offset limit, 0..1799 s
    commander: Commander = Commander.SUPPLIER

    @property
    def expect_on(self) -> bool:
        return self.level == LEVEL_ON

    def check(self) -> None:
        if not 0 <= self.level <= 100:
            raise LoadControlError(f"load control: level {self.level} outside 0..100")
        if not 60 <= self.duration_s <= MAX_DURATION_S or self.duration_s % 60:
            raise LoadControlError(f"load control: duration {self.duration_s} s is not whole minutes in "
                                   f"60..{MAX_DURATION_S} s (DRLC carries minutes)")
        if not 0 <= self.randomise_s <= MAX_OFFSET_S:
            raise LoadControlError(f"load control: randomise {self.randomise_s} s outside 0..{MAX_OFFSET_S}")
        if self.start is not None and self.start.tzinfo is None:
            raise LoadControlError("load control: start time needs a time zone (UTC)")


@dataclass(frozen=True)
class StatusReport:
    """One Report Event Status (or, over On/Off, one OnOff attribute report from the device)."""

    status: str
    status_int: int
    device_time: datetime
    received_at: datetime


@dataclass
class LoadEvent:
    """An event this session sent, followed as the device reports on it."""

    device: HanDevice
    issuer_event_id: int
    command: LoadCommand
    transport: Transport
    scheduled_start: datetime
    window_s: int  # the largest offset the device may apply
    state_before: bool | None = None
    offset_applied_by: str = "device"
    commanded: bool = False  # On/Off: the hub has sent the switch command (reports count from then)
    restored: bool = False  # On/Off: the hub has sent the command back to the state before
    reports: list[StatusReport] = field(default_factory=list)
    _changed: asyncio.Event = field(default_factory=asyncio.Event, repr=False)

    def add(self, report: StatusReport) -> None:
        self.reports.append(report)
        self._changed.set()

    def find(self, *statuses: EventStatus) -> StatusReport | None:
        wanted = {int(s) for s in statuses}
        return next((r for r in self.reports if r.status_int in wanted), None)

    @property
    def final(self) -> StatusReport | None:
        return self.find(*_FINAL_STATUSES)

    @property
    def offset_s(self) -> int | None:
        started = self.find(EventStatus.Event_Started)
        if started is None:
            return None
        return int((started.device_time - self.scheduled_start).total_seconds())

    async def wait_for(self, statuses: Iterable[EventStatus], timeout: float) -> StatusReport | None:
        """The first report with one of ``statuses`` (or a final one), or None after ``timeout`` s."""
        wanted = [*statuses, *_FINAL_STATUSES]
        try:
            async with asyncio.timeout(max(timeout, 0.0)):
                while (found := self.find(*wanted)) is None:
                    self._changed.clear()
                    await self._changed.wait()
                return found
        except TimeoutError:
            return None


@dataclass(frozen=True)
class LoadEventResult:
    """What happened to one load event, and whether the device passed."""

    eui64: str
    issuer_event_id: int
    transport: Transport
    commander: Commander
    level: int
    expect_on: bool
    scheduled_start: datetime
    duration_s: int
    randomise_s: int
    window_s: int
    offset_s: int | None
    offset_applied_by: str
    statuses: tuple[StatusReport, ...]
    state_after_start: bool | None
    state_after_end: bool | None
    followed_to: str  # "start" | "end"
    problems: tuple[str, ...]

    @property
    def passed(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {
            "device": self.eui64,
            "issuer_event_id": f"0x{self.issuer_event_id:08x}",
            "issuer_event_id_int": self.issuer_event_id,
            "transport": self.transport.value,
            "as": self.commander.value,
            "level": self.level,
            "expect_on": self.expect_on,
            "scheduled_start": self.scheduled_start.isoformat(),
            "duration_s": self.duration_s,
            "randomise_s": self.randomise_s,
            "randomise_window_s": self.window_s,
            "offset_s": self.offset_s,
            "offset_applied_by": self.offset_applied_by,
            "start_measured_from": ("the device's Report Event Status (its event status time)"
                                    if self.transport is Transport.DRLC else
                                    "the device's OnOff attribute report (On/Off-only device)"),
            "statuses": [{"status": r.status, "status_int": r.status_int,
                          "device_time": r.device_time.isoformat(),
                          "received_at": r.received_at.isoformat()} for r in self.statuses],
            "state_after_start": _state_text(self.state_after_start),
            "state_after_end": _state_text(self.state_after_end),
            "followed_to": self.followed_to,
            "passed": self.passed,
            "problems": list(self.problems),
        }


def _state_text(state: bool | None) -> str | None:
    return None if state is None else ("on" if state else "off")


class LoadControl:
    """The session's load control feature (``gw.loadcontrol``)."""

    def __init__(self, gateway: Gateway, policy: LoadControlPolicy | None = None) -> None:
        self.gateway = gateway
        self.policy = policy or LoadControlPolicy()
        self.events: dict[tuple[str, int], LoadEvent] = {}
        self.unsolicited = 0
        self._last_event_id = 0
        self._tasks: set[asyncio.Task[Any]] = set()
        self._unsubscribe: Callable[[], None] | None = None

    # ------------------------------------------------------------------ plumbing
    def _subscribe(self) -> None:
        if self._unsubscribe is None:
            tap = HanInput.of(self.gateway)
            stop_status = tap.on_command(DRLC, REPORT_EVENT_STATUS, self._on_status,
                                         foundation.Direction.Client_to_Server, service=LOADCONTROL)
            stop_switch = tap.on_reports(OnOff.cluster_id, self._on_switch_report, service=LOADCONTROL)

            def unsubscribe() -> None:
                stop_status()
                stop_switch()

            self._unsubscribe = unsubscribe

    async def close(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _now(self, device: HanDevice) -> datetime:
        return radio_utc_now(device.app)

    def _on_status(self, source: FrameSource, args: Any) -> None:
        status = int(args.event_status)
        if status not in _DEFINED_STATUSES:
            raise MalformedFrame(f"event status: 0x{status:02x} is not a defined DRLC event status")
        if int(args.duty_cycle_applied) not in (DUTY_CYCLE_UNUSED, *range(101)):
            raise MalformedFrame(
                f"event status: duty cycle applied {int(args.duty_cycle_applied)} outside 0..100")
        event = self.events.get((source.eui64, int(args.issuer_event_id)))
        if event is None:
            self.unsolicited += 1
            LOGGER.info("%s: status %s for event 0x%08x this session did not send", source.eui64,
                        EventStatus(status).name, int(args.issuer_event_id))
            return
        event.add(StatusReport(EventStatus(status).name, status, from_zcl_utc(int(args.event_status_time)),
                               self._now(event.device)))

    def _on_switch_report(self, source: FrameSource, values: dict[int, Any]) -> None:
        """An On/Off-only device's OnOff attribute report: the evidence its event started (it switched
        to what the event asked) or ended (it switched back)."""
        value = values.get(OnOff.AttributeDefs.on_off.id)
        if value is None:
            return
        state = bool(value)
        for (eui64, _), event in list(self.events.items()):
            if eui64 != source.eui64 or event.transport is not Transport.ON_OFF or not event.commanded:
                continue
            now = self._now(event.device)
            if event.find(EventStatus.Event_Started) is None:
                if state == event.command.expect_on:
                    event.add(StatusReport(EventStatus.Event_Started.name, int(EventStatus.Event_Started),
                                           now, now))
            elif event.final is None and event.restored and state != event.command.expect_on:
                event.add(StatusReport(EventStatus.Event_Completed.name, int(EventStatus.Event_Completed),
                                       now, now))

    def _next_event_id(self, now: datetime) -> int:
        # our rule: issuer event ids are the hub's UTC seconds, kept strictly increasing in a session
        self._last_event_id = max(self._last_event_id + 1, zcl_utc(now)) & 0xFFFFFFFF
        return self._last_event_id

    # ------------------------------------------------------------------ policy and transport
    def authorise(self, commander: Commander, device: HanDevice | None = None) -> None:
        if commander not in self.policy.commanders:
            allowed = ", ".join(sorted(c.value for c in self.policy.commanders)) or "nobody"
            target = f"hcalcs {device.eui64}" if device is not None else "hcalcs"
            raise CommandRefused(f"{target}: {commander.value} may not command load control "
                                 f"(policy hcalcs_commanders allows: {allowed})")

    @staticmethod
    def transport(device: HanDevice) -> Transport:
        endpoint = device.endpoint
        if DRLC in endpoint.out_clusters:
            return Transport.DRLC
        if OnOff.cluster_id in endpoint.in_clusters:
            return Transport.ON_OFF
        raise DeviceNotFound(device.eui64,
                             "offers neither a DRLC client (0x0701) nor an On/Off server (0x0006)")

    async def state(self, device: HanDevice) -> bool | None:
        """The switch's On/Off state read back from the device (None when it does not answer)."""
        cluster = device.endpoint.in_clusters.get(OnOff.cluster_id)
        if cluster is None:
            return None
        try:
            success, _failure = await cluster.read_attributes([OnOff.AttributeDefs.on_off.id],
                                                              allow_cache=False)
        except (TimeoutError, ZigbeeException, HanrigError) as exc:
            LOGGER.info("%s: On/Off read failed: %s", device.eui64, exc)
            return None
        value = success.get(OnOff.AttributeDefs.on_off.id)
        return None if value is None else bool(value)

    # ------------------------------------------------------------------ sending
    async def schedule(self, device: HanDevice, command: LoadCommand) -> LoadEvent:
        """Send one load event (after the policy and the request are checked) and start following it."""
        command.check()
        self.authorise(command.commander, device)
        await self.gateway.cbke.admit(device.eui64, device.role, LOADCONTROL)   # policies.require_cbke
        transport = self.transport(device)
        now = self._now(device)
        start = command.start or now
        event_id = self._next_event_id(now)
        window = 0
        if command.randomise_s:
            minutes = math.ceil(command.randomise_s / 60)
            window = min(60 * minutes, MAX_OFFSET_S + 1) - 1
        # the state a switch returns to is the one before the first event of a chain (see hal/sim/drlc.py):
        # if one of ours is running on this device, inherit what it found
        running = [e for (eui, _), e in self.events.items() if eui == device.eui64
                   and e.find(EventStatus.Event_Started) is not None and e.final is None]
        before = running[0].state_before if running else await self.state(device)
        event = LoadEvent(device, event_id, command, transport, from_zcl_utc(zcl_utc(start)), window,
                          state_before=before)
        self.events[(device.eui64, event_id)] = event
        self._subscribe()
        if transport is Transport.DRLC:
            await self._send_drlc(device, event)
        else:
            event.offset_applied_by = "host"
            self._spawn(self._run_on_off(device, event))
        return event

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send_drlc(self, device: HanDevice, event: LoadEvent) -> None:
        cluster = device.endpoint.out_clusters[DRLC]
        command = event.command
        control = EventControl(0)
        if command.randomise_s:
            control |= EventControl.randomize_start_time
            await cluster.write_attributes(
                {"start_randomization_minutes": math.ceil(command.randomise_s / 60)})
        await cluster.client_command(
            DemandResponseLoadControl.ClientCommandDefs.load_control_event.id,
            issuer_event_id=event.issuer_event_id,
            device_class=HCALCS_DEVICE_CLASS,
            utility_enrollment_group=0,
            start_time=zcl_utc(event.scheduled_start),
            duration_in_minutes=command.duration_s // 60,
            criticality_level=CriticalityLevel.Green,
            cooling_temperature_offset=TEMPERATURE_OFFSET_UNUSED,
            heating_temperature_offset=TEMPERATURE_OFFSET_UNUSED,
            cooling_temperature_set_point=TEMPERATURE_SET_POINT_UNUSED,
            heating_temperature_set_point=TEMPERATURE_SET_POINT_UNUSED,
            average_load_adjustment_percentage=AVERAGE_LOAD_ADJUSTMENT_UNUSED,
            duty_cycle=command.level,
            event_control=control,
        )

    async def cancel(self, event: LoadEvent) -> None:
        """Cancel a DRLC event now (the device reports Event Cancelled)."""
        cluster = event.device.endpoint.out_clusters[DRLC]
        await cluster.client_command(
            DemandResponseLoadControl.ClientCommandDefs.cancel_load_control_event.id,
            issuer_event_id=event.issuer_event_id, device_class=HCALCS_DEVICE_CLASS,
            utility_enrollment_group=0, cancel_control=0, effective_time=0)

    async def _run_on_off(self, device: HanDevice, event: LoadEvent) -> None:
        """Apply the offset and switch, then switch back at the end; the device's OnOff reports (not
        these commands) are what :meth:`follow` judges."""
        cluster = device.endpoint.in_clusters[OnOff.cluster_id]
        offset = random.Random(event.issuer_event_id).randint(0, event.window_s) if event.window_s else 0
        begin = event.scheduled_start + timedelta(seconds=offset)
        await asyncio.sleep(max(0.0, (begin - self._now(device)).total_seconds()))
        event.commanded = True
        await (cluster.on() if event.command.expect_on else cluster.off())
        end = begin + timedelta(seconds=event.command.duration_s)
        await asyncio.sleep(max(0.0, (end - self._now(device)).total_seconds()))
        if event.state_before is not None and event.state_before != event.command.expect_on:
            event.restored = True
            await (cluster.on() if event.state_before else cluster.off())
        elif event.final is None:  # nothing to switch back: the event simply ran its time
            now = self._now(device)
            event.add(StatusReport(EventStatus.Event_Completed.name, int(EventStatus.Event_Completed), now,
                                   now))

    # ------------------------------------------------------------------ following and judging
    async def follow(self, event: LoadEvent, *, until: str = "start") -> LoadEventResult:
        """Wait for the event to start (and, with ``until="end"``, to end), read the state back, judge."""
        device, command = event.device, event.command
        problems: list[str] = []
        if event.transport is Transport.DRLC:
            ack = await event.wait_for([EventStatus.Load_Control_Event_Received], self.policy.ack_timeout_s)
            if ack is None:
                problems.append(f"did not acknowledge load control event 0x{event.issuer_event_id:08x} "
                                f"within {self.policy.ack_timeout_s:g} s (no Report Event Status)")
                return self._result(event, until, problems, None, None)
        latest_start = event.scheduled_start + timedelta(seconds=event.window_s + self.policy.start_margin_s)
        started = await event.wait_for([EventStatus.Event_Started],
                                       (latest_start - self._now(device)).total_seconds())
        rejection = event.find(*_REJECTIONS)
        if rejection is not None:
            problems.append(f"rejected the event: {rejection.status} (0x{rejection.status_int:02x})")
            return self._result(event, until, problems, None, None)
        if started is None or started.status_int != EventStatus.Event_Started:
            final = event.final
            problems.append(f"event did not start by {latest_start.isoformat()}"
                            + (f" (reported {final.status})" if final is not None else "")
                            + (" (On/Off-only device: no OnOff attribute report of the switch)"
                               if event.transport is Transport.ON_OFF else ""))
            return self._result(event, until, problems, None, None)
        offset = event.offset_s
        if offset is not None and not -CLOCK_TOLERANCE_S <= offset <= event.window_s + CLOCK_TOLERANCE_S:
            problems.append(f"randomised start offset {offset} s outside 0..{event.window_s} s")
        after_start = await self.state(device)
        if after_start is None:
            problems.append("On/Off state could not be read back after the start")
        elif after_start != command.expect_on:
            problems.append(f"state after the start is {_state_text(after_start)}, the event asked for "
                            f"{_state_text(command.expect_on)} (level {command.level})")
        after_end = None
        if until == "end":
            end_by = started.device_time + timedelta(seconds=command.duration_s + self.policy.start_margin_s)
            final = await event.wait_for([], (end_by - self._now(device)).total_seconds())
            if final is None:
                problems.append(f"event did not end by {end_by.isoformat()}")
            elif final.status_int == EventStatus.Event_Completed:
                after_end = await self.state(device)
                if event.state_before is not None and after_end != event.state_before:
                    problems.append(f"state after the end is {_state_text(after_end)}, expected the state "
                                    f"before the event ({_state_text(event.state_before)})")
        return self._result(event, until, problems, after_start, after_end)

    def _result(self, event: LoadEvent, until: str, problems: list[str], after_start: bool | None,
                after_end: bool | None) -> LoadEventResult:
        command = event.command
        return LoadEventResult(
            eui64=event.device.eui64, issuer_event_id=event.issuer_event_id, transport=event.transport,
            commander=command.commander, level=command.level, expect_on=command.expect_on,
            scheduled_start=event.scheduled_start, duration_s=command.duration_s,
            randomise_s=command.randomise_s, window_s=event.window_s, offset_s=event.offset_s,
            offset_applied_by=event.offset_applied_by, statuses=tuple(event.reports),
            state_after_start=after_start, state_after_end=after_end, followed_to=until,
            problems=tuple(problems))

    async def run(self, device: HanDevice, command: LoadCommand, *, until: str = "start") -> LoadEventResult:
        """Schedule ``command`` on ``device`` and follow it to its start (or end)."""
        if until not in ("start", "end"):
            raise LoadControlError(f"load control: follow until {until!r} (expected start | end)")
        event = await self.schedule(device, command)
        return await self.follow(event, until=until)
