"""``gw.ota``: OTA push, activation and status for a gateway session, under the rig's OTA policies: the
home of SECMP0007 (firmware pushed to IHD, PPMID and HCALCS, refused unless it fits and is signed) and
SECMP0024 (activation now, at a time, or held until "activate by hash").

One :class:`~ota.server.OtaServer` per radio, installed on first use. :meth:`OtaService.push` decides,
per device and before a byte is sent, what it gets (the image named, or the catalogue's newest newer
image) and refuses, each with a one-line reason: an image for another manufacturer, image type or
hardware range; an unsigned or badly signed image when signatures are required; a downgrade unless
allowed. It then runs one :class:`~ota.campaign.Campaign` over every accepted device on every radio.
:meth:`OtaService.activate` is "activate by hash" (GBCS CS06 semantics): it refuses with
``noImageHeld`` when the device holds no image and ``hashMismatch`` when the held image is not the one
named, judged from what the device reports (ImageUpgradeStatus, DownloadedFileVersion) mapped to the
catalogue's manufacturer-image SHA-256 and to what this server itself transferred; otherwise it sends the
upgrade command and verifies the device rejoined on the new version.
:meth:`OtaService.push_negative` is the SECMP0007 negative test, opt-in and one case at a time
(``ota/negative.py``): it offers a deliberately bad image without the host's own refusals and records
what the device did against what the ZCL OTA cluster says it must do.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import enum
import functools
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import zigpy.exceptions
import zigpy.types as zigpy_t
from cryptography.hazmat.primitives.asymmetric import ec
from zigpy.zcl import ClusterType
from zigpy.zcl.clusters.general import Basic, Ota

from hal import zigpy_fixes
from hal.roles import Role
from hanrig_errors import CERT_MAX, CPL_MAX, read_input, read_input_text
from ota import Catalogue, Image, load_public_key, signing
from ota.campaign import (
    AT_WAIT_LIMIT_S,
    RETRIES,
    STALL_S,
    VERIFY_TIMEOUT_S,
    Campaign,
    CampaignTarget,
    DeviceOutcome,
    Phase,
    read_ota_attributes,
    refused,
    verify_activation,
)
from ota.cpl import Cpl, as_cpl
from ota.cpl import read_cpl as parse_cpl
from ota.link_model import LinkModel, max_ota_block
from ota.negative import (
    NEGATIVE_CASES,
    POWER_LOSS_AT,
    CaseNotApplicable,
    Expected,
    NegativeCase,
    make_negative_offer,
)
from ota.outcomes import Reason
from ota.server import SEND_ERRORS, ActivationPlan, Offer, OtaServer, ProgressSample, Status, TransferState

from .cbke import OTA
from .exceptions import OtaPolicyError
from .han_input import HanInput
from .operator import Action, Operator, Prompt, operator_for
from .session import HanDevice
from .testkeys import image_is_test_signed, is_bench_radio

SAMPLE_SUPPLIER_CERT = "TEST-ONLY-supplier-signing-cert.pem"
HELD_STATUSES = (Ota.ImageUpgradeStatus.Download_complete, Ota.ImageUpgradeStatus.Waiting_to_upgrade,
                 Ota.ImageUpgradeStatus.Count_down)
NO_VERSION = 0xFFFFFFFF


# SECMP0024: the GB meters activate by GBCS CS06 (gateway.gbcs_service); HAN devices by ZCL Upgrade End
METER_ROLES = (Role.ESME, Role.GSME)


class ActivationResponse(enum.IntEnum):
    """GBCS CS06 Activate Firmware response codes."""

    SUCCESS = 0
    NO_IMAGE_HELD = 1
    HASH_MISMATCH = 2
    ACTIVATION_FAILURE = 3

    @property
    def label(self) -> str:
        first, *rest = self.name.lower().split("_")
        return first + "".join(word.capitalize() for word in rest)


@dataclasses.dataclass(frozen=True)
class OtaPolicies:
    """The rig's ``[policies]`` for OTA, plus where images and the Supplier key come from."""

    signatures_required: bool = True
    activation: ActivationPlan = dataclasses.field(default_factory=ActivationPlan)
    allow_downgrade: bool = False
    catalogue: Path | None = None  # None: the bundled sample images (firmware_images/)
    supplier_key: Path | None = None  # certificate or public key; None: the sample catalogue's test cert
    aps_security: bool = False
    max_concurrent: int | None = None  # devices downloading at once per radio (rig max_concurrent_duts)
    stall_s: float = STALL_S
    retries: int = RETRIES
    verify_timeout_s: float = VERIFY_TIMEOUT_S
    at_wait_limit_s: float = AT_WAIT_LIMIT_S
    # the Central Products List (ota.cpl.Cpl, or bare manufacturer-image SHA-256s); None: no CPL check
    cpl: Cpl | frozenset[str] | None = None
    # push images signed with the published TEST-ONLY key to real radios too (gateway.testkeys)
    allow_test_keys: bool = False


