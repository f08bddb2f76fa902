-- What instances report, within the data-collection statement: liveness
-- (IP, time, OS, version) and user session pings (user, instance, IP, time).

-- The last report of each instance, overwritten by every ping.
CREATE TABLE instance_last_seen (
    instance_id  uuid PRIMARY KEY REFERENCES instances (id) ON DELETE CASCADE,
    seen_at      timestamptz NOT NULL,
    ip           inet,
    os_kind      text,
    os_name      text,
    os_version   text,
    version      text
);

-- At most one history row per instance per UTC day: the first report of it.
CREATE TABLE instance_liveness (
    instance_id  uuid NOT NULL REFERENCES instances (id) ON DELETE CASCADE,
    day          date NOT NULL,
    seen_at      timestamptz NOT NULL,
    ip           inet,
    os_kind      text,
    os_name      text,
    os_version   text,
    version      text,
    PRIMARY KEY (instance_id, day)
);

-- The first interaction of a session, then at most one ping an hour.
ALTER TABLE sessions ADD COLUMN last_ping_at timestamptz;

CREATE TABLE session_pings (
    session_id   uuid NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    instance_id  uuid NOT NULL REFERENCES instances (id) ON DELETE CASCADE,
    ip           inet,
    at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX session_pings_session_idx ON session_pings (session_id, at);

-- Releases and store packages, filled by the operator from the CLI and
-- served as the reference's Release and PackagePayload.
CREATE TABLE releases (
    id           text PRIMARY KEY,
    version      text NOT NULL,
    released_at  timestamptz NOT NULL,
    links        jsonb NOT NULL DEFAULT '[]'
);
CREATE INDEX releases_released_at_idx ON releases (released_at DESC);

CREATE TABLE store_packages (
    id        text PRIMARY KEY,
    kind      text NOT NULL CHECK (kind IN ('community', 'official')),
    -- The whole PackagePayload as published.
    payload   jsonb NOT NULL
);
