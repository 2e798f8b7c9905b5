"""Radios by URL: ``open_radio(url, config)`` yields a started zigpy ControllerApplication.

Schemes (one dispatch table, like ``zigpy/serial.py``; ``sim://`` is one more scheme):

* ``sim://`` / ``sim://?rig=FILE&seed=N&clock=real|virtual&radio=ID``: the simulated HAN (``hal.sim``);
* ``ezsp:`` (bellows), ``znp:`` (zigpy-znp, extra ``znp``), ``deconz:`` (zigpy-deconz, extra ``deconz``),
  each followed by a device path (``ezsp:///dev/ttyUSB0``) or ``socket://HOST:PORT``, with ``baudrate``
  and ``flow_control`` (hardware | software | none) query parameters; ``sim_control=PATH`` names the
  control socket of a virtual stick (``hanrig sim stick --control PATH``), which makes the simulator
  control protocol reachable as ``gw.sim(radio)`` over it (``hal.simlink``);
* a bare device path or ``socket://HOST:PORT`` means EZSP (hanrig's rule: bellows is always installed);
* ``labgrid://PLACE?coordinator=HOST:PORT``: an EZSP stick shared through a labgrid place (extra ``lab``):
  the place is acquired for as long as the radio is open (``hal.lab_place``).

The radio's clock: :func:`new_event_loop` / :func:`run` give a virtual-time loop (``hal.virtual_clock``) for
``sim://`` (default) and a normal loop for ``clock=real`` and every real radio. CLI commands and tests
use :func:`run` so zigpy's timers follow the simulated clock.

zigpy's database persists per radio URL under ``$HANRIG_DATA_DIR`` (default ``~/.local/share/hanrig``),
so a real bench restarts without re-pairing; ``sim://`` keeps no database unless ``RadioConfig.data_dir``
is given (its devices are rebuilt from the rig file on every start).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import importlib
import logging
import os
import re
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode

import zigpy.application
import zigpy.config as zigpy_conf
import zigpy.exceptions
import zigpy.types as zigpy_t
import zigpy.util

from . import capture, device_ledger, zigpy_fixes
from .exceptions import BadInstallCode, BadRadioUrl, MissingRadioExtra, RadioUnreachable
from .sim.config import SimConfig, default_bench, load_sim_config
from .sim.han import NetworkParams
from .virtual_clock import VirtualClockLoop

T = TypeVar("T")
LOGGER = logging.getLogger(__name__)

SIM_SCHEME = "sim"
LABGRID_SCHEME = "labgrid"
RADIO_LIBRARIES: dict[str, tuple[str, str, str]] = {
    # scheme: (module, ControllerApplication attribute, extra that installs it)
    "ezsp": ("bellows.zigbee.application", "ControllerApplication", "ezsp"),
    "znp": ("zigpy_znp.zigbee.application", "ControllerApplication", "znp"),
    "deconz": ("zigpy_deconz.zigbee.application", "ControllerApplication", "deconz"),
}
FLOW_CONTROL = ("hardware", "software", "none")
DEVICE_WAIT_S = 300.0  # how long open_radio waits (radio clock) for sim devices to be interviewed
RECONNECT_DELAYS_S = (0.0, 1.0, 2.0, 5.0, 10.0, 30.0)  # after a lost connection to a real stick
_HOST_PORT_RE = re.compile(r"(\[[0-9a-fA-F:]+\]|[A-Za-z0-9_.-]+)(:\d+)?")
_SCHEME_RE = re.compile(r"^([a-z][a-z0-9+.-]*):(.*)$", re.IGNORECASE)


@dataclass(frozen=True)
class RadioUrl:
    """A parsed radio URL."""

    url: str
    scheme: str  # sim | ezsp | znp | deconz
    path: str = ""  # device path or socket://HOST:PORT (real radios)
    baudrate: int | None = None
    flow_control: str | None = None
    rig: Path | None = None  # sim only
    seed: int | None = None
    clock: str | None = None  # sim only: virtual | real; None = the rig file's [sim] clock (virtual)
    radio_id: str | None = None  # sim only: which [[radios]] id of the rig file this is
    coordinator: str | None = None  # labgrid only: the coordinator's HOST[:PORT]
    sim_control: str | None = None  # real radios: a virtual stick's control socket (hal.simlink)

    @property
    def is_sim(self) -> bool:
        return self.scheme == SIM_SCHEME

    @property
    def virtual_clock(self) -> bool:
        return self.is_sim and self.clock != "real"


@dataclass(frozen=True)
class RadioConfig:
    """Network parameters and storage for a radio (all optional: defaults form a fixed bench network)."""

    channel: int | None = None
    pan_id: int | None = None
    extended_pan_id: zigpy_t.EUI64 | None = None
    network_key: bytes | None = None
    tc_link_key: bytes | None = None
    install_codes: Mapping[zigpy_t.EUI64, bytes] = field(default_factory=dict)
    data_dir: Path | None = None
    sim: SimConfig | None = None  # sim:// only: use this instead of the URL's rig file / default bench
    wait_for_devices: bool = True  # sim:// only: return once every joined device is interviewed


def parse_radio_url(url: str) -> RadioUrl:
    """Parse and check a radio URL; a bad one raises :class:`BadRadioUrl` naming it."""
    text = url.strip()
    if not text:
        raise BadRadioUrl(url, "empty")
    base, _, query = text.partition("?")
    try:
        params = dict(parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query)))
    except ValueError:
        raise BadRadioUrl(url, f"malformed query {query!r}") from None
    match = _SCHEME_RE.match(base)
    scheme = match.group(1).lower() if match else ""
    if scheme == SIM_SCHEME:
        if match and match.group(2).strip("/"):
            raise BadRadioUrl(url, "sim:// takes no path (use ?rig=FILE)")
        return _parse_sim(url, params)
    if scheme == LABGRID_SCHEME:
        assert match is not None
        return _parse_labgrid(url, match.group(2), params)
    if scheme in RADIO_LIBRARIES:
        assert match is not None
        target = match.group(2)
        if target.startswith("///"):
            target = target[2:]
        elif target.startswith("//") and "://" not in target:
            raise BadRadioUrl(url, "a device path must be absolute (ezsp:///dev/ttyUSB0)")
    elif base.startswith("/") or scheme in ("socket", "tcp"):
        scheme, target = "ezsp", base
    else:
        known = ", ".join([f"{SIM_SCHEME}://", *[f"{s}:" for s in RADIO_LIBRARIES], f"{LABGRID_SCHEME}://"])
        raise BadRadioUrl(url, f"unknown radio type (expected {known}, a device path or socket://HOST:PORT)")
    if not target:
        raise BadRadioUrl(url, "no device path or socket://HOST:PORT")
    if target.startswith(("socket://", "tcp://")):
        if not re.match(r"^[a-z]+://[^:/]+:\d+$", target):
            raise BadRadioUrl(url, f"{target!r} is not socket://HOST:PORT")
        port = int(target.rpartition(":")[2])
        if not 1 <= port <= 65535:
            raise BadRadioUrl(url, f"port {port} is outside 1..65535")
    baudrate: int | None = None
    flow: str | None = None
    control: str | None = None
    for key, value in params.items():
        if key == "baudrate":
            if not value.isdigit() or not 1200 <= int(value) <= 4_000_000:
                raise BadRadioUrl(url, f"baudrate {value!r} is not a number in 1200..4000000")
            baudrate = int(value)
        elif key == "flow_control":
            if value not in FLOW_CONTROL:
                raise BadRadioUrl(url, f"flow_control {value!r} is not one of {' | '.join(FLOW_CONTROL)}")
            flow = value
        elif key == "sim_control":
            if not value:
                raise BadRadioUrl(url, "sim_control= needs the virtual stick's control socket path")
            control = value
        else:
            raise BadRadioUrl(url, f"unknown parameter {key!r} "
                                   "(allowed: baudrate, flow_control, sim_control)")
    return RadioUrl(url=url, scheme=scheme, path=target, baudrate=baudrate, flow_control=flow,
                    sim_control=control)


def _parse_labgrid(url: str, rest: str, params: dict[str, str]) -> RadioUrl:
    place = rest[2:] if rest.startswith("//") else ""
    if not re.fullmatch(r"[A-Za-z0-9_.+-]+", place):
        raise BadRadioUrl(url, "expected labgrid://PLACE (a labgrid place name)")
    coordinator = params.pop("coordinator", None)
    if coordinator is not None and not _HOST_PORT_RE.fullmatch(coordinator):
        raise BadRadioUrl(url, f"coordinator {coordinator!r} is not HOST[:PORT]")
    try:  # the serial parameters are checked as for any socket:// stick
        serial = parse_radio_url("socket://labgrid:1" + (f"?{urlencode(params)}" if params else ""))
    except BadRadioUrl as exc:
        raise BadRadioUrl(url, exc.problem) from None
    return RadioUrl(url=url, scheme=LABGRID_SCHEME, path=place, baudrate=serial.baudrate,
                    flow_control=serial.flow_control, coordinator=coordinator, sim_control=serial.sim_control)


def _parse_sim(url: str, params: dict[str, str]) -> RadioUrl:
    values: dict[str, Any] = {}
    for key, value in params.items():
        if key == "rig":
            if not value:
                raise BadRadioUrl(url, "rig= needs a file")
            values["rig"] = Path(value)
        elif key == "seed":
            if not value.isdigit():
                raise BadRadioUrl(url, f"seed {value!r} is not a non-negative integer")
            values["seed"] = int(value)
        elif key == "clock":
            if value not in ("virtual", "real"):
                raise BadRadioUrl(url, f"clock {value!r} is not one of virtual | real")
            values["clock"] = value
        elif key == "radio":
            values["radio_id"] = value
        else:
            raise BadRadioUrl(url, f"unknown parameter {key!r} (allowed: rig, seed, clock, radio)")
    return RadioUrl(url=url, scheme=SIM_SCHEME, **values)


def data_dir(config: RadioConfig | None = None) -> Path:
    """Where zigpy databases live: ``RadioConfig.data_dir``, ``$HANRIG_DATA_DIR`` or ~/.local/share/hanrig."""
    if config is not None and config.data_dir is not None:
        return config.data_dir
    env = os.environ.get("HANRIG_DATA_DIR")
    return Path(env) if env else Path.home() / ".local" / "share" / "hanrig"


def database_path(url: str, config: RadioConfig | None = None) -> Path:
    """One zigpy database per radio URL (query parameters such as baudrate do not change the radio)."""
    base = url.partition("?")[0]
    slug = re.sub(r"[^A-Za-z0-9]+", "_", base).strip("_") or "radio"
    return data_dir(config) / f"zigpy-{slug}.db"


def ledger_path(url: str, config: RadioConfig | None = None) -> Path:
    """The device ledger (``hal.device_ledger``) beside the radio's zigpy database."""
    db = database_path(url, config)
    return db.with_name(db.name.replace("zigpy-", "hanrig-devices-", 1))


