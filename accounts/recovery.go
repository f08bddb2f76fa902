package accounts

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/caido-cloud/caido-cloud/limits"
)

// Password recovery: a link mailed to the account's address sets a new
// password, once, within PasswordResetLifetime; it ends every browser
// session of the account. Asking for one answers alike for every address,
// so that the form tells no one who has an account.

// ErrResetLink is a reset link that is unknown, malformed, used or expired:
// one answer for all, and a new link is the way on.
var ErrResetLink = errors.New("this password reset link no longer works")

// Limits of the requests for a link, per client address and per address
// asked for, in fixed windows: the form must not flood a mailbox, nor mail
// everyone from one place.
const (
	ResetRequestLimit    = 10 // per client address
	ResetAccountLimit    = 3  // per email address asked for
	ResetRequestWindow   = time.Hour
	resetKeep            = 7 * 24 * time.Hour // a late click is told the link no longer works, then the row goes
	DefaultResetLifetime = time.Hour
)

// PasswordReset is a new link for an account; Token goes in the mailed
// link and nowhere else: never log it.
type PasswordReset struct {
	Token     string
	Account   Account
	ExpiresAt time.Time
}

// RequestPasswordReset makes a link for the account of email, counted
// against the limits (a *LimitError once over, whether or not the address
// has an account). ok is false when no account has the address: the
// caller answers the same and mails nothing.
func (s *Service) RequestPasswordReset(ctx context.Context, email, ip string) (reset PasswordReset, ok bool, err error) {
	email = strings.TrimSpace(email)
	if _, err := s.attempt(ctx, ResetRequestLimit, ResetRequestWindow, "reset-ip:"+limits.AddressKey(ip)); err != nil {
		return PasswordReset{}, false, err
	}
	if _, err := s.attempt(ctx, ResetAccountLimit, ResetRequestWindow, "reset-account:"+strings.ToLower(email)); err != nil {
		return PasswordReset{}, false, err
	}
	a := &reset.Account
	err = s.db.QueryRow(ctx, `SELECT u.id::text, u.email, u.name FROM users u WHERE lower(u.email) = lower($1)`, email).
		Scan(&a.ID, &a.Email, &a.Name)
	if errors.Is(err, pgx.ErrNoRows) {
		return PasswordReset{}, false, nil
	}
	if err != nil {
		return PasswordReset{}, false, fmt.Errorf("password reset: %w", err)
	}
	now := s.clock()
	reset.Token, reset.ExpiresAt = NewToken(), now.Add(s.opts.ResetLifetime)
	err = pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM password_resets WHERE expires_at < $1`, now.Add(-resetKeep)); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO password_resets (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)`,
			hash(reset.Token), a.ID, now, reset.ExpiresAt)
		return err
	})
	if err != nil {
		return PasswordReset{}, false, fmt.Errorf("password reset: %w", err)
	}
	return reset, true, nil
}

// CheckResetLink says whether a link still works, for the page that asks
// for the new password (ErrResetLink when it does not).
func (s *Service) CheckResetLink(ctx context.Context, token string) error {
	if b, err := base64.RawURLEncoding.DecodeString(token); err != nil || len(b) != 32 {
		return ErrResetLink
	}
	var works bool
	err := s.db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM password_resets WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2)`,
		hash(token), s.clock()).Scan(&works)
	if err != nil {
		return fmt.Errorf("password reset: %w", err)
	}
	if !works {
		return ErrResetLink
	}
	return nil
}

// ResetPassword sets the account's new password with a link's token, once:
// the link is used, every browser session of the account ends (how many
// is returned), and every other link of the account stops working. A new
// password that will not do is a *FieldError and uses nothing.
func (s *Service) ResetPassword(ctx context.Context, token, newPassword, again string) (Account, int, error) {
	if fe := newPasswordProblem("new_password", newPassword); fe != nil {
		return Account{}, 0, fe
	}
	if newPassword != again {
		return Account{}, 0, &FieldError{"new_password_again", "The two new passwords are not the same: type the new one twice."}
	}
	if err := s.CheckResetLink(ctx, token); err != nil {
		return Account{}, 0, err
	}
	encoded, err := s.hash(ctx, newPassword)
	if err != nil {
		return Account{}, 0, fmt.Errorf("password reset: %w", err)
	}
	var a Account
	var ended int
	err = pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		now := s.clock()
		// Used in the statement that finds it: two submissions of one link
		// cannot both set a password.
		err := tx.QueryRow(ctx, `UPDATE password_resets SET used_at = $2
			WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2 RETURNING user_id::text`, hash(token), now).Scan(&a.ID)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrResetLink
		}
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE password_resets SET used_at = $2 WHERE user_id = $1 AND used_at IS NULL`, a.ID, now); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `UPDATE users SET password_hash = $2 WHERE id = $1 RETURNING email, name`, a.ID, encoded).
			Scan(&a.Email, &a.Name); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `DELETE FROM web_sessions WHERE user_id = $1`, a.ID)
		ended = int(tag.RowsAffected())
		return err
	})
	if errors.Is(err, ErrResetLink) {
		return Account{}, 0, err
	}
	if err != nil {
		return Account{}, 0, fmt.Errorf("password reset: %w", err)
	}
	return a, ended, nil
}
