-- Start counts a client's pending flows before it adds one (a bound per
-- client); this keeps that count to the client's own few rows.
CREATE INDEX device_authorizations_pending_client_idx ON device_authorizations (client_id) WHERE state = 'pending';