def alert_counts_path(url: str, config: RadioConfig | None = None) -> Path | None:
    """The SECMP0062 alert-count file (``gateway.alert_counts``) beside the radio's zigpy database; None on
    ``sim://`` without a data dir (a simulated PAN keeps no state of its own, as with its zigpy database)."""
    if url.startswith(SIM_SCHEME + "://") and (config is None or config.data_dir is None):
        return None
    db = database_path(url, config)
    return db.with_name(db.name.replace("zigpy-", "hanrig-alerts-", 1))


def _network_config(config: RadioConfig) -> dict[str, Any]:
    network: dict[str, Any] = {}
    if config.channel is not None:
        network[zigpy_conf.CONF_NWK_CHANNEL] = config.channel
    if config.pan_id is not None:
        network[zigpy_conf.CONF_NWK_PAN_ID] = config.pan_id
    if config.extended_pan_id is not None:
        network[zigpy_conf.CONF_NWK_EXTENDED_PAN_ID] = str(config.extended_pan_id)
    if config.network_key is not None:
        network[zigpy_conf.CONF_NWK_KEY] = list(config.network_key)
    if config.tc_link_key is not None:
        network[zigpy_conf.CONF_NWK_TC_LINK_KEY] = list(config.tc_link_key)
    return network


def sim_config_for(parsed: RadioUrl, config: RadioConfig) -> SimConfig:
    """The SimConfig a ``sim://`` URL stands for (explicit config > rig file > default bench)."""
    if config.sim is not None:
        sim = config.sim
    elif parsed.rig is not None:
        sim = load_sim_config(parsed.rig, radio_id=parsed.radio_id)
    else:
        sim = default_bench()
    changes: dict[str, Any] = {}
    if parsed.seed is not None:
        changes["seed"] = parsed.seed
    if parsed.clock is not None:
        changes["clock"] = parsed.clock
    if changes:
        sim = sim.replace(settings=dataclasses.replace(sim.settings, **changes))
    return sim


