"""The plan's step kinds: one async function per kind, run by the runner against one DUT.

Each step drives the gateway session through its public features (``gw.inventory``, ``gw.ota``,
``gw.gpf``, ``gw.alerts``, ``gw.certs``, ``gw.loadcontrol``, ``gw.tenancy``) and turns what came back
into measurements (name, value, units, limits), events (OTA progress, gas readings, alerts) and
attachments (logs, the simulated PAN's frame trace). A step says FAIL through a failing measurement or
``ctx.fail`` (the DUT breached a spec); ``ctx.error`` is for the rig's own faults. The runner decides
TIMEOUT, ABORTED and how exceptions map to outcomes (:func:`classify_exception`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from hal.virtual_clock import is_virtual_clock
from hanrig_errors import (
    CERT_MAX,
    OTA_IMAGE_MAX,
    BadInput,
    BadInputFile,
    CheckFailed,
    Unreachable,
    read_input,
)

from .exceptions import StepError
from .records import (
    Equals,
    EventKind,
    InRange,
    MeasurementSpec,
    OneOf,
    OutcomeDetail,
    StepOutcome,
    StepRecord,
    worst,
)
from .rigfile import GCS13A_CLOCK_SCENARIOS, Activation, DeviceSpec, PlanStep, Rig, StepKind

JOIN_POLL_S = 1.0  # how often a join step looks for the device while the network is open
DEFAULT_PERMIT_S = 180.0  # join: how long the network stays open for a device not yet joined
DEFAULT_ALERT_WATCH_S = 90.0  # alerts: how long the storm test watches
CLOCK_EPSILON_S = 1e-3  # remainders of a wait shorter than this are not waited for
ALERT_SETTLE_S = 5.0  # alerts: the watch ends this long before the step's timeout
STORM_FACTOR = 2.0  # alerts: by default a simulated storm is this many times the throttle's threshold rate
STORM_ALERT_CODE = 0x42  # alerts: the one alarm code a simulated storm repeats (throttling is per code)
DEFAULT_PROVIDER_ID = 0x00000002  # cot: the incoming supplier's ProviderId on the bench (our rule)
LOADCONTROL_END_SLACK_S = 120.0  # loadcontrol: follow to the end when the step's timeout leaves this much

# Measurements, declared once with their units and limits.
JOINED = MeasurementSpec("joined", "", Equals(True), "the device is on the network and interviewed")
JOIN_TIME = MeasurementSpec("join_time", "s", InRange(0, 3600), "from the step's start to interviewed")
MISSING_MANDATORY = MeasurementSpec("missing_mandatory_attributes", "", Equals(0),
                                    "SECMP0056: attributes the role must report "
                                    "(gateway.inventory.REQUIREMENTS) that it did not")
MISSING_OPTIONAL = MeasurementSpec("missing_optional_attributes", "",
                                   description="optional attributes not reported (recorded, not failed)")
OTA_PHASE_SPEC = "where the device ended up (activated, held, scheduled)"
OTA_BYTES = MeasurementSpec("bytes_sent", "B", description="image bytes served")
OTA_THROUGHPUT = MeasurementSpec("ota_throughput", "B/s", description="mean block rate of the transfer")
OTA_DURATION = MeasurementSpec("ota_duration", "s", description="first block to last block")
OTA_RETRIES = MeasurementSpec("ota_retries", "", description="blocks served more than once")
GAS_STATUS = MeasurementSpec("clock_status", "", OneOf(("reliable",)), "SECMP0015 status of the last value")
GAS_UNRELIABLE = MeasurementSpec("unreliable_reads", "",
                                 description="reads whose clock status was not reliable (the last decides)")
GAS_VALUE = MeasurementSpec("gas_demand", "m3/h", description="instantaneous value of the last read")
STORM_GBCS_ALERT_CODE = 0x8F01  # Active Power Import above Load Limit Threshold: what a GB ESME storms with
ALERT_DRAIN_S = 5.0
GCS13A_MAC = MeasurementSpec("gcs13a_mac", "", Equals("valid"), "MAC of the GPF's GCS13a response")
GAS_AGE = MeasurementSpec("value_age", "s", description="age of the last value at read time")
ALERTS_RECEIVED = MeasurementSpec("alerts_received", "")
ALERTS_FORWARDED = MeasurementSpec("alerts_forwarded", "")
ALERTS_SUPPRESSED = MeasurementSpec("alerts_suppressed", "")
ALERTS_LOST = MeasurementSpec("alerts_unaccounted", "", Equals(0),
                              "received - forwarded - reported - refused after the final flush")
THROTTLE_EPISODES = MeasurementSpec("throttle_episodes", "")
CBKE_ESTABLISHED = MeasurementSpec("cbke_established", "", Equals(True),
                                   "key establishment with the hub ended with both key confirmations")
CBKE_SUITE = MeasurementSpec("cbke_suite", "", description="the crypto suite the device asked for")
CBKE_TIME = MeasurementSpec("cbke_time", "s", description="Initiate received to Confirm Key Data answered")
CBKE_TERMINATE = MeasurementSpec("cbke_terminate_status", "", description="the Terminate status, if any")
CBKE_CRYPTO = MeasurementSpec("cbke_crypto", "", description="who computed the hub's keys: ncp or host")
DEFAULT_CBKE_WAIT_S = 120.0


@dataclasses.dataclass
class StepContext:
    """What a step function gets: the session, the rig, the step and DUT, and where to record."""

    gateway: Any
    rig: Rig
    plan_step: PlanStep
    device: DeviceSpec
    record: StepRecord
    event: Callable[[EventKind, dict[str, Any], float | None], None]  # (kind, data, loop time or None)
    progress: Callable[[str], None]  # the DUT's live status text
    update_dut: Callable[..., Any]  # RunRecorder.update_dut for this DUT (model, firmware, image hash)
    dut: Any  # the DUT's record so far (DutRecord)
    rig_trust: dict[str, Any] = dataclasses.field(default_factory=dict)  # radio id -> bench PKI (sim://)
    outcome: StepOutcome | None = None

    @property
    def params(self) -> Any:
        return self.plan_step.params

    def han(self) -> Any:
        """The DUT as the gateway sees it (``DeviceNotFound`` when it has not joined)."""
        return self.gateway.device(self.device.eui64)

    def measure(self, spec: MeasurementSpec, value: Any) -> None:
        self.record.measure(spec, value)

    def fail(self, code: str, description: str) -> None:
        """The DUT breached a spec."""
        self._set(StepOutcome.FAIL, code, description)

    def error(self, code: str, description: str) -> None:
        """The rig failed at something (not the DUT's fault)."""
        self._set(StepOutcome.ERROR, code, description)

    def skip(self, code: str, description: str) -> None:
        self._set(StepOutcome.SKIPPED, code, description)

    def note(self, code: str, description: str) -> None:
        self.record.details.append(OutcomeDetail(code, description))

    def _set(self, outcome: StepOutcome, code: str, description: str) -> None:
        self.note(code, description)
        self.outcome = outcome if self.outcome is None else StepOutcome(worst([self.outcome, outcome]))

    def attach_json(self, name: str, document: Any) -> None:
        self.record.attach(name, "application/json",
                           (json.dumps(document, indent=2, default=str) + "\n").encode())


StepFunction = Callable[[StepContext], Awaitable[None]]


def classify_exception(exc: BaseException) -> tuple[StepOutcome, OutcomeDetail]:
    """How an exception out of a step ends it: the DUT's failures are FAIL, the rig's are ERROR."""
    text = str(exc) or type(exc).__name__
    from gateway.exceptions import DeviceNotFound
    from gateway.session import delivery_failed

    if isinstance(exc, DeviceNotFound):
        return StepOutcome.FAIL, OutcomeDetail("device-unreachable", text)
    if isinstance(exc, CheckFailed):
        return StepOutcome.FAIL, OutcomeDetail("check-failed", text)
    if isinstance(exc, Unreachable):
        return StepOutcome.ERROR, OutcomeDetail("radio-unreachable", text)
    if isinstance(exc, BadInput | StepError):
        return StepOutcome.ERROR, OutcomeDetail("rig-error", text)
    if delivery_failed(exc):
        return StepOutcome.FAIL, OutcomeDetail("delivery-failed", f"{type(exc).__name__}: {text}")
    return StepOutcome.ERROR, OutcomeDetail("internal-error", f"{type(exc).__name__}: {text}")


# ------------------------------------------------------------------------------------------ join
async def step_join(ctx: StepContext) -> None:
    """The device is on the network, interviewed, and says it is the role the rig gives it."""
    from gateway.exceptions import DeviceNotFound

    loop = asyncio.get_running_loop()
    start = loop.time()
    permit_s = float(ctx.params.get("permit_s", DEFAULT_PERMIT_S))
    han = None
    opened = reinterviewed = False
    while True:
        try:
            han = ctx.han()
        except DeviceNotFound:
            han = None
        if han is not None and han.interviewed:
            break
        if han is not None and not reinterviewed and not han.interviewing:
            # on the network but its interview failed (lost frames): zigpy does not retry by itself
            han.interview_again()
            reinterviewed = True
            ctx.progress("join: interviewing again")
        if han is None and not opened:
            ctx.progress(f"join: network open {permit_s:g} s")
            await ctx.gateway.permit_join(permit_s, ctx.device.radio,
                                          install_codes=({ctx.device.eui64: ctx.device.install_code}
                                                         if ctx.device.install_code is not None else None))
            opened = True
        if loop.time() - start > permit_s:
            ctx.measure(JOINED, False)
            if han is None:
                hint = (" with the key of its install code (a device programmed with another code never "
                        "can)" if ctx.device.install_code is not None else "")
                ctx.fail("not-joined", f"{ctx.device.eui64} did not join within {permit_s:g} s{hint}")
            else:
                missing = han.interview_missing()
                ctx.fail("interview-incomplete", f"{ctx.device.eui64} joined as 0x{han.nwk:04x} but its "
                         f"interview did not complete within {permit_s:g} s (missing: "
                         f"{', '.join(missing) or 'zigpy still initialising'})")
            return
        await asyncio.sleep(JOIN_POLL_S)
    ctx.measure(JOINED, True)
    ctx.measure(JOIN_TIME, round(loop.time() - start, 3))
    ctx.event(EventKind.JOIN, {"nwk": f"0x{han.nwk:04x}", "nwk_int": han.nwk}, None)
    said = han.said_role
    ctx.measure(MeasurementSpec("role", "", Equals(str(ctx.device.role)),
                                "the role its Smart Energy descriptors say"),
                None if said is None else str(said))


# ------------------------------------------------------------------------------------- inventory
async def step_inventory(ctx: StepContext) -> None:
    """SECMP0056: the device reports every inventory attribute, and what the rig expects of it."""
    inventory = await ctx.gateway.inventory.read(ctx.han())
    ctx.attach_json("inventory.json", inventory.as_dict())
    ctx.measure(MISSING_MANDATORY, len(inventory.missing_mandatory))
    ctx.measure(MISSING_OPTIONAL, len(inventory.missing_optional))
    for name in inventory.missing_optional:
        ctx.note("missing-optional-attribute", f"{name}: {inventory.problems.get(name, 'not reported')}")
    for name in inventory.missing_mandatory:
        source = inventory.requirements.get(name.split("@")[0])
        ctx.note("missing-mandatory-attribute", f"{name}: {inventory.problems.get(name, 'not reported')}"
                 f"{f' (required by {source.source})' if source else ''}")
    expect = ctx.device.expect
    if expect.manufacturer is not None:
        ctx.measure(MeasurementSpec("manufacturer", "", Equals(expect.manufacturer)), inventory.manufacturer)
    if expect.model is not None:
        ctx.measure(MeasurementSpec("model", "", Equals(expect.model)), inventory.model)
    if expect.firmware_version is not None:
        ctx.measure(MeasurementSpec("firmware_version", "", Equals(expect.firmware_version)),
                    inventory.current_file_version)
    fields: dict[str, Any] = {"manufacturer": inventory.manufacturer, "model": inventory.model}
    fields = {k: v for k, v in fields.items() if v is not None}
    if inventory.hw_version is not None:  # the DUT identity a certifier reads (report, evidence pack)
        fields["metadata"] = {**ctx.dut.metadata, "hw_version": inventory.hw_version}
    if ctx.dut.firmware_before is None:  # a resumed run keeps what the device ran at first
        fields["firmware_before"] = inventory.current_file_version
    ctx.update_dut(**fields)


# ------------------------------------------------------------------------------------------- ota
def _record_ccs08(ctx: StepContext, eui64: str, outcome: Any) -> None:
    """The hub's CCS08 Firmware Transfer Alert for this outcome, kept in the results store as hex
    (``hanrig gbcs inspect`` reads it) with its outcome code as a measurement."""
    version = outcome.version_after if outcome.version_after is not None else outcome.image_version
    alert = ctx.gateway.gbcs.transfer_alert(eui64, version, int(outcome.code), ctx.gateway.gpf.now())
    ctx.record.attach("ccs08-transfer-alert.hex", "text/plain", alert.to_bytes().hex().encode() + b"\n")
    from gbcs import decode_content

    ctx.measure(MeasurementSpec("ccs08_outcome", "", Equals(int(outcome.code)),
                                "CCS08 outcome code of the hub's Firmware Transfer Alert"),
                int(decode_content(alert)["outcome_int"]))


def _expected_phase(activation: str) -> str:
    mode = activation.split(":", 1)[0]
    return {Activation.NOW.value: "activated", Activation.HOLD.value: "held"}.get(mode, "scheduled")


async def _catalogue_image(ctx: StepContext, version: int) -> Any:
    """The catalogue's image of ``version`` meant for the DUT's role (a step's ``image_version``)."""
    from ota import read_image

    service = ctx.gateway.ota
    role = ctx.device.role.value
    for entry in await service.loaded_catalogue():
        if entry.role == role and entry.identity.file_version == version:
            path = Path(entry.path)
            return read_image(await read_step_file(ctx.plan_step.name, path, "image", OTA_IMAGE_MAX),
                              name=str(path))
    raise StepError(f"step {ctx.plan_step.name}: the catalogue {service.policies.catalogue} has no "
                    f"{role} image of version 0x{version:08x}")


async def step_ota(ctx: StepContext) -> None:
    """Select an image (catalogue, or the one named), push it, activate it, verify the new version."""
    from ota import read_image
    from ota.campaign import Phase
    from ota.outcomes import Reason

    service = ctx.gateway.ota
    params = ctx.params
    image = None
    if "image" in params:
        path = Path(params["image"])
        image = read_image(await read_step_file("ota", path, "image", OTA_IMAGE_MAX), name=str(path))
    if "image_dir" in params and service.policies.catalogue != Path(params["image_dir"]):
        service.configure(catalogue=Path(params["image_dir"]))
    if "image_version" in params:
        image = await _catalogue_image(ctx, params["image_version"])
    activation = params.get("activation") or service.policies.activation
    han = ctx.han()
    size = {"total": 0, "shown": -1}

    def on_progress(sample: Any) -> None:
        if sample.eui64 != han.eui64:
            return
        size["total"] = sample.size
        ctx.event(EventKind.OTA_PROGRESS, {"offset": sample.offset, "total": sample.size}, sample.time)
        percent = int(100 * sample.offset / sample.size) if sample.size else 0
        if percent != size["shown"]:
            size["shown"] = percent
            ctx.progress(f"ota {percent}%")

    ctx.progress("ota: offering")
    report = await service.push([han], image=image, activation=activation,
                                allow_downgrade=params.get("allow_downgrade"), on_progress=on_progress)
    if len(report.outcomes) != 1:
        raise StepError(f"step ota: push returned {len(report.outcomes)} outcomes for one device")
    outcome = report.outcomes[0]
    ctx.attach_json("ota-outcome.json", outcome.to_json())
    if outcome.phase is Phase.UP_TO_DATE:
        wanted = params.get("expect_version")
        if wanted is not None and outcome.version_before == wanted:
            ctx.measure(MeasurementSpec("firmware_version_after", "", Equals(wanted)), outcome.version_before)
            ctx.note("up-to-date", outcome.reason)
            return
        ctx.skip("nothing-to-offer", outcome.reason)
        return
    expected_phase = _expected_phase(str(report.activation))
    ctx.measure(MeasurementSpec("ota_phase", "", Equals(expected_phase), OTA_PHASE_SPEC), outcome.phase.value)
    if outcome.reason:
        ctx.note(f"ota-{outcome.phase.value}", outcome.reason)
    if outcome.code is not None:
        ctx.note("transfer-alert", f"{outcome.code.label} ({int(outcome.code)}), reason "
                                   f"{outcome.reason_code or 'unknown'} (ota.outcomes.OUTCOME_CODES)")
        _record_ccs08(ctx, han.eui64, outcome)
    if outcome.reason_code == Reason.NO_KEY_ESTABLISHMENT:
        # the DUT never got a CBKE link key and the rig requires one (policies.require_cbke): its fault
        ctx.fail(Reason.NO_KEY_ESTABLISHMENT.value, outcome.reason)
    elif outcome.phase is Phase.REFUSED and outcome.bytes_sent == 0 and not outcome.unreachable:
        # the hub refused to send (policy, signature, identity): the bench's image choice, not the DUT
        ctx.error("ota-refused", outcome.reason)
    ctx.measure(OTA_BYTES, outcome.bytes_sent)
    if outcome.mean_bps is not None:
        ctx.measure(OTA_THROUGHPUT, round(outcome.mean_bps, 1))
    if outcome.duration_s is not None:
        ctx.measure(OTA_DURATION, round(outcome.duration_s, 3))
    ctx.measure(OTA_RETRIES, outcome.retries)
    target = params.get("expect_version", outcome.image_version)
    if expected_phase == "activated":
        ctx.measure(MeasurementSpec("firmware_version_after", "", Equals(target),
                                    "the version the device runs after activation"), outcome.version_after)
    images = [i for i in ctx.dut.metadata.get("images", []) if i.get("sha256") != outcome.image_sha256]
    images.append({"file": Path(outcome.image_file).name if outcome.image_file else None,
                   "sha256": outcome.image_sha256})
    fields: dict[str, Any] = {"image_hash": outcome.image_sha256, "metadata": {**ctx.dut.metadata,
                                                                               "images": images}}
    if ctx.dut.firmware_before is None and outcome.version_before is not None:
        fields["firmware_before"] = outcome.version_before
    if outcome.version_after is not None:
        fields["firmware_after"] = outcome.version_after
    ctx.update_dut(**fields)


# ------------------------------------------------------------------------------------------- cs06
CS06_ALERT_CODES = {True: 0x8F66, False: 0x8F67}  # future-dated activation: success / failure alert


async def step_cs06(ctx: StepContext) -> None:
    """SECMP0024: activate the image a meter holds (pushed over the HAN with activation "hold") with a
    CS06 signed by the bench's Supplier, now or at a time; the meter checks the hash itself. Records the
    outcome, the firmware version before and after and, future-dated, the 8F66 / 8F67 alert."""
    import datetime as dt

    from ota import read_image
    from ota.campaign import DeviceOutcome, Phase, read_ota_attributes, verify_activation

    if refused_without_cbke(ctx, "gbcs"):  # the CS06 goes over the SE Tunneling cluster
        return
    params = ctx.params
    han = ctx.han()
    gw = ctx.gateway
    version = None
    if "image" in params:
        path = Path(params["image"])
        image = read_image(await read_step_file("cs06", path, "image", OTA_IMAGE_MAX), name=str(path))
        wanted, version = image.sha256, image.identity.file_version
    elif "image_sha256" in params:
        wanted = params["image_sha256"]
    else:  # what the hub last transferred to this meter, at the version its OTA client says it holds
        held = (await read_ota_attributes(han.zigpy_device, ["downloaded_file_version"])).get(
            "downloaded_file_version")
        version = None if held is None or int(held) == 0xFFFFFFFF else int(held)
        known = gw.ota.server(han.radio_id).completed_hash(han.zigpy_device.ieee, version) \
            if version is not None else None
        if known is None:
            raise StepError("step cs06: the hub transferred no image to this meter that it holds (push one "
                            "with an ota step, activation \"hold\", first, or give image / image_sha256)")
        wanted = known
    at = params.get("at")
    when = None
    if isinstance(at, str):
        when = dt.datetime.fromisoformat(at).astimezone(dt.UTC)
    elif at is not None:
        when = gw.gpf.now() + dt.timedelta(seconds=float(at))
    running = await read_ota_attributes(han.zigpy_device, ["current_file_version"])
    before = running.get("current_file_version")
    if before is not None:
        ctx.measure(MeasurementSpec("firmware_version_before", "", None,
                                    "what the meter runs before the CS06"), int(before))
    ctx.progress("cs06: activating" + (f" at {when:%H:%M:%SZ}" if when else ""))
    since = asyncio.get_running_loop().time()
    report = await gw.gbcs.activate_firmware(han, bytes.fromhex(wanted), at=when)
    ctx.attach_json("cs06-activation.json", {"device": report.device, "counter": report.counter,
                                             "execution_date_time": report.execution_date_time,
                                             "image_sha256": wanted, "response": report.response,
                                             "alert": report.alert})
    if when is not None and report.alert is not None:
        ctx.measure(MeasurementSpec("cs06_alert_code", "", Equals(CS06_ALERT_CODES[True]),
                                    "the meter's future-dated activation alert (8F66 success, 8F67 failure)"),
                    int(report.alert["alert_code_int"]))
    ctx.measure(MeasurementSpec("cs06_outcome", "", Equals("success"), "the meter's CS06 activation outcome"),
                report.outcome)
    if not report.ok:
        alert = f", alert 0x{int(report.alert['alert_code_int']):04X}" if report.alert else ""
        ctx.fail(f"cs06-{report.outcome}", f"the meter answered the CS06 for {wanted} with "
                                           f"{report.outcome}{alert}")
        return
    # the meter reboots into the image it activated: its OTA client must then report that version
    expected = version if version is not None else int(str(report.firmware_version), 16)
    outcome = DeviceOutcome(han.eui64, han.id, None, han.radio_id, Phase.FAILED, None, "",
                            None if before is None else int(before))
    await verify_activation(gw.ota.server(han.radio_id), han.zigpy_device, expected, outcome, since=since)
    ctx.measure(MeasurementSpec("firmware_version_after", "", Equals(expected),
                                "the version the meter runs after the CS06"), outcome.version_after)
    fields: dict[str, Any] = {}
    if ctx.dut.firmware_before is None and before is not None:
        fields["firmware_before"] = int(before)
    if outcome.version_after is not None:
        fields["firmware_after"] = outcome.version_after
    if fields:
        ctx.update_dut(**fields)


# ------------------------------------------------------------------------------------------- gas
def refused_without_cbke(ctx: StepContext, service: str) -> bool:
    """SE service needs a CBKE link key when the rig says so (``policies.require_cbke``): a Type 1 DUT
    without one FAILs the step, named ``no-key-establishment``, before the hub sends it anything. The
    gateway's SE gate decides and counts the refusal under ``service`` (``gateway.cbke.SE_SERVICES``)."""
    han = ctx.han()
    refusal = ctx.gateway.cbke.refuse_now(han.eui64, han.role, service)
    if refusal is not None:
        ctx.fail("no-key-establishment", refusal)
        return True
    return False


async def step_gas(ctx: StepContext) -> None:
    """SECMP0015: read what the GPF holds for the GSME ``reads`` times, ``interval_s`` apart, each
    classified; the last read's clock status decides (earlier reads let a GSME synchronise its clock,
    and are recorded with their status)."""
    if refused_without_cbke(ctx, "gpf"):
        return
    gpf = ctx.gateway.gpf
    reads = int(ctx.params.get("reads", 1))
    interval_s = float(ctx.params.get("interval_s", 0.0))
    eui64 = ctx.han().eui64
    unreliable = 0
    last = None
    for number in range(1, reads + 1):
        if number > 1 and interval_s:
            await asyncio.sleep(interval_s)
        ctx.progress(f"gas: read {number}/{reads} (waiting for a push)" if gpf.latest(eui64) is None
                     else f"gas: read {number}/{reads}")
        record = await gpf.read(eui64, timeout_s=ctx.plan_step.timeout_s)
        now = gpf.now()
        document = record.as_dict(now)
        status = str(record.reading.clock_status)
        ctx.event(EventKind.GAS_READING, {"read": number, **document}, None)
        if status != "reliable":
            unreliable += 1
            ctx.note("clock-status", f"read {number}: {status}: {record.reading.reason}")
        last = (record, document)
    assert last is not None
    record, document = last
    ctx.measure(GAS_STATUS, str(record.reading.clock_status))
    ctx.measure(GAS_UNRELIABLE, unreliable)
    if record.reading.value is not None:
        ctx.measure(GAS_VALUE, record.reading.value)
    ctx.measure(GAS_AGE, round(document["age_s"], 3))
    ctx.measure(MeasurementSpec("timestamp_source", "", description="whose clock stamped the value"),
                str(record.reading.source))
    ctx.attach_json("gas-readings.json", [r.as_dict(gpf.now()) for r in gpf.readings(eui64)])
    # the GPF's GBCS face: a supplier's GCS13a answered from the same value, its date-time and clock
    # status in the grouping header (SECMP0015 as the DCC sees it)
    held, answer = await gpf.read_gcs13a(eui64, timeout_s=ctx.plan_step.timeout_s)
    gcs13a = answer.to_dict()
    ctx.attach_json("gcs13a.json", gcs13a)
    ctx.measure(GCS13A_MAC, gcs13a["mac"])
    ctx.measure(MeasurementSpec("gcs13a_date_time", "", Equals(held.reading.dlms_datetime.hex()),
                                "GCS13a grouping header date-time: the value's, with its clock status"),
                (gcs13a["date_time"] or {}).get("raw"))
    ctx.measure(MeasurementSpec("gcs13a_clock_status", "", description="clock-status octet of the GCS13a "
                                "response (0x00 GPF, 0x04 GSME, 0x02 unreliable, 0x01 invalid)"),
                (gcs13a["date_time"] or {}).get("clock_status"))
    scenarios = tuple(ctx.params.get("clock_scenarios", ()))
    if scenarios:
        await _gcs13a_clock_scenarios(ctx, scenarios)


async def _gcs13a_clock_scenarios(ctx: StepContext, scenarios: tuple[str, ...]) -> None:
    """SECMP0015 per clock scenario: put the GSME's clock in each state through the simulator control
    protocol, wait for the push it then makes, and check the GCS13a answered from it carries the
    scenario's clock status. On a real radio nobody can set the meter's clock: recorded as a note."""
    han = ctx.han()
    sim = ctx.gateway.sim(han.radio_id)
    if sim is None:
        ctx.note("clock-scenarios", "GCS13a clock scenarios need a sim:// radio (the GSME's clock is set "
                                    "through the simulator); only the scenario the meter is in was read")
        return
    gpf = ctx.gateway.gpf
    # Over a bench link (a virtual stick in its own process, in real time) the GSME may be half-way
    # through a push when its clock changes: that push still carries the old state, so the one after it
    # is the first made in the new scenario. On virtual time the change and the device share one loop
    # and the next push is the first.
    pushes_to_skip = 0 if is_virtual_clock(asyncio.get_running_loop()) else 1
    documents = []
    try:
        for scenario in scenarios:
            mode, expected = GCS13A_CLOCK_SCENARIOS[scenario]
            ctx.progress(f"gas: GCS13a with the GSME clock {mode} ({scenario})")
            await sim.set_device_clock_mode(han.eui64, mode)
            for _push in range(1 + pushes_to_skip):
                await gpf.next_reading(han.eui64, timeout_s=ctx.plan_step.timeout_s)
            held, answer = await gpf.read_gcs13a(han.eui64, timeout_s=ctx.plan_step.timeout_s)
            document = {"scenario": scenario, "gsme_clock": mode,
                        "classified": str(held.reading.clock_status), "reason": held.reading.reason,
                        **answer.to_dict()}
            documents.append(document)
            status = (document["date_time"] or {}).get("clock_status")
            ctx.measure(MeasurementSpec(f"gcs13a_clock_status_{scenario}", "", Equals(expected),
                                        f"GCS13a clock-status octet with the GSME clock {mode}"), status)
            ctx.measure(MeasurementSpec(f"gcs13a_mac_{scenario}", "", Equals("valid"),
                                        f"MAC of the GCS13a response ({scenario})"), document["mac"])
    finally:
        ctx.attach_json("gcs13a-clock-scenarios.json", documents)
        await sim.set_device_clock_mode(han.eui64, "synchronised")  # later steps see the bench's clock


# ---------------------------------------------------------------------------------------- alerts
async def step_alerts(ctx: StepContext) -> None:
    """SECMP0062 storm test: the DUT raises alerts faster than the throttle allows; the hub must throttle
    them and account for every one (forwarded, or suppressed and reported)."""
    if refused_without_cbke(ctx, "alerts"):  # GBCS alerts come over the SE Tunneling cluster
        return
    service = ctx.gateway.alerts
    watch_s = float(ctx.params.get("duration_s", DEFAULT_ALERT_WATCH_S))
    step_end = asyncio.get_running_loop().time() + ctx.plan_step.timeout_s - ALERT_SETTLE_S
    policy = service.policy
    # room for the storm, its drain, and the episode-ending alert after a drained window
    watch_s = min(watch_s, max(ctx.plan_step.timeout_s - ALERT_SETTLE_S - policy.window_s
                               - 2 * ALERT_DRAIN_S, 1.0))
    policy = service.policy
    # twice what the throttle allows by default: enough to engage it, few enough for a sleepy device's
    # replies (one per poll) to drain before the run ends
    rate_hz = float(ctx.params.get("rate_hz", STORM_FACTOR * policy.threshold / policy.window_s))
    han = ctx.han()
    eui64 = han.eui64
    sim = ctx.gateway.sim(ctx.device.radio)
    storm: asyncio.Task[int] | None = None
    code = STORM_ALERT_CODE
    from gateway.gbcs_service import TUNNELING

    if TUNNELING in han.endpoint.in_clusters:
        # a GB meter: its alerts are GBCS alerts through the hub's tunnel (the ZCL intake stays too)
        await service.watch_gbcs(han)
        code = STORM_GBCS_ALERT_CODE
    if sim is not None and sim.has_device(eui64) and rate_hz > 0:
        storm = asyncio.get_running_loop().create_task(sim.alert_storm(eui64, code, rate_hz, watch_s))
        ctx.note("storm", f"simulated device asked for alert 0x{code:02x} at {rate_hz:g}/s for {watch_s:g} s")
    throttled_copies: list[dict[str, Any]] = []
    before = service.device_stats(eui64)
    forwarded_at: dict[int, list[float]] = {}
    loop = asyncio.get_running_loop()

    def on_alert(event: Any) -> None:
        if event.eui64 != eui64:
            return
        data = event.as_dict()
        if data["kind"] == "alert":
            forwarded_at.setdefault(event.alert_code, []).append(loop.time())
            if data.get("throttled_alert_count"):
                throttled_copies.append(data)
            ctx.event(EventKind.ALERT, {**data, "forwarded": True}, None)
        else:
            ctx.event(EventKind.LOG, data, None)

    unsubscribe = service.subscribe(on_alert)
    try:
        deadline = loop.time() + watch_s
        # a margin, not 0: a virtual clock in whole ticks would spin on a sub-tick remainder
        while (left := deadline - loop.time()) > CLOCK_EPSILON_S:
            stats = service.device_stats(eui64)
            ctx.progress(f"alerts: {stats['received'] - before['received']} received, "
                         f"{stats['suppressed'] - before['suppressed']} suppressed")
            await asyncio.sleep(min(left, 10.0))
        sent = await storm if storm is not None else None
        await asyncio.sleep(ALERT_DRAIN_S)  # the last alerts' frames still on the air
        if sim is not None and storm is not None and sent and service.device_stats(eui64)["suppressed"] > \
                before["suppressed"] and loop.time() + policy.window_s + ALERT_DRAIN_S < step_end:
            # once the window has drained, one more alert of the code ends the episode: the copy the
            # hub forwards must carry what it throttled (count, since when, sequence id)
            await asyncio.sleep(policy.window_s)
            sent += await sim.alert_storm(eui64, code, 1.0, 0.5)
            await asyncio.sleep(ALERT_DRAIN_S)
        service.flush(force=True, device=eui64)  # other devices' steps may still be counting
    finally:
        unsubscribe()
        if storm is not None and not storm.done():
            storm.cancel()
    after = service.device_stats(eui64)
    delta = {name: after[name] - before[name] for name in after}
    ctx.measure(ALERTS_RECEIVED, delta["received"])
    ctx.measure(ALERTS_FORWARDED, delta["forwarded"])
    ctx.measure(ALERTS_SUPPRESSED, delta["suppressed"])
    ctx.measure(THROTTLE_EPISODES, delta["episodes"])
    ctx.measure(ALERTS_LOST, delta["received"] - delta["forwarded"] - delta["reported"] - delta["refused"])
    busiest = max((_busiest_window(times, policy.window_s) for times in forwarded_at.values()), default=0)
    # while throttled the hub forwards one copy per forward period on top of the threshold
    allowed = policy.threshold + int(policy.window_s // policy.forward_period_s) + 1
    ctx.measure(MeasurementSpec("forwarded_per_window", "", InRange(0, allowed),
                                f"most alerts of one code forwarded in any {policy.window_s:g} s"), busiest)
    if storm is not None:
        # throttling is per (device, alert code): it must engage once the code exceeds the threshold
        expected = rate_hz * min(policy.window_s, watch_s) > policy.threshold + 1 \
            and code not in policy.exclude
        ctx.measure(MeasurementSpec("storm_observed", "", Equals(True), "alerts arrived from the DUT"),
                    delta["received"] > 0)
        if expected:
            ctx.measure(MeasurementSpec("throttled", "", Equals(True), "the storm was throttled"),
                        delta["suppressed"] > 0)
            # the release's point: users learn of throttling from the alerts let through
            carried = [c for c in throttled_copies if c.get("throttled_alert_sequence_id") is not None
                       and (c.get("intake") != "gbcs" or c.get("throttled_since") is not None)]
            ctx.measure(MeasurementSpec("throttling_metadata", "", Equals(True), "forwarded alerts after a "
                                        "suppression carry its count, since when and sequence id"),
                        bool(carried))
            ctx.attach_json("throttled-copies.json", throttled_copies)
        # judged against the sender's own count, never the throttler's
        if sent is not None:
            ctx.measure(MeasurementSpec("sent_by_device", "", InRange(low=1),
                                        "alerts the device says it sent"), sent)
            ctx.measure(MeasurementSpec("unaccounted", "", Equals(0), "alerts the device sent that the hub "
                                        "neither forwarded nor counted as throttled"),
                        sent - delta["forwarded"] - delta["suppressed"] - delta["refused"])
    # the per (device, code) invariant of the durable counts (gateway.alert_counts): each received alert
    # is forwarded, throttled, excluded or refused
    ctx.measure(MeasurementSpec("alert_codes_unbalanced", "", Equals(0), "alert codes of the device whose "
                                "received != forwarded + throttled + excluded + refused"),
                sum(1 for device, _ in service.unbalanced() if device == eui64))


def _busiest_window(times: list[float], window_s: float) -> int:
    best, start = 0, 0
    for end, t in enumerate(times):
        while times[start] <= t - window_s:
            start += 1
        best = max(best, end - start + 1)
    return best


# ----------------------------------------------------------------------------------------- certs
async def step_certs(ctx: StepContext) -> None:
    """Read the meter's trust anchor cells and device certificates over the HAN and verify them: profile,
    chains, cells, hwSerialNum, and SECMP0063 against the expected network operator."""
    from gateway.certs_service import TUNNELING

    service = ctx.gateway.certs
    params = ctx.params
    han = ctx.han()
    if TUNNELING not in han.endpoint.in_clusters:
        ctx.skip("no-credentials-over-han", f"{ctx.device.role} has no Tunneling server (0x0704): its "
                                            "credentials cannot be read over the HAN")
        return
    if refused_without_cbke(ctx, "gbcs"):  # the credentials come over the SE Tunneling cluster
        return
    roots: list[bytes] = []
    for path in params.get("roots", ()):
        roots.append(await read_step_file("certs", Path(path), "root", CERT_MAX))
    intermediates: list[bytes] = []
    if "cert_dir" in params:
        directory = Path(params["cert_dir"])
        if not directory.is_dir():
            raise StepError(f"step certs: cert_dir {directory}: not a directory")
        found = sorted(p for p in directory.iterdir() if p.suffix.lower() in (".pem", ".der", ".crt", ".cer"))
        intermediates += [await read_step_file("certs", p, "CA certificate", CERT_MAX) for p in found]
    trust = ctx.rig_trust.get(ctx.device.radio)
    if not roots and trust is not None:  # the simulated bench's TEST-ONLY PKI
        roots.append(trust.root)
        intermediates += list(trust.intermediates)
    if not roots:
        raise StepError("step certs: no trust root: give roots = [\"ROOT.pem\"] (or cert_dir) in the step")
    expected = params.get("expect_network_operator", ctx.device.network_operator)
    if expected is None and trust is not None:
        # our rule: on the simulated bench the expected network operator is the one its PKI installed
        from certs.testpki import ENTITY_IDS

        expected = ENTITY_IDS["networkOperator"]
        ctx.note("secmp0063-expectation", f"expected network operator {expected} (the bench PKI's)")
    ctx.progress("certs: reading credentials")
    organisations = list(trust.organisations.values()) if trust is not None else []
    report = await service.verify(han, roots=roots, intermediates=intermediates,
                                  expected_network_operator=expected, organisations=organisations)
    ctx.attach_json("certificate-checks.json", [c.to_dict() for c in report])
    failures = [c for c in report if c.outcome.value == "fail"]
    ctx.measure(MeasurementSpec("checks_failed", "", Equals(0), "certificate checks that failed"),
                len(failures))
    ctx.measure(MeasurementSpec("checks_run", "", InRange(low=1), "certificate checks run"), len(report))
    secmp0063 = [c for c in report if c.code.startswith("secmp0063")]
    verdict = "fail" if any(c.outcome.value == "fail" for c in secmp0063) else \
        ("pass" if any(c.outcome.value == "pass" for c in secmp0063) else "not checked")
    # without an expected network operator SECMP0063 cannot be judged: recorded, not failed
    ctx.measure(MeasurementSpec("secmp0063", "", Equals("pass") if expected is not None else None,
                                "installed network operator cells are the expected network operator's"),
                verdict)
    for check in failures:
        ctx.note(check.code, f"{check.subject}: {check.message}" if check.subject else check.message)
    if expected is not None and trust is not None and trust.organisations:
        await _cs02b_wrong_operator(ctx, han, trust, expected)


async def _cs02b_wrong_operator(ctx: StepContext, han: Any, trust: Any, expected: Any) -> None:
    """SECMP0063, the DCC's side: a CS02b placing another network operator's certificates (the bench
    PKI's second operator) must be refused before it is sent, naming both Entity IDs."""
    from gateway.certs_service import UpdateRefused

    service = ctx.gateway.certs
    wrong = [(trust.organisations[f"wrongNetworkOperator-{key}"], key) for key in ("DS", "KA")]
    command = service.cs02b(han, wrong, path=[trust.intermediates[0]])
    ctx.progress("certs: CS02b placing another network operator (must be refused)")
    refusal = None
    try:
        await service.update(han, command, expected)
    except UpdateRefused as exc:
        refusal = str(exc)
        ctx.note("cs02b-refused", refusal)
    ctx.attach_json("cs02b-wrong-operator.json", {"command": command.to_bytes().hex(), "refusal": refusal})
    ctx.measure(MeasurementSpec("cs02b_wrong_operator_refused", "", Equals(True),
                                "a CS02b placing another network operator is refused before sending"),
                refusal is not None)


async def read_step_file(step: str, path: Path, what: str, limit: int) -> bytes:
    """A file a step names (image, root, CA), read in a worker thread so a slow disk or share never stalls
    the event loop the radios and the other DUTs' steps run on; a bad file is a StepError naming it."""
    try:
        return await asyncio.to_thread(read_input, path, limit=limit)
    except BadInputFile as exc:
        raise StepError(f"step {step}: {what} {path}: {exc.problem}") from None


# ----------------------------------------------------------------------------------- loadcontrol
async def step_loadcontrol(ctx: StepContext) -> None:
    """Command the HCALCS (on, off or a level) as the given commander and follow the event: acknowledged,
    started within its randomisation window, and the switch in the commanded state."""
    from gateway.loadcontrol import Commander, LoadCommand

    if refused_without_cbke(ctx, "loadcontrol"):
        return
    service = ctx.gateway.loadcontrol
    params = ctx.params
    switch = params.get("switch", "on")
    level = {"on": 100, "off": 0}.get(switch, params.get("level", 100))
    duration = int(params.get("duration_s", 60))
    command = LoadCommand(level=int(level), duration_s=duration,
                          randomise_s=int(params.get("randomise_s", 0)),
                          commander=Commander(params.get("as", "supplier")))
    # follow the event to its end (switch restored) when the step's timeout allows, else to its start
    until = "end" if ctx.plan_step.timeout_s >= duration + command.randomise_s + LOADCONTROL_END_SLACK_S \
        else "start"
    ctx.progress(f"loadcontrol: {switch} for {duration} s (followed to its {until})")
    result = await service.run(ctx.han(), command, until=until)
    document = result.to_dict()
    ctx.attach_json("load-event.json", document)
    for status in document["statuses"]:
        ctx.event(EventKind.LOG, {"load_event": document["issuer_event_id"], **status}, None)
    ctx.measure(MeasurementSpec("state_after_start", "", Equals("on" if command.expect_on else "off"),
                                "the switch once the event started"), document["state_after_start"])
    if result.offset_s is not None:
        ctx.measure(MeasurementSpec("start_offset", "s", InRange(-2, result.window_s + 2),
                                    "randomised start offset the device applied"), result.offset_s)
    ctx.measure(MeasurementSpec("problems", "", Equals(0), "rules of the load event the device broke"),
                len(result.problems))
    for problem in result.problems:
        ctx.fail("load-control", problem)


# ------------------------------------------------------------------------------------------- cot
async def step_cot(ctx: StepContext) -> None:
    """Change of tenancy: publish it (effective now) and read history across it; the device must take it
    and withhold every interval from before it. A device without a Device Management client and a
    Metering server (IHD, PPMID, HCALCS) takes no change of tenancy: the step is SKIPPED for it."""
    from gateway.tenancy import DEVICE_MANAGEMENT, METERING

    if refused_without_cbke(ctx, "tenancy"):
        return
    service = ctx.gateway.tenancy
    han = ctx.han()
    if DEVICE_MANAGEMENT not in han.endpoint.out_clusters or METERING not in han.endpoint.in_clusters:
        ctx.skip("not-a-meter", f"{ctx.device.role} has no Device Management client and Metering server: "
                                "change of tenancy does not apply")
        return
    ctx.progress("cot: publishing")
    publication = await service.publish(han, provider_id=DEFAULT_PROVIDER_ID)
    document: dict[str, Any] = {"publication": publication.to_dict()}
    ctx.measure(MeasurementSpec("cot_accepted", "", Equals(True),
                                "Default Response SUCCESS to the publication"), publication.accepted)
    if publication.accepted:
        ctx.progress("cot: reading history")
        check = await service.check_history_hidden(han, publication.implementation)
        document["problems"] = list(check.problems)
        document["before"] = {"status": check.before.status.name, "intervals": len(check.before.intervals)}
        document["across"] = {"status": check.across.status.name, "intervals": len(check.across.intervals)}
        leaked = sum(1 for i in check.across.intervals if i.start < publication.implementation)
        leaked += len(check.before.intervals)
        ctx.measure(MeasurementSpec("history_leaked", "intervals", Equals(0),
                                    "intervals from before the change of tenancy still given"), leaked)
        for problem in check.problems:
            ctx.fail("history-leaked", problem)
    else:
        ctx.fail("cot-refused", f"the device refused the change of tenancy ({publication.status})")
    ctx.attach_json("change-of-tenancy.json", document)


# ------------------------------------------------------------------------------------------ cbke
async def step_cbke(ctx: StepContext) -> None:
    """The device established an APS link key with the hub by CBKE (Key Establishment 0x0800, issue 13):
    the exchange it started after joining (waited for up to ``wait_s``), its suite, time and any
    Terminate status."""
    from gateway.cbke import ESTABLISHED, TERMINATED

    wait_s = float(ctx.params.get("wait_s", DEFAULT_CBKE_WAIT_S))
    ctx.progress("cbke: waiting for key establishment")
    result = await ctx.gateway.cbke.wait_for_result(ctx.device.eui64, wait_s)
    if result is None:
        ctx.measure(CBKE_ESTABLISHED, False)
        ctx.fail("cbke-not-started",
                 f"{ctx.device.eui64} did not start key establishment within {wait_s:g} s")
        return
    ctx.measure(CBKE_SUITE, result.suite)
    ctx.measure(CBKE_CRYPTO, result.crypto)
    ctx.measure(CBKE_TERMINATE, result.status.name if result.status is not None else "none")
    ctx.measure(CBKE_ESTABLISHED, result.outcome == ESTABLISHED)
    if result.outcome == ESTABLISHED:
        ctx.measure(CBKE_TIME, round(result.duration_s or 0.0, 3))
        if result.link_key is not None:  # host crypto (sim://): what Wireshark needs to read the SE frames
            key = result.link_key.hex()
            ctx.attach_json("cbke-link-key.json", {
                "eui64": ctx.device.eui64, "link_key": key,
                "tshark": f'-o \'uat:zigbee_pc_keys:"{key}","Normal","{ctx.device.eui64}"\''})
    elif result.outcome == TERMINATED and result.status is not None:
        ctx.fail(f"cbke-{result.status.name.lower().replace('_', '-')}",
                 f"key establishment terminated by the {result.terminated_by} with {result.status.name}: "
                 f"{result.reason}")
    else:
        ctx.fail("cbke-timeout", f"key establishment timed out: {result.reason}")


# ------------------------------------------------------------------------------------------ table
# ---------------------------------------------------------------------------------- ota_negative
async def step_ota_negative(ctx: StepContext) -> None:
    """SECMP0007 negative conformance: each case in ``cases`` (default: all eight) offers the DUT one
    deliberately bad image; a measurement per case compares what the device did with what the ZCL OTA
    cluster says it must do (``ota/negative.py``)."""
    from ota import read_image
    from ota.negative import NEGATIVE_CASES as CASES
    from ota.negative import NegativeCase

    image = None
    if "image" in ctx.params:
        path = Path(ctx.params["image"])
        image = read_image(await read_step_file("ota_negative", path, "image", OTA_IMAGE_MAX), name=str(path))
    han = ctx.han()
    results = []
    for case in ctx.params.get("cases") or tuple(NegativeCase):
        case = NegativeCase(case)
        spec = CASES[case]
        ctx.progress(f"ota negative {case}")
        outcome = await ctx.gateway.ota.push_negative(han, case, image=image)
        results.append(outcome.to_json())
        ctx.measure(MeasurementSpec(f"negative_{case.value.replace('-', '_')}", "",
                                    Equals(spec.expected.value),
                                    f"SECMP0007, {spec.clause}: {spec.what}"), outcome.observed)
        ctx.note(f"negative-{case.value}", f"{'PASS' if outcome.passed else 'FAIL'}: {outcome.reason}")
    ctx.attach_json("ota-negative.json", results)


# ---------------------------------------------------------------------------------------- prompt
async def step_prompt(ctx: StepContext) -> None:
    """Ask the operator to act on the DUT (``action``: power-cycle | press-join) and wait, up to the
    step's timeout, for confirmation; on ``sim://`` the simulator does it (``gateway.operator``)."""
    from gateway.operator import Action, Prompt, operator_for

    han = ctx.han()
    prompt = Prompt(Action(ctx.params.get("action", "power-cycle")), han,
                    timeout_s=float(ctx.plan_step.timeout_s))
    ctx.progress(f"operator: {prompt.action}")
    answer = await operator_for(ctx.gateway, han).ask(prompt)
    ctx.note("operator", f"{prompt.text}: {answer}")


def step_function(kind: StepKind) -> Callable[..., Awaitable[None]]:
    """The function that runs a step kind."""
    table: dict[StepKind, Callable[..., Awaitable[None]]] = {
        StepKind.JOIN: step_join,
        StepKind.INVENTORY: step_inventory,
        StepKind.OTA: step_ota,
        StepKind.GAS: step_gas,
        StepKind.ALERTS: step_alerts,
        StepKind.CERTS: step_certs,
        StepKind.LOADCONTROL: step_loadcontrol,
        StepKind.COT: step_cot,
        StepKind.CBKE: step_cbke,
        StepKind.OTA_NEGATIVE: step_ota_negative,
        StepKind.PROMPT: step_prompt,
        StepKind.CS06: step_cs06,
    }
    return table[kind]
