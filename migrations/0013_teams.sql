-- Teams as the public API describes them: seats bought with a subscription,
-- invitations by email, vouchers for individual plans, and an audit log of
-- every change of access.

ALTER TABLE teams ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();
ALTER TABLE users ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();

-- Whether the member occupies one of the subscription's seats. A seat gives
-- the member the subscription's plan (assistant credits, entitlements);
-- membership without a seat still gives access to the team's instances.
ALTER TABLE team_members ADD COLUMN use_seat boolean NOT NULL DEFAULT false;
ALTER TABLE team_members ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();

-- Plans are ordered so that a user's effective plan is the best of the ones
-- they hold.
ALTER TABLE plans ADD COLUMN rank integer NOT NULL DEFAULT 0;
UPDATE plans SET rank = CASE name WHEN 'individual' THEN 1 WHEN 'team' THEN 2 WHEN 'enterprise' THEN 3 ELSE 0 END;

-- An individual plan may end (a voucher's plan does); NULL: it does not.
ALTER TABLE users ADD COLUMN plan_ends_at timestamptz;

-- A team's subscription, set by an operator (billing happens elsewhere).
-- Without a row the team has no seats.
CREATE TABLE team_subscriptions (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    team_id     uuid NOT NULL UNIQUE REFERENCES teams (id) ON DELETE CASCADE,
    plan        text NOT NULL REFERENCES plans (name) ON UPDATE CASCADE,
    seats       integer NOT NULL CHECK (seats >= 0),
    trial       boolean NOT NULL DEFAULT false,
    starts_at   timestamptz NOT NULL DEFAULT now(),
    ends_at     timestamptz,
    pauses_at   timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- The plan each user has now: the best of their own (while it lasts) and
-- those of the active team subscriptions whose seat they use.
CREATE VIEW user_plans AS
SELECT DISTINCT ON (candidates.user_id) candidates.user_id, candidates.plan
FROM (
    SELECT u.id AS user_id, CASE WHEN u.plan_ends_at IS NULL OR u.plan_ends_at > now() THEN u.plan ELSE 'basic' END AS plan
    FROM users u
    UNION ALL
    SELECT m.user_id, s.plan
    FROM team_members m JOIN team_subscriptions s ON s.team_id = m.team_id
    WHERE m.use_seat AND s.starts_at <= now() AND (s.ends_at IS NULL OR s.ends_at > now())
) candidates
JOIN plans p ON p.name = candidates.plan
ORDER BY candidates.user_id, p.rank DESC;

-- Invitations to join a team. The link in the mail carries 256 random bits;
-- only their SHA-256 is stored. Accepting creates the membership.
CREATE TABLE team_invitations (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    team_id      uuid NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    email        text NOT NULL,
    role         text NOT NULL CHECK (role IN ('admin', 'member')),
    use_seat     boolean NOT NULL,
    token_hash   bytea NOT NULL UNIQUE CHECK (octet_length(token_hash) = 32),
    invited_by   uuid REFERENCES users (id) ON DELETE SET NULL,
    expires_at   timestamptz NOT NULL,
    accepted_at  timestamptz,
    accepted_by  uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
-- One open invitation per address and team.
CREATE UNIQUE INDEX team_invitations_open_key ON team_invitations (team_id, lower(email)) WHERE accepted_at IS NULL;

-- Voucher codes an operator creates; claiming one gives the claimant an
-- individual plan for a number of days. Only the SHA-256 of a code is kept.
CREATE TABLE vouchers (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    code_hash    bytea NOT NULL UNIQUE CHECK (octet_length(code_hash) = 32),
    plan         text NOT NULL REFERENCES plans (name) ON UPDATE CASCADE,
    days         integer NOT NULL CHECK (days > 0),
    max_claims   integer NOT NULL CHECK (max_claims > 0),
    claims       integer NOT NULL DEFAULT 0,
    expires_at   timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE voucher_claims (
    voucher_id  uuid NOT NULL REFERENCES vouchers (id) ON DELETE CASCADE,
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    claimed_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (voucher_id, user_id)
);

-- Every change of access: who did what to whom, when, from where. team_id
-- says which team's admins see the entry (NULL: a personal workspace's; the
-- actor and the target user see those). Kept when the actor is deleted.
CREATE TABLE audit_log (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    team_id        uuid REFERENCES teams (id) ON DELETE CASCADE,
    actor_user_id  uuid REFERENCES users (id) ON DELETE SET NULL,
    -- What the actor was when the entry was written ("operator" for the CLI).
    actor_label    text NOT NULL,
    action         text NOT NULL,
    target_type    text NOT NULL,
    target_id      text NOT NULL,
    target_user_id uuid REFERENCES users (id) ON DELETE SET NULL,
    detail         jsonb NOT NULL DEFAULT '{}',
    ip             inet,
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_log_team_idx ON audit_log (team_id, id DESC) WHERE team_id IS NOT NULL;
CREATE INDEX audit_log_actor_idx ON audit_log (actor_user_id, id DESC);
CREATE INDEX audit_log_target_user_idx ON audit_log (target_user_id, id DESC);