def network_params(config: RadioConfig) -> NetworkParams:
    params = NetworkParams()
    if config.channel is not None:
        params.channel = config.channel
    if config.pan_id is not None:
        params.pan_id = config.pan_id
    if config.extended_pan_id is not None:
        params.extended_pan_id = config.extended_pan_id
    if config.network_key is not None:
        params.network_key = zigpy_t.KeyData(config.network_key)
    if config.tc_link_key is not None:
        params.tc_link_key = zigpy_t.KeyData(config.tc_link_key)
    return params


@contextlib.asynccontextmanager
async def open_radio(
    url: str, config: RadioConfig | None = None
) -> AsyncIterator[zigpy.application.ControllerApplication]:
    """Open the radio ``url`` names and yield a started zigpy application; shut it down on exit
    (a ``labgrid://`` place is acquired first and released last)."""
    parsed = parse_radio_url(url)
    if parsed.scheme != LABGRID_SCHEME:
        async with _open_parsed(parsed, config) as app:
            yield app
        return
    from .lab_place import acquired_serial_port

    async with acquired_serial_port(url, parsed.path, parsed.coordinator) as port:
        serial = dataclasses.replace(parsed, scheme="ezsp", path=port.url,
                                     baudrate=parsed.baudrate or port.speed)
        async with _open_parsed(serial, config) as app:
            yield app


