"""Durable SECMP0062 alert counts: per (device, alert code) how many alerts were received, forwarded,
throttled, excluded and refused (by reason), and the open throttling episode (suppressed count not yet
reported, since when, sequence id), kept across a restart of hanrig.

One small SQLite file per radio (``hal.alert_counts_path``: beside zigpy's database in
``$HANRIG_DATA_DIR``; ``sim://`` keeps none unless the radio config gives a data dir), in WAL mode with
``synchronous=NORMAL``. :class:`AlertCounts` is written in batches: the alert service marks what changed
and saves it ``SAVE_BATCH_S`` (0.1 s) after the first change, in one transaction (a radio hands over one
frame per event-loop tick, so a save per tick would be a commit per alert). What a crash can cost:

- a clean close saves everything (nothing counted is lost);
- SIGKILL loses at most the batch in flight: the alerts of the last 0.1 s (committed WAL transactions
  survive a process crash; ``NORMAL`` only gives up the last commits on power loss or an OS crash).

Times are stored as UTC seconds on the hub clock, so a new session (a new event loop) can place them on
its own clock.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from .alerts import CodeCounts, EpisodeSnapshot

LOGGER = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS alert_counts (
    device TEXT NOT NULL,
    code INTEGER NOT NULL,
    received INTEGER NOT NULL,
    forwarded INTEGER NOT NULL,
    throttled INTEGER NOT NULL,
    excluded INTEGER NOT NULL,
    sequence_id INTEGER,
    pending INTEGER NOT NULL,
    first_pending_at REAL NOT NULL,
    last_pending_at REAL NOT NULL,
    period_start REAL NOT NULL,
    recent TEXT,
    refused TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (device, code)
);
CREATE TABLE IF NOT EXISTS alert_meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


@dataclass(frozen=True)
class StoredCounts:
    """One row: a (device, code)'s counts and its throttling state (times in UTC seconds), if any."""

    device: str
    code: int
    counts: CodeCounts
    episode: EpisodeSnapshot | None


class AlertCounts:
    """The alert-count file of one radio (see the module docstring)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        with self._db:
            self._db.executescript(_SCHEMA)
            columns = {row[1] for row in self._db.execute("PRAGMA table_info(alert_counts)")}
            if "refused" not in columns:  # a file made before refused alerts were counted
                self._db.execute("ALTER TABLE alert_counts ADD COLUMN refused TEXT NOT NULL DEFAULT '{}'")

    def close(self) -> None:
        self._db.close()

    def rows(self) -> Iterator[StoredCounts]:
        query = ("SELECT device, code, received, forwarded, throttled, excluded, sequence_id, pending, "
                 "first_pending_at, last_pending_at, period_start, recent, refused FROM alert_counts "
                 "ORDER BY device, code")
        for (device, code, received, forwarded, throttled, excluded, sequence_id, pending, first, last,
             period_start, recent, refused) in self._db.execute(query):
            episode = None
            if recent is not None:
                episode = EpisodeSnapshot(sequence_id, pending, first, last, period_start,
                                          tuple(json.loads(recent)))
            yield StoredCounts(device, code, CodeCounts(received, forwarded, throttled, excluded,
                                                                  json.loads(refused)), episode)

    def next_sequence_id(self) -> int:
        row = self._db.execute("SELECT value FROM alert_meta WHERE key = 'next_sequence_id'").fetchone()
        return 1 if row is None else int(row[0])

    def save(self, rows: Iterable[StoredCounts], next_sequence_id: int) -> None:
        """Write ``rows`` (replacing what was stored for each (device, code)) in one transaction."""
        with self._db:
            self._db.executemany(
                "INSERT OR REPLACE INTO alert_counts (device, code, received, forwarded, throttled, "
                "excluded, sequence_id, pending, first_pending_at, last_pending_at, period_start, recent, "
                "refused) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [_row(stored) for stored in rows],
            )
            self._db.execute("INSERT OR REPLACE INTO alert_meta VALUES ('next_sequence_id', ?)",
                             (next_sequence_id,))


def _row(stored: StoredCounts) -> tuple[object, ...]:
    counts, episode = stored.counts, stored.episode
    head = (stored.device, stored.code, counts.received, counts.forwarded, counts.throttled, counts.excluded)
    refused = json.dumps(counts.refused, sort_keys=True)
    if episode is None:
        return (*head, None, 0, 0.0, 0.0, 0.0, None, refused)
    return (*head, episode.sequence_id, episode.pending, episode.first_pending_at, episode.last_pending_at,
            episode.period_start, json.dumps(episode.recent), refused)
