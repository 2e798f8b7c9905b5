-- A results database as hanrig wrote it at schema v1 (before resumable runs), for migration tests.
PRAGMA user_version = 1;
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
INSERT INTO "attachments_v1" VALUES(2,0,'transfer.log','text/plain','747207ac0740f096a8116bed2a8c38a7c3f0d5d4f4434806a89febc1b65a0c21',13,X'626C6F636B7320666F72206968',NULL);
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
INSERT INTO "duts_v1" VALUES('20250301T090000-0badcafe','ihd','IHD','00:0d:6f:00:0a:bc:00:03','sim','hanrig-sim','sim-IHD',65536,131072,'abababababababababababababababababababababababababababababababab','{}');
INSERT INTO "duts_v1" VALUES('20250301T090000-0badcafe','ppmid','PPMID','00:0d:6f:00:0a:bc:00:04','sim','hanrig-sim','sim-PPMID',65536,NULL,NULL,'{}');
CREATE TABLE events_v1 (
    run_id TEXT NOT NULL REFERENCES runs_v1 (run_id) ON DELETE CASCADE,
    dut_id TEXT,
    time REAL NOT NULL,
    kind TEXT NOT NULL,
    data TEXT NOT NULL
);
INSERT INTO "events_v1" VALUES('20250301T090000-0badcafe','ihd',1740819610.0,'ota_progress','{"offset":0,"total":40960}');
INSERT INTO "events_v1" VALUES('20250301T090000-0badcafe','ihd',1740819615.0,'ota_progress','{"offset":4096,"total":40960}');
INSERT INTO "events_v1" VALUES('20250301T090000-0badcafe','ihd',1740819620.0,'ota_progress','{"offset":8192,"total":40960}');
INSERT INTO "events_v1" VALUES('20250301T090000-0badcafe','ihd',1740819625.0,'ota_progress','{"offset":12288,"total":40960}');
INSERT INTO "events_v1" VALUES('20250301T090000-0badcafe','ihd',1740819630.0,'ota_progress','{"offset":16384,"total":40960}');
INSERT INTO "events_v1" VALUES('20250301T090000-0badcafe','ihd',1740819635.0,'ota_progress','{"offset":20480,"total":40960}');
INSERT INTO "events_v1" VALUES('20250301T090000-0badcafe','ihd',1740819640.0,'ota_progress','{"offset":24576,"total":40960}');
INSERT INTO "events_v1" VALUES('20250301T090000-0badcafe','ihd',1740819645.0,'ota_progress','{"offset":28672,"total":40960}');
INSERT INTO "events_v1" VALUES('20250301T090000-0badcafe','ihd',1740819650.0,'ota_progress','{"offset":32768,"total":40960}');
INSERT INTO "events_v1" VALUES('20250301T090000-0badcafe','ihd',1740819655.0,'ota_progress','{"offset":36864,"total":40960}');
INSERT INTO "events_v1" VALUES('20250301T090000-0badcafe',NULL,1740819600.5,'log','{"message":"bench up"}');
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
INSERT INTO "measurements_v1" VALUES(1,0,'join_time','4.0','s','{"high":30,"kind":"in_range","low":0,"marginal_high":null,"marginal_low":null}','','PASS',0);
INSERT INTO "measurements_v1" VALUES(2,0,'ota_throughput','1024.0','B/s','{"high":null,"kind":"in_range","low":500,"marginal_high":null,"marginal_low":800}','mean block rate','PASS',0);
INSERT INTO "measurements_v1" VALUES(4,0,'ota_throughput','32.0','B/s','{"high":null,"kind":"in_range","low":500,"marginal_high":null,"marginal_low":800}','mean block rate','FAIL',0);
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
INSERT INTO "runs_v1" VALUES('20250301T090000-0badcafe','default-sim-bench','# The built-in simulated bench: what `hanrig rig run` runs with no rig file.
# One sim:// radio and the five devices with the fixed EUI-64s scripts can name.

[rig]
name = "default-sim-bench"
description = "Built-in simulated HAN: coordinator 00:0d:6f:00:0a:bc:00:00 and one device of each role"

[[radios]]
id = "sim"
url = "sim://"
channel = 15
pan_id = "0x1a62"
extended_pan_id = "00:0d:6f:ff:fe:0a:bc:00"

[[devices]]
id = "esme"
role = "ESME"
eui64 = "00:0d:6f:00:0a:bc:00:01"
radio = "sim"

[[devices]]
id = "gsme"
role = "GSME"
eui64 = "00:0d:6f:00:0a:bc:00:02"
radio = "sim"
[devices.sim]
sleepy = true

[[devices]]
id = "ihd"
role = "IHD"
eui64 = "00:0d:6f:00:0a:bc:00:03"
radio = "sim"

[[devices]]
id = "ppmid"
role = "PPMID"
eui64 = "00:0d:6f:00:0a:bc:00:04"
radio = "sim"

[[devices]]
id = "hcalcs"
role = "HCALCS"
eui64 = "00:0d:6f:00:0a:bc:00:05"
radio = "sim"

[sim]
seed = 1
clock = "virtual"

[policies]
signatures_required = true
activation = "now"
allow_downgrade = false
alerts = { window_s = 60, threshold = 10, forward_period_s = 300 }
hcalcs_commanders = ["supplier", "network-operator"]
gas_tolerance_s = 10

[[plan.steps]]
step = "join"
timeout_s = 120

[[plan.steps]]
step = "inventory"
timeout_s = 60

[[plan.steps]]
step = "ota"
roles = ["IHD", "PPMID", "HCALCS"]
timeout_s = 600

[[plan.steps]]
step = "gas"
roles = ["GSME"]
timeout_s = 120

[[plan.steps]]
step = "certs"
roles = ["ESME"]
timeout_s = 60

[[plan.steps]]
step = "loadcontrol"
roles = ["HCALCS"]
timeout_s = 60

[[plan.steps]]
step = "alerts"
timeout_s = 300

[[plan.steps]]
step = "cot"
timeout_s = 120

[outputs]
results = "hanrig-results"
','bench-pc','alice','{"bellows":"0.40.0","hanrig":"0.0.9","zigpy":"0.70.0"}','{"sim":"hanrig-sim 0"}',1740819600.0,1740819700.0,'finished','FAIL','[]','bench-pc',4242);
INSERT INTO "runs_v1" VALUES('20250302T090000-00facade','default-sim-bench','# The built-in simulated bench: what `hanrig rig run` runs with no rig file.
# One sim:// radio and the five devices with the fixed EUI-64s scripts can name.

[rig]
name = "default-sim-bench"
description = "Built-in simulated HAN: coordinator 00:0d:6f:00:0a:bc:00:00 and one device of each role"

[[radios]]
id = "sim"
url = "sim://"
channel = 15
pan_id = "0x1a62"
extended_pan_id = "00:0d:6f:ff:fe:0a:bc:00"

[[devices]]
id = "esme"
role = "ESME"
eui64 = "00:0d:6f:00:0a:bc:00:01"
radio = "sim"

[[devices]]
id = "gsme"
role = "GSME"
eui64 = "00:0d:6f:00:0a:bc:00:02"
radio = "sim"
[devices.sim]
sleepy = true

[[devices]]
id = "ihd"
role = "IHD"
eui64 = "00:0d:6f:00:0a:bc:00:03"
radio = "sim"

[[devices]]
id = "ppmid"
role = "PPMID"
eui64 = "00:0d:6f:00:0a:bc:00:04"
radio = "sim"

[[devices]]
id = "hcalcs"
role = "HCALCS"
eui64 = "00:0d:6f:00:0a:bc:00:05"
radio = "sim"

[sim]
seed = 1
clock = "virtual"

[policies]
signatures_required = true
activation = "now"
allow_downgrade = false
alerts = { window_s = 60, threshold = 10, forward_period_s = 300 }
hcalcs_commanders = ["supplier", "network-operator"]
gas_tolerance_s = 10

[[plan.steps]]
step = "join"
timeout_s = 120

[[plan.steps]]
step = "inventory"
timeout_s = 60

[[plan.steps]]
step = "ota"
roles = ["IHD", "PPMID", "HCALCS"]
timeout_s = 600

[[plan.steps]]
step = "gas"
roles = ["GSME"]
timeout_s = 120

[[plan.steps]]
step = "certs"
roles = ["ESME"]
timeout_s = 60

[[plan.steps]]
step = "loadcontrol"
roles = ["HCALCS"]
timeout_s = 60

[[plan.steps]]
step = "alerts"
timeout_s = 300

[[plan.steps]]
step = "cot"
timeout_s = 120

[outputs]
results = "hanrig-results"
','bench-pc','bob','{"hanrig":"0.0.9"}','{}',1740906000.0,NULL,'running',NULL,'[]','bench-pc',4243);
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
INSERT INTO "steps_v1" VALUES(1,'20250301T090000-0badcafe','ihd',0,'join',1740819601.0,1740819605.0,'PASS','[]');
INSERT INTO "steps_v1" VALUES(2,'20250301T090000-0badcafe','ihd',2,'ota',1740819610.0,1740819660.0,'PASS','[]');
INSERT INTO "steps_v1" VALUES(3,'20250301T090000-0badcafe','ppmid',0,'join',1740819601.0,1740819606.0,'PASS','[]');
INSERT INTO "steps_v1" VALUES(4,'20250301T090000-0badcafe','ppmid',2,'ota',1740819610.0,1740819690.0,'FAIL','[{"code":"measurement-failed","description":"out of limits: ota_throughput"}]');
CREATE INDEX events_v1_by_run ON events_v1 (run_id, dut_id, kind, time);