@contextlib.asynccontextmanager
async def _open_parsed(
    parsed: RadioUrl, config: RadioConfig | None
) -> AsyncIterator[zigpy.application.ControllerApplication]:
    config = config or RadioConfig()
    zigpy_fixes.apply()
    if parsed.scheme == "ezsp":
        zigpy_fixes.apply_bellows()
    if parsed.is_sim:
        app = await _start_sim(parsed, config)
    else:
        app = await _start_real(parsed, config)
    ledger = _LEDGERS.get(app)
    stop_capture = _CAPTURES.pop(app, None)
    try:
        yield app
    finally:
        if stop_capture is not None:
            stop_capture()
        if ledger is not None:
            app.remove_listener(ledger)
            ledger.close()
        watcher = _RECONNECTORS.pop(app, None)
        if watcher is not None and watcher.task is not None:
            watcher.task.cancel()
        link = _SIM_LINKS.pop(app, None)
        if link is not None:
            link.close()
        await app.shutdown()


async def _start_sim(parsed: RadioUrl, config: RadioConfig) -> zigpy.application.ControllerApplication:
    from .sim.application import SimApplication, sim_zigpy_config
    from .sim.han import VirtualHan

    han = VirtualHan(sim_config_for(parsed, config), network_params(config))
    stop_capture = capture.attach_to_han(han, parsed.url)  # from the first frame: the joins and interviews
    db = str(database_path(parsed.url, config)) if config.data_dir is not None else None
    zconfig = sim_zigpy_config(han, parsed.url, database_path=db)
    zconfig[zigpy_conf.CONF_NWK] = _network_config(config)
    try:
        app = await SimApplication.new(zconfig, auto_form=True, start_radio=False)
        ledger = _open_ledger(app, parsed, config) if db is not None else None
        await app.startup(auto_form=True)
    except ConnectionError as exc:
        if stop_capture is not None:
            stop_capture()
        raise RadioUnreachable(parsed.url, str(exc)) from exc
    if stop_capture is not None:
        _CAPTURES[app] = stop_capture
    if ledger is not None:
        device_ledger.restore(app, ledger)
    if config.wait_for_devices:
        try:
            await wait_for_devices(app, DEVICE_WAIT_S)
        except RadioUnreachable as exc:
            # a rig with faults may keep a device from finishing its interview: the radio still works,
            # and whoever uses that device reports it (the runner records it per DUT)
            LOGGER.warning("%s", exc)
        except BaseException:
            await app.shutdown()
            raise
    return app


