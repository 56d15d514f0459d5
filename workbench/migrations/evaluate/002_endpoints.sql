-- An OpenAI-compatible endpoint scored beside the local models: its spec as JSON (base URL, model, and only the
-- NAME of the API key's environment variable), NULL for the base and adapters.
ALTER TABLE evaluation_scores ADD COLUMN endpoint TEXT;
