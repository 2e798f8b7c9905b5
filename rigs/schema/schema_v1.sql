-- hanrig results store, schema v1 (SQLite dialect). Every table carries the schema version as a
-- suffix; PRAGMA user_version must equal it (set by rigs/store.py, not here).
-- JSON columns hold UTF-8 JSON text. Times are UTC epoch seconds.

CREATE TABLE runs_v1 (
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
    writer_pid INTEGER NOT NULL
);

CREATE TABLE duts_v1 (
    run_id TEXT NOT NULL REFERENCES runs_v1 (run_id) ON DELETE CASCADE,
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
    PRIMARY KEY (run_id, dut_id)
);

CREATE TABLE steps_v1 (
    id INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL,
    dut_id TEXT NOT NULL,
    step_index INTEGER NOT NULL,
    name TEXT NOT NULL,
    start_time REAL NOT NULL,
    end_time REAL,
    outcome TEXT,
    details TEXT NOT NULL,
    UNIQUE (run_id, dut_id, step_index),
    FOREIGN KEY (run_id, dut_id) REFERENCES duts_v1 (run_id, dut_id) ON DELETE CASCADE
);

CREATE TABLE measurements_v1 (
    step_id INTEGER NOT NULL REFERENCES steps_v1 (id) ON DELETE CASCADE,
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

CREATE TABLE attachments_v1 (
    step_id INTEGER NOT NULL REFERENCES steps_v1 (id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    name TEXT NOT NULL,
    mimetype TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    size INTEGER NOT NULL,
    data BLOB,
    path TEXT,
    PRIMARY KEY (step_id, seq)
);

CREATE TABLE events_v1 (
    run_id TEXT NOT NULL REFERENCES runs_v1 (run_id) ON DELETE CASCADE,
    dut_id TEXT,
    time REAL NOT NULL,
    kind TEXT NOT NULL,
    data TEXT NOT NULL
);

CREATE INDEX events_v1_by_run ON events_v1 (run_id, dut_id, kind, time);
