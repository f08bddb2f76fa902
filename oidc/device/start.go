package device

import (
	"context"
	"errors"
	"fmt"
	"time"
)

const (
	// userCodeAttempts bounds the retries on a user code already taken. With
	// a million rows one draw collides with odds 1 in 25,600; running out of
	// ten means something else is wrong.
	userCodeAttempts = 10
	// keepExpired is how long a row outlives its expiry, so that a device
	// still polling is told expired_token rather than invalid_grant.
	keepExpired = time.Hour
	// pruneBatch bounds the opportunistic prune each Start does, so that no
	// request pays for a backlog.
	pruneBatch = 100
)

// drawUserCode is newUserCode; tests replace it to force collisions.
var drawUserCode = newUserCode

// Start begins a device authorization for clientID asking for scopes, which
// the provider has already checked against what the client may ask for.
func (s *Service) Start(ctx context.Context, clientID string, scopes []string) (Authorization, error) {
	if clientID == "" {
		return Authorization{}, errors.New("start device authorization: client id is empty")
	}
	scopes, err := cleanScopes(scopes)
	if err != nil {
		return Authorization{}, fmt.Errorf("start device authorization for client %q: %w", clientID, err)
	}
	now := s.clock()
	if err := s.prune(ctx, now, pruneBatch); err != nil {
		return Authorization{}, fmt.Errorf("start device authorization: prune expired: %w", err)
	}
	a := Authorization{ExpiresAt: now.Add(s.lifetime), ExpiresIn: s.lifetime, Interval: s.interval}
	for range userCodeAttempts {
		deviceCode, userCode := newDeviceCode(), drawUserCode()
		tag, err := s.db.Exec(ctx, `
			INSERT INTO device_authorizations
				(device_code_hash, user_code, client_id, scopes, interval_seconds, created_at, expires_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7)
			ON CONFLICT (user_code) DO NOTHING`,
			hashDeviceCode(deviceCode), userCode, clientID, scopes, seconds(s.interval), now, a.ExpiresAt)
		if err != nil {
			return Authorization{}, fmt.Errorf("start device authorization for client %q: %w", clientID, err)
		}
		if tag.RowsAffected() == 1 {
			a.DeviceCode, a.UserCode = deviceCode, FormatUserCode(userCode)
			return a, nil
		}
	}
	return Authorization{}, fmt.Errorf("start device authorization for client %q: every user code drawn was taken (%d attempts)", clientID, userCodeAttempts)
}

// cleanScopes drops repeats, keeping the order, and rejects anything that
// is not an RFC 6749 §3.3 scope token.
func cleanScopes(scopes []string) ([]string, error) {
	out := make([]string, 0, len(scopes)) // never nil: the column is NOT NULL
	seen := make(map[string]bool, len(scopes))
	for _, sc := range scopes {
		if !isScopeToken(sc) {
			return nil, fmt.Errorf("scope %q is not a scope token", sc)
		}
		if !seen[sc] {
			seen[sc] = true
			out = append(out, sc)
		}
	}
	return out, nil
}

// isScopeToken: 1*( %x21 / %x23-5B / %x5D-7E ), no space, quote or backslash.
func isScopeToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// Prune deletes every authorization that expired more than an hour ago and
// returns how many it deleted. Start already prunes a few each time; Prune
// is for a periodic job, if one is wanted.
func (s *Service) Prune(ctx context.Context) (int64, error) {
	tag, err := s.db.Exec(ctx, `DELETE FROM device_authorizations WHERE expires_at < $1`, s.clock().Add(-keepExpired))
	if err != nil {
		return 0, fmt.Errorf("prune device authorizations: %w", err)
	}
	return tag.RowsAffected(), nil
}

// prune deletes up to limit long-expired rows. Rows another replica is
// deleting are skipped rather than waited for.
func (s *Service) prune(ctx context.Context, now time.Time, limit int) error {
	_, err := s.db.Exec(ctx, `
		DELETE FROM device_authorizations WHERE id IN (
			SELECT id FROM device_authorizations WHERE expires_at < $1
			LIMIT $2 FOR UPDATE SKIP LOCKED)`,
		now.Add(-keepExpired), limit)
	return err
}
