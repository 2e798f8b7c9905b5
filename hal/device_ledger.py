"""The device ledger: every device that ever joined a radio, kept even when its interview never finished.

zigpy writes a device to its database only once the interview is done (``raw_device_initialized``), so a
device whose interview failed (a sleepy GSME that missed its polls, a host that exited too early) is
forgotten on the next start, and no later command can list or re-interview it. The NCP's own tables do
not fill the gap either: routers are not children, and an address table holds only what the host wrote.

The ledger is a small SQLite table beside zigpy's database (one per radio URL), written from zigpy's
listener events: a join or announcement records the device, a removal (``app.remove``) forgets it.
On start, :func:`restore` gives zigpy back every ledger device it does not know, with ``add_device``,
so it is listed (as not interviewed) and can be re-interviewed.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import zigpy.types as zigpy_t

LOGGER = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS devices (
    ieee TEXT PRIMARY KEY,
    nwk INTEGER NOT NULL,
    first_seen REAL NOT NULL,
    last_seen REAL NOT NULL
)
"""


@dataclass(frozen=True)
class LedgerEntry:
    """One device the radio has seen: its EUI-64, last NWK address and when it was first/last seen."""

    ieee: zigpy_t.EUI64
    nwk: int
    first_seen: float
    last_seen: float


class DeviceLedger:
    """The ledger file of one radio, and a zigpy application listener that keeps it up to date."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path)
        with self._db:
            self._db.execute(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    def entries(self) -> list[LedgerEntry]:
        rows = self._db.execute("SELECT ieee, nwk, first_seen, last_seen FROM devices ORDER BY ieee")
        return [LedgerEntry(zigpy_t.EUI64.convert(ieee), nwk, first, last) for ieee, nwk, first, last in rows]

    def record(self, ieee: zigpy_t.EUI64, nwk: int) -> None:
        now = time.time()
        with self._db:
            self._db.execute(
                "INSERT INTO devices (ieee, nwk, first_seen, last_seen) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (ieee) DO UPDATE SET nwk = excluded.nwk, last_seen = excluded.last_seen",
                (str(ieee), int(nwk), now, now),
            )

    def forget(self, ieee: zigpy_t.EUI64) -> None:
        with self._db:
            self._db.execute("DELETE FROM devices WHERE ieee = ?", (str(ieee),))

    # ------------------------------------------------------------------ zigpy listener events
    def device_joined(self, device: Any) -> None:
        self._record_device(device)

    def raw_device_initialized(self, device: Any) -> None:
        self._record_device(device)

    def device_removed(self, device: Any) -> None:
        with contextlib.suppress(sqlite3.Error):
            self.forget(device.ieee)

    def _record_device(self, device: Any) -> None:
        try:
            self.record(device.ieee, int(device.nwk))
        except sqlite3.Error as exc:  # the ledger must never break the radio
            LOGGER.warning("device ledger %s: could not record %s: %s", self.path, device.ieee, exc)


def restore(app: Any, ledger: DeviceLedger) -> list[zigpy_t.EUI64]:
    """Give zigpy every ledger device it does not know (``add_device``: listed, not interviewed), record
    every device zigpy already knows, and return the restored EUI-64s."""
    restored = []
    own = app.state.node_info.ieee
    known = set(app.devices)
    for entry in ledger.entries():
        if entry.ieee not in known and entry.ieee != own:
            app.add_device(entry.ieee, zigpy_t.NWK(entry.nwk))
            restored.append(entry.ieee)
    for ieee, device in app.devices.items():
        if ieee != own and ieee not in restored:
            ledger.record(ieee, int(device.nwk))
    return restored