def interview_complete(device: Any) -> bool:
    """True once zigpy finished interviewing ``device`` (descriptors, endpoints, Basic model info)."""
    return bool(device.is_initialized and not device.initializing and device.model is not None)


async def wait_for_devices(app: zigpy.application.ControllerApplication, timeout: float) -> None:
    """Wait until every device zigpy knows (but the coordinator) is interviewed; Unreachable on timeout."""
    own = app.state.node_info.ieee
    try:
        async with asyncio.timeout(timeout):
            while True:
                pending = [d for ieee, d in app.devices.items() if ieee != own and not interview_complete(d)]
                if not pending:
                    return
                await asyncio.sleep(0.5)
    except TimeoutError:
        names = ", ".join(str(d.ieee) for d in pending)
        raise RadioUnreachable(
            app.config[zigpy_conf.CONF_DEVICE][zigpy_conf.CONF_DEVICE_PATH],
            f"devices not interviewed within {timeout:.0f} s: {names}",
        ) from None


async def _start_real(parsed: RadioUrl, config: RadioConfig) -> zigpy.application.ControllerApplication:
    link = None
    if parsed.sim_control is not None:  # before the radio: a wrong path fails at once, naming it
        from .simlink import SimLink

        link = SimLink(parsed.sim_control, parsed.url)
        link.connect()
    module_name, attribute, extra = RADIO_LIBRARIES[parsed.scheme]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise MissingRadioExtra(parsed.scheme, extra) from exc
    app_cls = getattr(module, attribute)
    device: dict[str, Any] = {zigpy_conf.CONF_DEVICE_PATH: parsed.path}
    if parsed.baudrate is not None:
        device[zigpy_conf.CONF_DEVICE_BAUDRATE] = parsed.baudrate
    if parsed.flow_control is not None:
        device[zigpy_conf.CONF_DEVICE_FLOW_CONTROL] = (
            None if parsed.flow_control == "none" else parsed.flow_control
        )
    db = database_path(parsed.url, config)
    db.parent.mkdir(parents=True, exist_ok=True)
    zconfig = {
        zigpy_conf.CONF_DEVICE: device,
        zigpy_conf.CONF_DATABASE: str(db),
        zigpy_conf.CONF_NWK: _network_config(config),
        zigpy_conf.CONF_OTA: zigpy_fixes.zigpy_ota_disabled(),
    }
    if parsed.scheme == "ezsp":
        # bellows runs its UART on a second event loop in a thread by default (for hosts whose main
        # loop is busy with other work); here it costs a thread hop both ways for every frame, about
        # 1 ms of CPU per OTA block. hanrig's loop does nothing else, so the UART runs on it.
        zconfig["use_thread"] = False  # bellows.config.CONF_USE_THREAD
    app = await app_cls.new(zconfig, auto_form=True, start_radio=False)
    if parsed.scheme != "ezsp":  # only bellows gets hanrig's host-side APS fragmentation (zigpy fix 9)
        from .ezsp_fragmentation import refuse_fragmented_sends

        refuse_fragmented_sends(app, parsed.scheme)
    ledger = _open_ledger(app, parsed, config)
    stop_capture = capture.attach_to_host(app, parsed.url)
    if stop_capture is not None:
        _CAPTURES[app] = stop_capture
    with _held_radio_logs() as held:
        try:
            await app.startup(auto_form=True)
        except BaseException as exc:
            if stop_capture is not None:
                _CAPTURES.pop(app, None)
                stop_capture()
            app.remove_listener(ledger)
            ledger.close()
            _LEDGERS.pop(app, None)
            if link is not None:
                link.close()
            # zigpy's startup shuts the radio down but leaves the database thread running, and a live
            # non-daemon thread keeps the process from exiting: close everything before reporting.
            with contextlib.suppress(Exception):
                await app.shutdown()
            if isinstance(exc, Exception):
                # Whatever a radio library raises while connecting (refused, silent peer, its own
                # RadioException, an internal error on a half-open connection) means: no radio here.
                # The teardown's log noise is dropped; this one line says what happened.
                held.clear()
                raise RadioUnreachable(parsed.url, f"did not start: {describe_radio_error(exc)}") from exc
            raise
    device_ledger.restore(app, ledger)
    if link is not None:
        _SIM_LINKS[app] = link
    _RECONNECTORS[app] = Reconnector(app, parsed.url)
    app.add_listener(_RECONNECTORS[app])
    return app


