-- hanrig results store, schema v2 (SQLite dialect): resumable runs.
-- A run can be resumed; each resume is an attempt. Steps and events carry the attempt they belong to,
-- so a step can be recorded again (attempt 2, 3, ...) without losing the earlier result.
-- DUTs keep the rig file's order (position); events keep insertion order among equal times (id).
-- Migration from v1 (rigs/store.py): copy every v1 table (attempt = 1), then drop the v1 tables.

CREATE TABLE runs_v2 (
    run_id TEXT PRIMARY KEY,
    rig_name TEXT NOT NULL,
    rig_snapshot TEXT NOT NULL,
    host TEXT NOT NULL,
    operator TEXT NOT NULL,
    versions TEXT NOT NULL,
    radio_firmware TEXT NOT NULL,
    start_time REAL NOT NULL,
    end_time REAL,
    status TEXT NOT NULL,
    outcome TEXT,
    details TEXT NOT NULL,
    writer_host TEXT NOT NULL,
    writer_pid INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 1
);

CREATE INDEX runs_v2_by_start ON runs_v2 (start_time);

CREATE TABLE duts_v2 (
    run_id TEXT NOT NULL REFERENCES runs_v2 (run_id) ON DELETE CASCADE,
    dut_id TEXT NOT NULL,
    role TEXT NOT NULL,
    eui64 TEXT NOT NULL,
    radio TEXT NOT NULL,
    manufacturer TEXT,
    model TEXT,
    firmware_before INTEGER,
    firmware_after INTEGER,
    image_hash TEXT,
    metadata TEXT NOT NULL,
    position INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (run_id, dut_id)
);

CREATE TABLE steps_v2 (
    id INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL,
    dut_id TEXT NOT NULL,
    step_index INTEGER NOT NULL,
    attempt INTEGER NOT NULL DEFAULT 1,
    name TEXT NOT NULL,
    start_time REAL NOT NULL,
    end_time REAL,
    outcome TEXT,
    details TEXT NOT NULL,
    UNIQUE (run_id, dut_id, step_index, attempt),
    FOREIGN KEY (run_id, dut_id) REFERENCES duts_v2 (run_id, dut_id) ON DELETE CASCADE
);

CREATE TABLE measurements_v2 (
    step_id INTEGER NOT NULL REFERENCES steps_v2 (id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    name TEXT NOT NULL,
    value TEXT NOT NULL,
    units TEXT NOT NULL,
    validator TEXT,
    description TEXT NOT NULL,
    outcome TEXT NOT NULL,
    marginal INTEGER NOT NULL,
    PRIMARY KEY (step_id, seq)
);

CREATE TABLE attachments_v2 (
    step_id INTEGER NOT NULL REFERENCES steps_v2 (id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    name TEXT NOT NULL,
    mimetype TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    size INTEGER NOT NULL,
    data BLOB,
    path TEXT,
    PRIMARY KEY (step_id, seq)
);

CREATE TABLE events_v2 (
    id INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL REFERENCES runs_v2 (run_id) ON DELETE CASCADE,
    dut_id TEXT,
    attempt INTEGER NOT NULL DEFAULT 1,
    time REAL NOT NULL,
    kind TEXT NOT NULL,
    data TEXT NOT NULL
);

CREATE INDEX events_v2_by_run ON events_v2 (run_id, dut_id, kind, time);
