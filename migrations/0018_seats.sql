-- Seats as Caido has them: a team member uses the team's instances only
-- while holding a seat of the team's subscription, and only a subscription
-- of a Team or Enterprise tier plan has seats that do so. An operator's
-- own plans (rows added to plans) have none unless marked.
ALTER TABLE plans ADD COLUMN has_seats boolean NOT NULL DEFAULT false;
UPDATE plans SET has_seats = true WHERE name IN ('team', 'enterprise');

-- The seat tuples are derived from team_members.use_seat and this column
-- (access/tuples.go); `migrate` rebuilds the tuples when it writes this
-- version's model, so existing seats hold from the upgrade on.
