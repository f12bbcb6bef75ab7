"""The registry tables the dashboard page tests and its bench fill by hand, in one place."""

DDL = [
    "CREATE TABLE docks (id TEXT PRIMARY KEY, public_key TEXT, availability TEXT,"
    " availability_at TEXT, status_json TEXT, status_at TEXT, verified_head_id INTEGER,"
    " verified_head_hash TEXT, last_checkpoint_size INTEGER, last_checkpoint_signed_at TEXT)",
    "CREATE TABLE rows (dock_id TEXT, row_id INTEGER, at_utc TEXT, type TEXT, actor TEXT,"
    " bay INTEGER, device TEXT, data_json TEXT, prev_hash TEXT, hash TEXT, received_at TEXT,"
    " chain_ok INTEGER, UNIQUE(dock_id, row_id))",
    "CREATE TABLE bays (dock_id TEXT, bay INTEGER, state TEXT, at TEXT)",
    "CREATE TABLE devices (serial TEXT PRIMARY KEY, dock_id TEXT, last_verdict TEXT,"
    " battery_pct INTEGER, at TEXT)",
    "CREATE TABLE alerts (id INTEGER PRIMARY KEY, dock_id TEXT, kind TEXT, subject TEXT,"
    " text TEXT, at TEXT, cleared_at TEXT)",
]