@dataclasses.dataclass
class PushReport:
    """What ``push`` did: one outcome per device asked for."""

    activation: str
    outcomes: list[DeviceOutcome]

    @property
    def ok(self) -> bool:
        return all(outcome.ok for outcome in self.outcomes)

    @property
    def unreachable(self) -> list[DeviceOutcome]:
        return [outcome for outcome in self.outcomes if outcome.unreachable]

    def to_json(self) -> dict[str, Any]:
        return {"activation": self.activation, "ok": self.ok,
                "devices": [outcome.to_json() for outcome in self.outcomes]}


@dataclasses.dataclass
class ActivationReport:
    """The answer to one "activate by hash" (CS06): response code plus the running firmware version."""

    eui64: str
    device_id: str
    response: ActivationResponse
    reason: str
    requested_sha256: str
    held_version: int | None = None
    held_sha256: str | None = None
    running_version: int | None = None
    activation_time: str | None = None
    rejoined: bool | None = None

    @property
    def ok(self) -> bool:
        return self.response is ActivationResponse.SUCCESS

    def to_json(self) -> dict[str, Any]:
        def version(value: int | None) -> str | None:
            return None if value is None else f"0x{value:08x}"

        return {"device": self.device_id, "eui64": self.eui64, "ok": self.ok,
                "response": self.response.label, "response_int": int(self.response), "reason": self.reason,
                "requested_sha256": self.requested_sha256, "held_version": version(self.held_version),
                "held_version_int": self.held_version, "held_sha256": self.held_sha256,
                "running_version": version(self.running_version), "running_version_int": self.running_version,
                "activation_time": self.activation_time, "rejoined": self.rejoined}


@dataclasses.dataclass
class NegativeOutcome:
    """One negative case on one device: what was offered, what was expected and what the device did."""

    case: NegativeCase
    eui64: str
    device_id: str
    role: str | None
    expected: Expected
    observed: str  # an Expected value when the device did one of those, else what it did instead
    reason_code: Reason  # the device's result, from the one outcome table
    reason: str
    clause: str
    note: str  # what the bad image is
    image_file: str | None
    image_sha256: str
    version_before: int
    version_after: int | None = None
    queried: bool = False
    blocks: int = 0
    bytes_sent: int = 0
    zcl_status: int | None = None

    @property
    def passed(self) -> bool:
        return self.observed == self.expected.value

    def to_json(self) -> dict[str, Any]:
        def version(value: int | None) -> str | None:
            return None if value is None else f"0x{value:08x}"

        return {"case": self.case.value, "device": self.device_id, "eui64": self.eui64, "role": self.role,
                "passed": self.passed, "expected": self.expected.value, "observed": self.observed,
                "reason_code": self.reason_code.value, "reason": self.reason, "clause": self.clause,
                "note": self.note, "image_file": self.image_file, "image_sha256": self.image_sha256,
                "version_before": version(self.version_before), "version_before_int": self.version_before,
                "version_after": version(self.version_after), "version_after_int": self.version_after,
                "queried": self.queried, "blocks": self.blocks, "bytes_sent": self.bytes_sent,
                "zcl_status": None if self.zcl_status is None else f"0x{self.zcl_status:02x}",
                "zcl_status_int": self.zcl_status}


@dataclasses.dataclass(frozen=True)
class _DeviceFacts:
    manufacturer_code: int
    image_type: int
    version: int
    hardware_version: int | None
    min_block_period_ms: int
    model: str | None = None  # Basic ModelIdentifier, as zigpy's interview read it (the CPL's Device Model)


