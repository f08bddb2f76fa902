-- What a user sees of their own browser sessions, to tell them apart and
-- end one: a public id (the cookie's hash never leaves the server), and the
-- browser and address the session was started from.
ALTER TABLE web_sessions ADD COLUMN public_id uuid NOT NULL DEFAULT gen_random_uuid();
ALTER TABLE web_sessions ADD COLUMN user_agent text;
ALTER TABLE web_sessions ADD COLUMN ip inet;
CREATE UNIQUE INDEX web_sessions_public_idx ON web_sessions (public_id);
