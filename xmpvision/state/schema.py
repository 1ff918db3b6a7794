"""The state database's tables and the statements of its hot paths.

See `db.py` for what each table is for and the cost model they serve.
"""

from __future__ import annotations

SCHEMA_VERSION = 5

# A fresh database: every statement, in order (each one may also run on an existing database).
CREATE = (
    """
    CREATE TABLE IF NOT EXISTS dirs (
        id INTEGER PRIMARY KEY,
        path BLOB NOT NULL UNIQUE
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS files (
        id INTEGER PRIMARY KEY,
        dir_id INTEGER NOT NULL REFERENCES dirs(id),
        name BLOB NOT NULL,
        size INTEGER NOT NULL,
        mtime_ns INTEGER NOT NULL,
        dev INTEGER NOT NULL,
        ino INTEGER NOT NULL,
        fingerprint BLOB,
        kind TEXT NOT NULL,
        first_seen REAL NOT NULL,
        done TEXT,
        bad TEXT,
        UNIQUE (dir_id, name)
    )
    """,
    "CREATE INDEX IF NOT EXISTS files_fingerprint ON files(fingerprint)"
    " WHERE fingerprint IS NOT NULL",
    """
    CREATE TABLE IF NOT EXISTS results (
        file_id INTEGER NOT NULL REFERENCES files(id) ON DELETE CASCADE,
        type TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('done', 'failed')),
        model TEXT,
        source TEXT,
        finished_at REAL NOT NULL,
        error TEXT,
        attempts INTEGER NOT NULL DEFAULT 1,
        fallback TEXT,
        PRIMARY KEY (file_id, type)
    ) WITHOUT ROWID
    """,
    "CREATE INDEX IF NOT EXISTS results_fallback ON results(file_id) WHERE fallback IS NOT NULL",
    # The owner's keywords ("|"-separated paths) in each photo's sidecar and embedded metadata,
    # as a scan read them anyway: the library's vocabulary (Keywords: {Vocabulary: library}).
    # Gone with the photo's row when it is pruned.
    """
    CREATE TABLE IF NOT EXISTS vocabulary (
        file_id INTEGER NOT NULL REFERENCES files(id) ON DELETE CASCADE,
        path TEXT NOT NULL,
        PRIMARY KEY (file_id, path)
    ) WITHOUT ROWID
    """,
    # Per service (its capacity key, as a run's summary names it) under `Parallel: auto`: how
    # many requests in flight the last run that asked it found it serves without queueing, the
    # most its limiter was allowed to try, and when (seconds since the epoch). For `vision ls`
    # and `doctor`, which cannot measure it.
    """
    CREATE TABLE IF NOT EXISTS parallel_found (
        service TEXT PRIMARY KEY,
        found INTEGER NOT NULL,
        most INTEGER NOT NULL,
        found_at REAL NOT NULL
    )
    """,
)

# UPGRADES[n]: the statements that bring a version-n database to version n + 1 (a fresh one,
# version 0, gets CREATE and the current version at once).
UPGRADES: dict[int, tuple[str, ...]] = {
    1: ("ALTER TABLE files ADD COLUMN bad TEXT",),  # why the file itself is unusable, or NULL
    # The better models that were down when a fallback answered this type (to redo it), or NULL.
    2: ("ALTER TABLE results ADD COLUMN fallback TEXT",
        "CREATE INDEX IF NOT EXISTS results_fallback ON results(file_id)"
        " WHERE fallback IS NOT NULL"),
    3: (CREATE[-2],),  # the vocabulary table
    4: (CREATE[-1],),  # the parallel_found table
}

# files.done: "done" types joined with SEP and wrapped in it ("|a|b|"), so that `needs` is a
# substring test against a precomputed "|type|".
SEP = "|"
# In the folder cache a bad file's done value carries the reason: BAD_MARK + bad + BAD_MARK +
# done. Its plan then never hits the plans shared by unchanged files (keyed by done), and the
# reason comes with the folder's one query, at no cost for the other files.
BAD_MARK = "\x00"
# One query per folder; the file id is not needed on the no-op path, so it is not loaded.
LOAD_FOLDER = """
SELECT name, size, mtime_ns,
       CASE WHEN bad IS NULL THEN done ELSE char(0) || bad || char(0) || ifnull(done, '') END
FROM files
WHERE dir_id = (SELECT id FROM dirs WHERE path = ?)
"""
UPDATE_DONE = """
UPDATE files SET done = (SELECT '|' || group_concat(type, '|') || '|' FROM results
                         WHERE file_id = ?1 AND status = 'done')
WHERE id = ?1
"""
FIND_FILE = """
SELECT f.id, f.size, f.mtime_ns FROM files f JOIN dirs d ON d.id = f.dir_id
WHERE d.path = ? AND f.name = ?
"""
# The photos a fallback answered while a better model was down, for the run that redoes them:
# the folders that hold any (one query at the start, through the partial index), then, as the
# walk enters such a folder, its photos' (name, type, model that answered).
FALLBACK_FOLDERS = """
SELECT DISTINCT d.path FROM results r
JOIN files f ON f.id = r.file_id JOIN dirs d ON d.id = f.dir_id
WHERE r.fallback IS NOT NULL AND r.status = 'done' AND r.model IS NOT NULL
"""
FALLBACK_IN_FOLDER = """
SELECT f.name, r.type, r.model FROM results r JOIN files f ON f.id = r.file_id
WHERE f.dir_id = (SELECT id FROM dirs WHERE path = ?)
  AND r.fallback IS NOT NULL AND r.status = 'done' AND r.model IS NOT NULL
"""
# Parallel: auto's findings, one row per service (see parallel_found above).
SAVE_PARALLEL = "INSERT OR REPLACE INTO parallel_found VALUES (?, ?, ?, ?)"
LOAD_PARALLEL = "SELECT service, found, most, found_at FROM parallel_found"
