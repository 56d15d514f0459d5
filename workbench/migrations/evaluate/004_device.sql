-- Where the run's base model ran ("cpu", "cuda:0") and in which precision ("float32", "bfloat16"), so an exported
-- notebook loads it the same way; NULL for runs recorded before.
ALTER TABLE evaluation_runs ADD COLUMN device TEXT;
ALTER TABLE evaluation_runs ADD COLUMN dtype TEXT;