def _open_ledger(app: zigpy.application.ControllerApplication, parsed: RadioUrl,
                 config: RadioConfig) -> device_ledger.DeviceLedger:
    """Listen for joins from the start, so a device that joins during startup is recorded too."""
    ledger = device_ledger.DeviceLedger(ledger_path(parsed.url, config))
    app.add_listener(ledger)
    _LEDGERS[app] = ledger
    return ledger


_CAPTURES: weakref.WeakKeyDictionary[Any, Callable[[], None]] = weakref.WeakKeyDictionary()
_LEDGERS: weakref.WeakKeyDictionary[Any, device_ledger.DeviceLedger] = weakref.WeakKeyDictionary()


def describe_radio_error(exc: BaseException) -> str:
    """One line for a radio library's exception, falling back to its cause when it has no message
    (zigpy's TransientConnectionError wraps the OS's ConnectionRefusedError and says nothing itself)."""
    parts = []
    current: BaseException | None = exc
    while current is not None and len(parts) < 3:
        text = str(current).strip()
        parts.append(f"{type(current).__name__}: {text}" if text else type(current).__name__)
        if text:
            break
        current = current.__cause__ or current.__context__
    return " <- ".join(parts)


# Loggers that report, with tracebacks, every step of shutting down a radio that never came up
# (bellows' serial thread, zigpy's disconnect, the executor the thread ran in).
_TEARDOWN_LOGGERS = ("bellows", "zigpy", "zigpy_znp", "zigpy_deconz", "concurrent.futures")


class _HoldRecords(logging.Filter):
    def __init__(self, held: list[logging.LogRecord]) -> None:
        super().__init__()
        self.held = held

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.partition(".")[0] in _TEARDOWN_LOGGERS or record.name in _TEARDOWN_LOGGERS:
            self.held.append(record)
            return False
        return True


@contextlib.contextmanager
def _held_radio_logs() -> Iterator[list[logging.LogRecord]]:
    """Hold the radio libraries' log records while a real radio starts (unless debug logging is on).

    Started: they are logged as usual on exit. Failed: the caller clears the list, because a radio
    that never came up makes bellows and zigpy log a traceback per teardown step, and the caller
    reports the failure in one line instead."""
    held: list[logging.LogRecord] = []
    if logging.getLogger().isEnabledFor(logging.DEBUG):
        yield held
        return
    hold = _HoldRecords(held)
    handlers = list(logging.getLogger().handlers)
    for handler in handlers:
        handler.addFilter(hold)
    try:
        yield held
    finally:
        for handler in handlers:
            handler.removeFilter(hold)
        seen: set[int] = set()
        for record in held:
            if id(record) not in seen:  # each root handler saw the same record
                seen.add(id(record))
                logging.getLogger(record.name).handle(record)


