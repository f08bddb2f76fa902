-- The assistant: the models instances may ask for, the monthly credit ledger
-- and one usage row per completion. No message content is ever stored here.

-- Operators edit these rows from the CLI. id is what instances send and
-- see; upstream_model is the name the OpenAI-compatible API knows, so the
-- upstream can change without instances noticing.
CREATE TABLE assistant_models (
    id                 text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9._:-]{1,100}$'),
    name               text NOT NULL,
    upstream_model     text NOT NULL,
    -- Credits per token, prompt and completion alike.
    token_credit       bigint NOT NULL CHECK (token_credit > 0),
    -- The most completion tokens one call may produce: it bounds a call's
    -- reservation, and is sent upstream as the call's max tokens.
    max_output_tokens  integer NOT NULL CHECK (max_output_tokens > 0),
    enabled            boolean NOT NULL DEFAULT true,
    updated_at         timestamptz NOT NULL DEFAULT now()
);

-- One row per user and calendar month (UTC, month = its first day): what
-- was spent and what in-flight calls have reserved. Every reservation and
-- settlement locks this row, so concurrent calls of one user are serialised
-- here and cannot together reserve past the allowance. The allowance itself
-- is not copied: it is read from the user's plan at each reservation, so a
-- plan change applies to the current month at once.
CREATE TABLE assistant_credit_months (
    user_id   uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    month     date NOT NULL CHECK (extract(day FROM month) = 1),
    spent     bigint NOT NULL DEFAULT 0 CHECK (spent >= 0),
    reserved  bigint NOT NULL DEFAULT 0 CHECK (reserved >= 0),
    PRIMARY KEY (user_id, month)
);

-- In-flight calls. A replica that dies mid-call leaves its row behind; the
-- next reservation of that user releases rows older than any call can last,
-- so a crash cannot hold credits forever.
CREATE TABLE assistant_reservations (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id     uuid NOT NULL,
    month       date NOT NULL,
    credits     bigint NOT NULL CHECK (credits > 0),
    created_at  timestamptz NOT NULL,
    FOREIGN KEY (user_id, month) REFERENCES assistant_credit_months (user_id, month) ON DELETE CASCADE
);
CREATE INDEX assistant_reservations_user_idx ON assistant_reservations (user_id, month, created_at);

-- One row per settled completion: token counts and credits, never content.
-- The sum of a month's credits here equals assistant_credit_months.spent.
CREATE TABLE assistant_usage (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id            uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- The team owning the instance's workspace at the time, if any.
    team_id            uuid REFERENCES teams (id) ON DELETE SET NULL,
    instance_id        uuid REFERENCES instances (id) ON DELETE SET NULL,
    -- No foreign key: usage outlives a model taken off the table.
    model_id           text NOT NULL,
    prompt_tokens      bigint NOT NULL CHECK (prompt_tokens >= 0),
    completion_tokens  bigint NOT NULL CHECK (completion_tokens >= 0),
    credits            bigint NOT NULL CHECK (credits >= 0),
    -- True when the upstream gave no usage report (a broken stream) and the
    -- tokens were estimated from the text's length.
    estimated          boolean NOT NULL DEFAULT false,
    -- The ledger month charged: the month the call started in.
    month              date NOT NULL,
    created_at         timestamptz NOT NULL
);
CREATE INDEX assistant_usage_user_time_idx ON assistant_usage (user_id, created_at);
CREATE INDEX assistant_usage_team_time_idx ON assistant_usage (team_id, created_at) WHERE team_id IS NOT NULL;
