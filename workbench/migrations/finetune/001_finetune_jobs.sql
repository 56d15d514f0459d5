-- Fine-tuning jobs; the training process writes its own row, the app only reads it (and asks to stop).
CREATE TABLE jobs (
    id          TEXT PRIMARY KEY,          -- also the folder name under runs/
    adapter     TEXT NOT NULL,             -- adapter name to register when done
    task        TEXT NOT NULL,             -- causal | classification
    base_model  TEXT NOT NULL,
    data_path   TEXT NOT NULL,
    config      TEXT NOT NULL,             -- JSON of LoraRunConfig
    status      TEXT NOT NULL,             -- queued | running | done | failed | stopped
    message     TEXT NOT NULL DEFAULT '',  -- plain-words reason for failed/stopped, or a note
    pid         INTEGER,
    step        INTEGER NOT NULL DEFAULT 0,
    max_steps   INTEGER NOT NULL DEFAULT 0,
    created     REAL NOT NULL,             -- unix seconds
    started     REAL,
    finished    REAL,
    metrics     TEXT NOT NULL DEFAULT '{}' -- JSON: final metrics
);
CREATE INDEX jobs_status ON jobs(status);
