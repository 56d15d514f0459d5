-- Prompt-lab history: one row per run (a single generation or a whole grid), with all it takes to re-run it.
CREATE TABLE IF NOT EXISTS experiments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created REAL NOT NULL,              -- unix seconds
    kind TEXT NOT NULL,                 -- generate | grid
    model TEXT NOT NULL,
    adapters TEXT NOT NULL,             -- JSON list; null is the base model
    prompt TEXT NOT NULL,               -- the prompt or template as typed
    spec TEXT NOT NULL,                 -- JSON: prompt/template, rows, parameter sets, chat, system, repeats
    seed INTEGER NOT NULL,
    environment TEXT NOT NULL,          -- JSON: dtype, device, batch size, attention, library versions
    outputs TEXT NOT NULL,              -- JSON list of cells
    prompt_tokens INTEGER NOT NULL,
    new_tokens INTEGER NOT NULL,
    seconds REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS experiments_by_model ON experiments(model, created);