class Reconnector:
    """Brings a real radio back after its connection is lost (an NCP reset, a stick unplugged and
    replugged): zigpy only emits ``connection_lost`` and leaves reconnecting to the application.

    One reconnect at a time: closing the port during the reconnect reports a second, cause-less
    ``connection_lost``, which is ignored. Attempts back off along ``RECONNECT_DELAYS_S``; after the
    last one the radio stays down and every send fails as undeliverable, as it would without us."""

    def __init__(self, app: zigpy.application.ControllerApplication, url: str) -> None:
        self.app = app
        self.url = url
        self.reconnects = 0
        self.task: asyncio.Task[None] | None = None

    def connection_lost(self, exc: Exception | None) -> None:
        if exc is None or (self.task is not None and not self.task.done()):
            return
        LOGGER.warning("radio %s: connection lost (%s); reconnecting", self.url, exc)
        self.task = asyncio.get_running_loop().create_task(self._reconnect(), name=f"reconnect {self.url}")

    async def _reconnect(self) -> None:
        for attempt, delay in enumerate(RECONNECT_DELAYS_S, start=1):
            await asyncio.sleep(delay)
            try:
                with contextlib.suppress(Exception):
                    await self.app.disconnect()
                await self.app.startup(auto_form=False)
            except (OSError, TimeoutError, zigpy.exceptions.ZigbeeException) as exc:
                LOGGER.warning("radio %s: reconnect attempt %d failed: %s", self.url, attempt, exc)
                continue
            self.reconnects += 1
            LOGGER.warning("radio %s: reconnected (attempt %d)", self.url, attempt)
            return
        LOGGER.error("radio %s: gave up reconnecting after %d attempts", self.url, len(RECONNECT_DELAYS_S))


_RECONNECTORS: weakref.WeakKeyDictionary[Any, Reconnector] = weakref.WeakKeyDictionary()


_SIM_LINKS: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()


def sim_link(app: zigpy.application.ControllerApplication) -> Any:
    """The control link (``hal.simlink.SimLink``) of a virtual stick opened with ``?sim_control=PATH``,
    else None."""
    return _SIM_LINKS.get(app)


def reconnector(app: zigpy.application.ControllerApplication) -> Reconnector | None:
    """The :class:`Reconnector` ``open_radio`` attached to a real radio (None for ``sim://``)."""
    return _RECONNECTORS.get(app)


async def permit_install_codes(
    app: zigpy.application.ControllerApplication, config: RadioConfig, time_s: int = 60
) -> None:
    """Open the network for each device of ``config.install_codes`` with its install-code-derived key."""
    for ieee, code in config.install_codes.items():
        try:
            key = zigpy.util.convert_install_code(code)
        except ValueError as exc:
            raise BadInstallCode(str(ieee), str(exc)) from None
        if key is None:
            raise BadInstallCode(str(ieee), "does not give a link key")
        await app.permit_with_link_key(ieee, key, time_s)


def new_event_loop(url: str) -> asyncio.AbstractEventLoop:
    """The event loop a radio runs on: virtual time (:mod:`hal.virtual_clock`) for ``sim://``, else a
    normal loop."""
    parsed = parse_radio_url(url)
    clock = parsed.clock
    if parsed.is_sim and clock is None:
        clock = (
            load_sim_config(parsed.rig, radio_id=parsed.radio_id).settings.clock if parsed.rig else "virtual"
        )
    if parsed.is_sim and clock == "virtual":
        return VirtualClockLoop()
    loop = asyncio.new_event_loop()
    zigpy_fixes.quiet_closed_connections(loop)
    return loop


def run(coro_factory: Callable[[], Awaitable[T]], url: str) -> T:
    """Run ``coro_factory()`` to completion on the radio's clock (see :func:`new_event_loop`).

    ``asyncio.Runner`` cancels the tasks zigpy leaves behind before closing the loop, so their async
    generators are not torn down while still running (which logs a RuntimeError per device)."""
    with asyncio.Runner(loop_factory=lambda: new_event_loop(url)) as runner:
        return runner.run(_as_coroutine(coro_factory))


async def _as_coroutine(factory: Callable[[], Awaitable[T]]) -> T:
    return await factory()
