-- One row per evaluation run (a set, metrics and options, over one base and its adapters).
CREATE TABLE IF NOT EXISTS evaluation_runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created REAL NOT NULL,           -- unix seconds
    base_model TEXT NOT NULL,
    dataset TEXT NOT NULL,           -- set name
    dataset_path TEXT NOT NULL,
    dataset_sha256 TEXT NOT NULL,
    n_examples INTEGER NOT NULL,
    metrics TEXT NOT NULL,           -- JSON list
    options TEXT NOT NULL,           -- JSON object (EvalOptions)
    seconds REAL NOT NULL
);

-- One row per (run, model, score key): the corpus score and its bootstrap 95% interval.
CREATE TABLE IF NOT EXISTS evaluation_scores (
    run_id INTEGER NOT NULL REFERENCES evaluation_runs(id) ON DELETE CASCADE,
    model TEXT NOT NULL,             -- "base" or the adapter's name
    adapter TEXT,                    -- adapter folder, NULL for the base
    key TEXT NOT NULL,               -- perplexity, bleu, chrf, rouge1, rouge2, rougeL, exact_match
    value REAL NOT NULL,
    ci_low REAL NOT NULL,
    ci_high REAL NOT NULL,
    PRIMARY KEY (run_id, model, key)
);

-- Per-example records of each model in a run (JSON list of rows), so a past run's table can be reopened.
CREATE TABLE IF NOT EXISTS evaluation_examples (
    run_id INTEGER NOT NULL REFERENCES evaluation_runs(id) ON DELETE CASCADE,
    model TEXT NOT NULL,
    records TEXT NOT NULL,
    PRIMARY KEY (run_id, model)
);