class OtaService:
    """The session's OTA feature (``gw.ota``)."""

    def __init__(self, gateway: Any, policies: OtaPolicies | None = None) -> None:
        self.gateway = gateway
        self.policies = policies or OtaPolicies()
        self._servers: dict[str, OtaServer] = {}
        self._unclaim: list[Callable[[], None]] = []
        self._catalogue: Catalogue | None = None
        self._key: ec.EllipticCurvePublicKey | None = None

    # ------------------------------------------------------------------ plumbing
    def configure(self, **changes: Any) -> OtaPolicies:
        """Replace some policies (``gw.ota.configure(activation=ActivationPlan.parse("hold"))``)."""
        self.policies = dataclasses.replace(self.policies, **changes)
        if "catalogue" in changes:
            self._catalogue = None
        if "supplier_key" in changes or "catalogue" in changes:
            self._key = None
        for server in self._servers.values():  # servers start with the session; keep them in step
            server.aps_security = self.policies.aps_security
        return self.policies

    def server(self, radio_id: str) -> OtaServer:
        """The OTA server of one radio (installed on first use)."""
        server = self._servers.get(radio_id)
        if server is None:
            app = self.gateway.apps[radio_id]
            server = OtaServer(app, aps_security=self.policies.aps_security,
                               pass_on=functools.partial(zigpy_fixes.deliver_to_zigpy, app))
            # a device that completed CBKE gets APS-secured blocks (the 56-octet budget)
            server.secured = self.gateway.cbke.secured
            # the SE gate: a keyless device's OTA requests are refused (require_cbke)
            server.refused = self._refused
            # the one documented hook: OTA frames reach the server before zigpy's own responder
            self._unclaim.append(zigpy_fixes.claim_packets(app, server.handle_packet))
            self._servers[radio_id] = server
        return server

    def _refused(self, device: Any) -> bool:
        """The SE gate on the OTA server's input (asked for each request the server takes from a known
        device): under ``require_cbke``, a keyless Type 1 device's request is taken unanswered and counted
        under ``ota`` in ``gw.cbke.refusals``. Without the policy it costs one attribute look-up."""
        gate = self.gateway.cbke
        if not gate.policy.required:
            return False
        source = HanInput.of(self.gateway).source_of(device, 0, 0.0)
        return gate.refuse_now(source.eui64, source.role, OTA) is not None

    @property
    def catalogue(self) -> Catalogue:
        """The image catalogue, read on first use (inside the event loop use :meth:`loaded_catalogue`)."""
        if self._catalogue is None:
            self._catalogue = Catalogue.load(self._catalogue_dir())
        return self._catalogue

    async def loaded_catalogue(self) -> Catalogue:
        """:attr:`catalogue`, its first read (every image file, hashed) done in a worker thread so a big
        catalogue or a slow share never stalls the event loop the radios run on."""
        if self._catalogue is not None:
            return self._catalogue
        return await asyncio.to_thread(lambda: self.catalogue)

    async def loaded_supplier_key(self) -> ec.EllipticCurvePublicKey | None:
        """:meth:`supplier_key`, its file read in a worker thread (see :meth:`loaded_catalogue`)."""
        if self._key is not None:
            return self._key
        return await asyncio.to_thread(self.supplier_key)

    def _catalogue_dir(self) -> Path:
        if self.policies.catalogue is not None:
            return self.policies.catalogue
        import firmware_images  # the bundled samples: only when no catalogue is configured

        return firmware_images.DIRECTORY

    def supplier_key(self) -> ec.EllipticCurvePublicKey | None:
        """The Supplier's signing key: the configured one, or the sample catalogue's TEST-ONLY cert."""
        if self._key is None:
            path = self.policies.supplier_key
            if path is None:
                sample = self._catalogue_dir() / SAMPLE_SUPPLIER_CERT
                path = sample if self.policies.catalogue is None and sample.is_file() else None
            if path is not None:
                self._key = load_public_key(read_input(path, limit=CERT_MAX), name=str(path))
        return self._key

    async def close(self) -> None:
        for unclaim in self._unclaim:
            unclaim()
        self._unclaim.clear()
        for server in self._servers.values():
            await server.close()
        self._servers.clear()

    def status(self) -> list[dict[str, Any]]:
        """Transfers the servers know about (offered, downloading or ended), for ``--json`` status views."""
        rows = []
        for radio_id, server in self._servers.items():
            for lane in server.lanes():
                transfer = lane.transfer
                if transfer is None:
                    continue
                rows.append({"radio": radio_id, "eui64": lane.eui64, "state": transfer.state.value,
                             "offset": transfer.offset, "size": transfer.size, "blocks": transfer.blocks,
                             "retries": transfer.retries})
        return rows

    # ------------------------------------------------------------------ push
    async def push(self, devices: Sequence[HanDevice] | None = None, *, image: Image | None = None,
                   activation: ActivationPlan | str | None = None, allow_downgrade: bool | None = None,
                   on_progress: Callable[[ProgressSample], None] | None = None,
                   on_outcome: Callable[[DeviceOutcome], None] | None = None) -> PushReport:
        """Update ``devices`` (default: every joined device with an OTA client); see the module docstring."""
        policies = self.policies
        plan = ActivationPlan.parse(activation) if isinstance(activation, str) else \
            (activation or policies.activation)
        downgrade = policies.allow_downgrade if allow_downgrade is None else allow_downgrade
        chosen = list(devices) if devices is not None else [d for d in self.gateway.devices() if _has_ota(d)]
        key = await self.loaded_supplier_key() if policies.signatures_required else None
        if policies.signatures_required and key is None:
            raise OtaPolicyError("ota: signatures are required but no Supplier key is configured "
                                 "(policies supplier_key, or --supplier-cert)")
        for radio_id in self.gateway.apps:
            self.server(radio_id)  # from now on zigpy's built-in responder answers no OTA request
        outcomes: list[DeviceOutcome | None] = []
        targets: list[tuple[int, CampaignTarget]] = []
        # a device refused for want of a CBKE key is not even asked what it runs: its refusal stands in
        # for its facts (waiting, as every SE service does, for a key establishment still running)
        cbke_refusals = await asyncio.gather(
            *(self.gateway.cbke.verdict(device.eui64, device.role, OTA) for device in chosen))
        facts_of = iter(await asyncio.gather(*(self._facts(device)
                                               for device, refusal in zip(chosen, cbke_refusals, strict=True)
                                               if refusal is None)))
        for device, refusal in zip(chosen, cbke_refusals, strict=True):
            decision = await self._decide(device, refusal or next(facts_of), image, plan, downgrade, key)
            if isinstance(decision, DeviceOutcome):
                outcomes.append(decision)
                continue
            outcomes.append(None)
            targets.append((len(outcomes) - 1, decision))
        campaign = Campaign([target for _, target in targets], stall_s=policies.stall_s,
                            retries=policies.retries, verify_timeout_s=policies.verify_timeout_s,
                            at_wait_limit_s=policies.at_wait_limit_s, max_concurrent=policies.max_concurrent,
                            on_progress=on_progress, on_outcome=on_outcome)
        for (index, _), outcome in zip(targets, await campaign.run(), strict=True):
            outcomes[index] = outcome
        return PushReport(str(plan), [outcome for outcome in outcomes if outcome is not None])

    async def _facts(self, device: HanDevice) -> _DeviceFacts | str:
        """What the device runs (OTA client attributes, Basic hardware version), or why it could not say."""
        if not _has_ota(device):
            return "has no OTA Upgrade client"
        names = ["current_file_version", "manufacturer_id", "image_type_id", "minimum_block_req_delay"]
        try:
            values = await read_ota_attributes(device.zigpy_device, names)
        except (TimeoutError, zigpy.exceptions.ZigbeeException) as exc:
            return f"unreachable: OTA client attributes not read ({type(exc).__name__}: {exc})"
        missing = [name for name in names[:3] if values.get(name) is None]
        if missing:
            return f"unreachable: OTA client did not report {', '.join(missing)}"
        hardware = None
        basic = device.endpoint.in_clusters.get(Basic.cluster_id)
        if basic is not None:
            try:
                async with asyncio.timeout(30):
                    read, _ = await basic.read_attributes(["hw_version"], allow_cache=False)
                hardware = read.get("hw_version")
            except (TimeoutError, zigpy.exceptions.ZigbeeException):
                hardware = None  # the client checks the range itself; the server cannot
        return _DeviceFacts(int(values["manufacturer_id"]), int(values["image_type_id"]),
                            int(values["current_file_version"]), None if hardware is None else int(hardware),
                            int(values.get("minimum_block_req_delay") or 0), device.zigpy_device.model)

    async def _decide(self, device: HanDevice, facts: _DeviceFacts | str, image: Image | None,
                plan: ActivationPlan, allow_downgrade: bool,
                key: ec.EllipticCurvePublicKey | None) -> CampaignTarget | DeviceOutcome:
        role = device.role.value if device.role is not None else None

        def no(reason_code: Reason, reason: str, **kwargs: Any) -> DeviceOutcome:
            return refused(device.eui64, device.id, role, device.radio_id, reason_code, reason,
                           activation=str(plan), **kwargs)

        if isinstance(facts, str):
            if facts.startswith(Reason.NO_KEY_ESTABLISHMENT.value):  # the SE gate's refusal (gw.cbke.verdict)
                return no(Reason.NO_KEY_ESTABLISHMENT, facts)
            if facts.startswith("unreachable"):
                return no(Reason.UNREACHABLE, facts, unreachable=True, phase=Phase.FAILED)
            return no(Reason.NO_OTA_CLIENT, facts)
        before = facts.version
        if image is None:
            catalogue = await self.loaded_catalogue()
            entry = catalogue.select(facts.manufacturer_code, facts.image_type, before,
                                     facts.hardware_version, allow_downgrade=allow_downgrade)
            if entry is None:
                return no(Reason.UP_TO_DATE, f"nothing newer than 0x{before:08x} for "
                          f"0x{facts.manufacturer_code:04x}/0x{facts.image_type:04x} in the catalogue",
                          phase=Phase.UP_TO_DATE, version_before=before)
            chosen = await asyncio.to_thread(entry.read)   # off the loop, as the catalogue
        else:
            chosen = image
        refusal = self._refusal(facts, chosen, allow_downgrade, key) or self._test_key_refusal(device, chosen)
        if refusal is not None:
            return no(*refusal, version_before=before)
        return CampaignTarget(server=self.server(device.radio_id), device=device.zigpy_device,
                              offer=Offer(chosen, plan), device_id=device.id, role=role,
                              radio_id=device.radio_id, version_before=before,
                              min_block_period_ms=facts.min_block_period_ms)

    def _test_key_refusal(self, device: HanDevice, chosen: Image) -> tuple[Reason, str] | None:
        """A TEST-ONLY-signed image goes to bench radios only, unless the operator allowed test keys."""
        if self.policies.allow_test_keys or not image_is_test_signed(chosen):
            return None
        url = self.gateway.urls.get(device.radio_id, device.radio_id)
        if is_bench_radio(self.gateway.apps[device.radio_id], url):
            return None
        return Reason.TEST_KEY, (f"{Path(chosen.name).name} is signed with the published TEST-ONLY key and "
                                 f"{url} is a real radio; give --allow-test-keys to push it anyway")

    def _refusal(self, facts: _DeviceFacts, chosen: Image, allow_downgrade: bool,
                 key: ec.EllipticCurvePublicKey | None) -> tuple[Reason, str] | None:
        """Why the host will not offer ``chosen`` to the device (its reason code and a one-line text)."""
        identity, name, before = chosen.identity, Path(chosen.name).name, facts.version
        stated = (f"{name} is for 0x{identity.manufacturer_code:04x}/0x{identity.image_type:04x}, the device "
                  f"is 0x{facts.manufacturer_code:04x}/0x{facts.image_type:04x}")
        if identity.manufacturer_code not in (facts.manufacturer_code, 0xFFFF):
            return Reason.MANUFACTURER, stated
        if identity.image_type not in (facts.image_type, 0xFFFF):
            return Reason.IMAGE_TYPE, stated
        if not identity.fits_hardware(facts.hardware_version):
            return Reason.HARDWARE_RANGE, (f"{name} is for hardware {identity.hw_min}..{identity.hw_max}, "
                                           f"the device is hardware {facts.hardware_version}")
        if identity.file_version == before:
            return Reason.SAME_VERSION, f"the device already runs 0x{before:08x}"
        if identity.file_version < before and not allow_downgrade:
            return Reason.DOWNGRADE, (f"downgrade 0x{before:08x} -> 0x{identity.file_version:08x} needs "
                                      f"--allow-downgrade")
        if self.policies.signatures_required:
            assert key is not None
            if chosen.signature is None:
                return Reason.UNSIGNED, f"{name} is unsigned and the rig requires Supplier signatures"
            if not signing.verify_raw(key, chosen.manufacturer_image, chosen.signature):
                return Reason.SIGNATURE, (f"{name}: the Supplier signature does not verify against the "
                                          f"configured key")
        if self.policies.cpl is not None:
            refusal = as_cpl(self.policies.cpl).refusal(
                chosen.sha256, manufacturer=identity.manufacturer_code,
                firmware_version=identity.file_version, model=facts.model)
            if refusal is not None:
                return Reason.CPL, f"{name}: {refusal}"
        return None

    # ------------------------------------------------------------------ negative tests (SECMP0007)
    async def push_negative(self, device: HanDevice, case: NegativeCase | str, *, image: Image | None = None,
                            operator: Operator | None = None) -> NegativeOutcome:
        """Offer ``device`` the bad image of ``case`` (made from ``image``, default the catalogue's newest
        newer image for it) and record what the device did. The host's own refusals are off for this
        offer only; the image is offered with "hold", so nothing the device accepts is run.
        For power-loss, ``operator`` is asked to power-cycle the device (default: the simulator's reboot on
        ``sim://``, the person at the console otherwise)."""
        case = NegativeCase(case)
        spec = NEGATIVE_CASES[case]
        facts = await self._facts(device)
        if isinstance(facts, str):
            from .exceptions import DeviceNotFound

            raise DeviceNotFound(device.eui64, facts)
        good = image
        if good is None:
            catalogue = await self.loaded_catalogue()
            entry = catalogue.select(facts.manufacturer_code, facts.image_type, facts.version,
                                     facts.hardware_version)
            if entry is None:
                raise OtaPolicyError(f"ota negative {case}: the catalogue has no image newer than "
                                     f"0x{facts.version:08x} for 0x{facts.manufacturer_code:04x}/"
                                     f"0x{facts.image_type:04x} to make the bad image from")
            good = await asyncio.to_thread(entry.read)
        try:
            bad = make_negative_offer(case, good, device_version=facts.version,
                                      device_hardware=facts.hardware_version)
        except CaseNotApplicable as exc:
            raise OtaPolicyError(f"ota negative {case}: {exc}") from None
        role = device.role.value if device.role is not None else None
        outcome = NegativeOutcome(case, device.eui64, device.id, role, spec.expected, "", Reason.UP_TO_DATE,
                                  "", spec.clause, bad.note, Path(good.name).name, bad.image.sha256,
                                  facts.version)
        server = self.server(device.radio_id)
        ieee = device.zigpy_device.ieee
        offer = Offer(bad.image, ActivationPlan.parse("hold"), served=bad.served, server_checks=False)
        transfer = server.offer(ieee, offer, min_block_period_ms=facts.min_block_period_ms)
        since = asyncio.get_running_loop().time()
        try:
            try:
                await server.notify(device.zigpy_device)
            except SEND_ERRORS as exc:
                from .exceptions import DeviceNotFound

                problem = f"Image Notify not delivered ({type(exc).__name__})"
                raise DeviceNotFound(device.eui64, problem) from exc
            if case is NegativeCase.POWER_LOSS:
                await self._lose_power(device, server, transfer, outcome,
                                       operator or operator_for(self.gateway, device))
            else:
                await self._watch_refusal(server, transfer, outcome)
        finally:
            server.withdraw(ieee)
        query = server.last_query(ieee)
        outcome.queried = query is not None and query.time >= since
        outcome.blocks, outcome.bytes_sent = transfer.blocks, transfer.bytes_served
        if not outcome.passed:
            outcome.reason = f"expected {spec.expected.value} ({spec.clause}); {outcome.reason}"
        return outcome

    async def _watch_refusal(self, server: OtaServer, transfer: Any, outcome: NegativeOutcome) -> None:
        """Follow the offer until the device ends it, or nothing happens for ``stall_s``."""
        while transfer.state is not TransferState.ENDED:
            transfer.changed.clear()
            try:
                async with asyncio.timeout(self.policies.stall_s):
                    await transfer.changed.wait()
            except TimeoutError:
                break
        if transfer.state is TransferState.ENDED and transfer.end_status is not None:
            status = int(transfer.end_status)
            outcome.zcl_status = status
            name = Status(status).name if status in Status._value2member_map_ else f"0x{status:02x}"
            outcome.observed = f"upgrade-end-{name.lower().replace('_', '-')}"
            if status == Status.INVALID_IMAGE:
                outcome.reason_code = Reason.DEVICE_INVALID_IMAGE
            elif status == Status.SUCCESS:
                outcome.reason_code = Reason.DEVICE_ACCEPTED
            else:
                outcome.reason_code = Reason.DEVICE_ABORT
            outcome.reason = (f"the device downloaded {transfer.offset} of {transfer.size} octets and sent "
                              f"Upgrade End {name}")
        elif transfer.blocks == 0:
            outcome.observed = Expected.NOT_REQUESTED.value
            outcome.reason_code = Reason.DEVICE_NOT_REQUESTED
            outcome.reason = f"the device requested no block within {self.policies.stall_s:.0f} s"
        else:
            outcome.observed = "download-stalled"
            outcome.reason_code = Reason.TRANSFER_STALLED
            outcome.reason = (f"the device requested {transfer.blocks} blocks, then stopped at offset "
                              f"{transfer.offset} of {transfer.size} without an Upgrade End")

    async def _lose_power(self, device: HanDevice, server: OtaServer, transfer: Any, outcome: NegativeOutcome,
                          operator: Operator) -> None:
        """Cut the power when the device holds half the image; then it must come back on its old version
        holding no image."""
        loop = asyncio.get_running_loop()
        while transfer.offset < transfer.size * POWER_LOSS_AT and transfer.state is not TransferState.ENDED:
            transfer.changed.clear()
            try:
                async with asyncio.timeout(self.policies.stall_s):
                    await transfer.changed.wait()
            except TimeoutError:
                from .exceptions import DeviceNotFound

                raise DeviceNotFound(device.eui64, f"the download did not reach {POWER_LOSS_AT:.0%} (offset "
                                                   f"{transfer.offset} of {transfer.size})") from None
        offset = transfer.offset
        ieee = device.zigpy_device.ieee
        cut_at = loop.time()
        await operator.ask(Prompt(Action.POWER_CYCLE, device, timeout_s=self.policies.stall_s))
        server.withdraw(ieee)  # what it asks for after the restart gets NO_IMAGE_AVAILABLE
        deadline = cut_at + self.policies.verify_timeout_s
        values: dict[str, Any] = {}
        while loop.time() < deadline:
            if server.announced.get(ieee, float("-inf")) > cut_at:
                try:
                    values = await read_ota_attributes(
                        device.zigpy_device, ["current_file_version", "image_upgrade_status",
                                              "downloaded_file_version"])
                    break
                except (TimeoutError, zigpy.exceptions.ZigbeeException):
                    pass
            await asyncio.sleep(2.0)
        running = values.get("current_file_version")
        status = values.get("image_upgrade_status")
        outcome.version_after = None if running is None else int(running)
        where = f"after losing power at offset {offset} of {transfer.size}"
        if running is None:
            outcome.observed = "did-not-come-back"
            outcome.reason_code = Reason.UNREACHABLE
            outcome.reason = f"the device did not rejoin and report its version within " \
                             f"{self.policies.verify_timeout_s:.0f} s {where}"
        elif int(running) != outcome.version_before:
            outcome.observed = "runs-partial-image"
            outcome.reason_code = Reason.DEVICE_PARTIAL_IMAGE
            outcome.reason = f"the device runs 0x{int(running):08x} {where}"
        elif status in HELD_STATUSES:
            outcome.observed = "holds-partial-image"
            outcome.reason_code = Reason.DEVICE_PARTIAL_IMAGE
            outcome.reason = f"the device reports {Ota.ImageUpgradeStatus(status).name} {where}"
        else:
            outcome.observed = Expected.ABORTED.value
            outcome.reason_code = Reason.DEVICE_POWER_LOSS
            outcome.reason = f"the device came back on 0x{int(running):08x} holding no image {where}"

    # ------------------------------------------------------------------ activate by hash (CS06)
    async def activate(self, device: HanDevice | str, sha256: str, *,
                       at: dt.datetime | None = None) -> ActivationReport:
        """Run the image the device holds if its manufacturer-image SHA-256 is ``sha256``."""
        han = self.gateway.device(device) if isinstance(device, str) else device
        wanted = sha256.strip().lower()
        if len(wanted) != 64 or any(c not in "0123456789abcdef" for c in wanted):
            raise OtaPolicyError(f"ota activate: hash {sha256!r} is not a SHA-256 (64 hex digits)")
        if han.role in METER_ROLES:
            return await self._activate_meter(han, wanted, at)   # CS06 over the tunnel: its gate is gbcs'
        await self.gateway.cbke.admit(han.eui64, han.role, OTA)   # policies.require_cbke
        server = self.server(han.radio_id)
        report = ActivationReport(han.eui64, han.id, ActivationResponse.NO_IMAGE_HELD, "", wanted)
        names = ["image_upgrade_status", "downloaded_file_version", "current_file_version",
                 "manufacturer_id", "image_type_id"]
        try:
            values = await read_ota_attributes(han.zigpy_device, names)
        except (TimeoutError, zigpy.exceptions.ZigbeeException) as exc:
            from .exceptions import DeviceNotFound

            raise DeviceNotFound(han.eui64, f"OTA client attributes not read ({type(exc).__name__})") from exc
        status = values.get("image_upgrade_status")
        held = values.get("downloaded_file_version")
        report.running_version = values.get("current_file_version")
        if status not in HELD_STATUSES or held in (None, NO_VERSION):
            shown = "unknown" if status is None else Ota.ImageUpgradeStatus(status).name
            report.reason = f"the device holds no image (ImageUpgradeStatus {shown})"
            return report
        held = int(held)
        report.held_version = held
        mfr, kind = int(values.get("manufacturer_id") or 0), int(values.get("image_type_id") or 0)
        report.held_sha256 = server.completed_hash(han.zigpy_device.ieee, held) or await self._catalogue_hash(
            mfr, kind, held)
        if report.held_sha256 != wanted:
            report.response = ActivationResponse.HASH_MISMATCH
            known = report.held_sha256 or "an image unknown to the catalogue and to this server"
            report.reason = f"the device holds 0x{held:08x} ({known}), not {wanted}"
            return report
        moment = at.astimezone(dt.UTC) if at is not None else server.clock()
        upgrade_time = 0 if at is None else int(zigpy_t.UTCTime.from_datetime(moment))
        report.activation_time = moment.isoformat(timespec="seconds").replace("+00:00", "Z")
        since = asyncio.get_running_loop().time()
        try:
            await server.send_upgrade_command(han.zigpy_device, mfr, kind, held, upgrade_time)
        except (TimeoutError, zigpy.exceptions.ZigbeeException) as exc:
            report.response = ActivationResponse.ACTIVATION_FAILURE
            report.reason = f"upgrade command not delivered ({type(exc).__name__}: {exc})"
            return report
        delay = (moment - server.clock()).total_seconds()
        if delay > self.policies.at_wait_limit_s:
            report.response = ActivationResponse.SUCCESS
            report.reason = f"accepted; activates at {report.activation_time}"
            return report
        await asyncio.sleep(max(delay, 0.0))
        outcome = DeviceOutcome(han.eui64, han.id, None, han.radio_id, Phase.FAILED, None, "",
                                report.running_version)
        await verify_activation(server, han.zigpy_device, held, outcome, since=since,
                                timeout_s=self.policies.verify_timeout_s)
        report.rejoined = outcome.rejoined
        if outcome.phase is Phase.ACTIVATED:
            report.response = ActivationResponse.SUCCESS
            report.running_version = outcome.version_after
            report.reason = outcome.reason
        else:
            report.response = ActivationResponse.ACTIVATION_FAILURE
            report.running_version = outcome.version_after
            report.reason = outcome.reason
        return report

    async def _activate_meter(self, han: HanDevice, wanted: str, at: dt.datetime | None) -> ActivationReport:
        """SECMP0024: a meter activates by GBCS CS06, signed by the bench's Supplier; the meter checks the
        hash against the image its OTA client holds. Future-dated, its 8F66 / 8F67 alert is awaited."""
        since = asyncio.get_running_loop().time()
        done = await self.gateway.gbcs.activate_firmware(han, bytes.fromhex(wanted), at=at)
        response = ActivationResponse.__members__.get(done.outcome.upper(),
                                                      ActivationResponse.ACTIVATION_FAILURE)
        alert = f", alert 0x{int(done.alert['alert_code_int']):04X}" if done.alert else ""
        report = ActivationReport(han.eui64, han.id, response, f"GBCS CS06 (counter {done.counter}): "
                                                              f"{done.outcome}{alert}", wanted,
                                  activation_time=done.execution_date_time)
        version = None if done.firmware_version is None else int(str(done.firmware_version), 16)
        report.running_version = version
        if done.ok and version is not None:
            # the meter restarts into the image: it must rejoin and report that version (as on the ZCL path)
            report.held_version, report.held_sha256 = version, wanted
            outcome = DeviceOutcome(han.eui64, han.id, None, han.radio_id, Phase.FAILED, None, "", None)
            await verify_activation(self.server(han.radio_id), han.zigpy_device, version, outcome,
                                    since=since,
                                    timeout_s=self.policies.verify_timeout_s)
            report.rejoined, report.running_version = outcome.rejoined, outcome.version_after
            if outcome.phase is not Phase.ACTIVATED:
                report.response = ActivationResponse.ACTIVATION_FAILURE
                report.reason += f"; {outcome.reason}"
        return report

    async def _catalogue_hash(self, manufacturer_code: int, image_type: int, version: int) -> str | None:
        for entry in await self.loaded_catalogue():
            identity = entry.identity
            if identity.file_version == version and \
                    identity.manufacturer_code in (manufacturer_code, 0xFFFF) and \
                    identity.image_type in (image_type, 0xFFFF):
                return entry.manufacturer_image_sha256
        return None


def read_cpl(path: Path) -> Cpl:
    """A CPL file (``ota.cpl``: the CPL's CSV, or bare hashes one per line); a bad line is a CplError
    naming the file and line."""
    return parse_cpl(read_input_text(path, limit=CPL_MAX), str(path))


def _has_ota(device: HanDevice) -> bool:
    return ota_client(device.zigpy_device) is not None


def ota_client(device: Any) -> Any:
    """The device's OTA Upgrade client cluster, or None."""
    try:
        return device.find_cluster(cluster_id=Ota.cluster_id, cluster_type=ClusterType.Client)
    except ValueError:
        return None


def modelled_limit_bps() -> float:
    """The modelled OTA limit one device can reach (one hop, NWK security, APS ACKs, the largest block
    that fits one frame), in bytes per second: what reports plot measured throughput against."""
    return round(LinkModel().block_throughput_bps(max_ota_block()), 1)
