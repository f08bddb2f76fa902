-- Plans and what they entitle; billing is per user. Operators edit these
-- rows from the CLI; the seeds are the published plans.
CREATE TABLE plans (
    name             text PRIMARY KEY,
    display_name     text NOT NULL,
    -- Assistant credits granted at the start of each calendar month (UTC).
    monthly_credits  bigint NOT NULL CHECK (monthly_credits >= 0)
);

CREATE TABLE plan_entitlements (
    plan         text NOT NULL REFERENCES plans (name) ON DELETE CASCADE ON UPDATE CASCADE,
    entitlement  text NOT NULL,
    PRIMARY KEY (plan, entitlement)
);

INSERT INTO plans (name, display_name, monthly_credits) VALUES
    ('basic', 'Basic', 0),
    ('individual', 'Individual', 500000),
    ('team', 'Team', 500000),
    ('enterprise', 'Enterprise', 500000);

INSERT INTO plan_entitlements (plan, entitlement) VALUES
    ('individual', 'assistant'), ('individual', 'workflows'),
    ('team', 'assistant'), ('team', 'workflows'), ('team', 'teams'),
    ('enterprise', 'assistant'), ('enterprise', 'workflows'), ('enterprise', 'teams'), ('enterprise', 'sso');

ALTER TABLE users ADD COLUMN plan text NOT NULL DEFAULT 'basic' REFERENCES plans (name) ON UPDATE CASCADE;
