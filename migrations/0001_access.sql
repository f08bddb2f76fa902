-- The rows that decide who may use what. OpenFGA tuples are derived from
-- these (authz.DesiredTuples in access/), never the other way round.

CREATE TABLE users (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email       text NOT NULL,
    name        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
-- Email addresses are compared case-insensitively.
CREATE UNIQUE INDEX users_email_key ON users (lower(email));

CREATE TABLE teams (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name           text NOT NULL,
    billing_email  text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE team_members (
    team_id     uuid NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role        text NOT NULL CHECK (role IN ('owner', 'admin', 'member')),
    -- The billing capability is independent of the role.
    billing     boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (team_id, user_id)
);
CREATE INDEX team_members_user_idx ON team_members (user_id);

CREATE TABLE workspaces (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name           text NOT NULL,
    owner_user_id  uuid REFERENCES users (id) ON DELETE CASCADE,
    owner_team_id  uuid REFERENCES teams (id) ON DELETE CASCADE,
    is_default     boolean NOT NULL DEFAULT false,
    -- Goes up whenever access inside the workspace changes, so that instances
    -- (and caches) know when a decision they hold may be stale.
    generation     bigint NOT NULL DEFAULT 1,
    created_at     timestamptz NOT NULL DEFAULT now(),
    CHECK ((owner_user_id IS NULL) <> (owner_team_id IS NULL))
);
CREATE UNIQUE INDEX workspaces_default_user_key ON workspaces (owner_user_id) WHERE is_default;
CREATE UNIQUE INDEX workspaces_default_team_key ON workspaces (owner_team_id) WHERE is_default;

CREATE TABLE instances (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    -- NULL until claimed: a freshly registered instance has no name or workspace.
    name               text,
    workspace_id       uuid REFERENCES workspaces (id) ON DELETE RESTRICT,
    claimed_by         uuid REFERENCES users (id) ON DELETE SET NULL,
    claimed_at         timestamptz,
    assistant_enabled  boolean NOT NULL DEFAULT true,
    created_at         timestamptz NOT NULL DEFAULT now(),
    CHECK ((workspace_id IS NULL) = (claimed_at IS NULL))
);
CREATE INDEX instances_workspace_idx ON instances (workspace_id);

-- Explicit shares of one instance beyond its workspace: to one user or to every
-- member of a team, optionally until a time.
CREATE TABLE instance_grants (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    instance_id  uuid NOT NULL REFERENCES instances (id) ON DELETE CASCADE,
    user_id      uuid REFERENCES users (id) ON DELETE CASCADE,
    team_id      uuid REFERENCES teams (id) ON DELETE CASCADE,
    expires_at   timestamptz,
    granted_by   uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    CHECK ((user_id IS NULL) <> (team_id IS NULL))
);
CREATE UNIQUE INDEX instance_grants_user_key ON instance_grants (instance_id, user_id) WHERE user_id IS NOT NULL;
CREATE UNIQUE INDEX instance_grants_team_key ON instance_grants (instance_id, team_id) WHERE team_id IS NOT NULL;

-- Tuple writes and deletes for OpenFGA, written in the same transaction as the
-- change that implies them and applied in id order by the outbox worker.
CREATE TABLE authz_outbox (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    operation          text NOT NULL CHECK (operation IN ('write', 'delete')),
    tuple_user         text NOT NULL,
    relation           text NOT NULL,
    object             text NOT NULL,
    condition_name     text,
    condition_context  jsonb,
    -- pending until applied; dead when OpenFGA rejected the tuple itself (it
    -- would never apply, so it must not block the ones behind it).
    status             text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'applied', 'dead')),
    attempts           integer NOT NULL DEFAULT 0,
    last_error         text,
    created_at         timestamptz NOT NULL DEFAULT now(),
    done_at            timestamptz
);
CREATE INDEX authz_outbox_pending_idx ON authz_outbox (id) WHERE status = 'pending';

-- The OpenFGA store, and every authorization model written to it, keyed by the
-- SHA-256 of model.fga's text: each binary uses the model of its own model.fga,
-- so old and new replicas stay correct side by side during a rolling deploy.
CREATE TABLE authz_store (
    singleton   boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    store_id    text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE authz_models (
    model_sha256  text PRIMARY KEY,
    model_id      text NOT NULL,
    written_at    timestamptz NOT NULL DEFAULT now()
);
