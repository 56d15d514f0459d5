CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL  -- JSON
);
CREATE TABLE events (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    created REAL NOT NULL,   -- unix seconds
    kind    TEXT NOT NULL,
    detail  TEXT NOT NULL    -- JSON
);
