-- What each example gave the models (line, prompt and reference, or text) as a JSON list of rows, so a past run's
-- per-example export names its inputs; NULL for runs recorded before.
ALTER TABLE evaluation_runs ADD COLUMN examples TEXT;

-- Each model against the first of its run (the base): the paired-bootstrap difference of one score with its 95%
-- interval, the resamples drawn and the examples they were drawn from.
CREATE TABLE IF NOT EXISTS evaluation_comparisons (
    run_id INTEGER NOT NULL REFERENCES evaluation_runs(id) ON DELETE CASCADE,
    model TEXT NOT NULL,
    against TEXT NOT NULL,
    key TEXT NOT NULL,
    difference REAL NOT NULL,        -- model minus against
    low REAL NOT NULL,
    high REAL NOT NULL,
    clear INTEGER NOT NULL,          -- 1: the interval leaves out 0
    better INTEGER NOT NULL,         -- 1: the difference goes the metric's good way
    resamples INTEGER NOT NULL,
    n_examples INTEGER NOT NULL,
    PRIMARY KEY (run_id, model, against, key)
);
