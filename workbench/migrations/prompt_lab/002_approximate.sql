-- Runs made in a fast mode (an approximation of the model, e.g. int8 weights) say so; NULL: the exact model.
ALTER TABLE experiments ADD COLUMN approximate TEXT;
