-- Cached bias probe results, keyed by (model, adapter, probe, data file hash, settings) so reopening
-- the Bias page or rerunning the CLI does not recompute.
CREATE TABLE IF NOT EXISTS bias_results (
    cache_key TEXT PRIMARY KEY,      -- sha256 of the JSON of the fields below
    model TEXT NOT NULL,
    adapter TEXT,                    -- NULL: the base model
    probe TEXT NOT NULL,             -- pronouns | crows-pairs | bold-sentiment
    data_hash TEXT NOT NULL,
    settings TEXT NOT NULL,          -- JSON
    created REAL NOT NULL,
    seconds REAL NOT NULL,
    result TEXT NOT NULL             -- JSON: summary and tables
);
CREATE INDEX IF NOT EXISTS bias_results_model ON bias_results(model, probe);
