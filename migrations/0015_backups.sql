-- The daily backups `serve` takes (package backup). One row per period (a
-- UTC day by default): a replica inserts or takes over the period's row
-- under an advisory lock before it backs up, and a period with a finished,
-- error-free row is never backed up again, so two replicas never both back
-- up the same day. The rows are also what /readyz and the metrics report.
CREATE TABLE backup_runs (
    -- The period's start: the run's time truncated to the interval.
    period       timestamptz PRIMARY KEY,
    -- 1 on the first try; a failed or abandoned run is retried later.
    attempts     integer NOT NULL DEFAULT 1 CHECK (attempts > 0),
    started_at   timestamptz NOT NULL,
    -- NULL while running, or when the replica running it died.
    finished_at  timestamptz,
    -- The backup file's name and size, once written.
    file         text,
    size_bytes   bigint,
    -- Why the last attempt failed; never holds a secret (the tools get the
    -- password through their environment, and messages are scrubbed).
    error        text,
    CHECK (finished_at IS NULL OR started_at <= finished_at),
    CHECK (error IS NULL OR finished_at IS NOT NULL),
    CHECK (file IS NULL OR error IS NULL)
);
