package accounts

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	pw "github.com/caido-cloud/caido-cloud/accounts/password"
	"github.com/caido-cloud/caido-cloud/limits"
)

// PasswordChange is what the password form sends.
type PasswordChange struct {
	Current, New, Again string
	// IP is the client's address, for the sign-in attempt limit.
	IP string
}

// ChangePassword replaces the password of sess's user and ends every other
// web session of theirs (this one stays signed in), returning how many it
// ended. Bad input is a *FieldError and changes nothing. A wrong current
// password is ErrBadCredentials and counts as a failed sign-in, against the
// account at this address and the address (*LimitError once over): the
// form must not be a way around the sign-in limit. Instances signed in by the user stay
// signed in.
func (s *Service) ChangePassword(ctx context.Context, sess Session, in PasswordChange) (int, error) {
	if fe := newPasswordProblem("new_password", in.New); fe != nil {
		return 0, fe
	}
	if in.New != in.Again {
		return 0, &FieldError{"new_password_again", "The two new passwords are not the same: type the new one twice."}
	}
	if in.Current == "" {
		return 0, &FieldError{"current_password", "Enter your current password."}
	}
	if len(in.Current) > pw.MaxLength {
		return 0, ErrBadCredentials
	}
	userID := sess.Account.ID
	// The keys SignIn counts failures under.
	// Per account and address, and per address, as SignIn counts them:
	// not per account, whose count others' guessing raises.
	att, err := s.attempt(ctx, s.opts.SignInLimit, s.opts.SignInWindow,
		"signin-pair:"+strings.ToLower(sess.Account.Email)+"|"+limits.AddressKey(in.IP), "signin-ip:"+limits.AddressKey(in.IP))
	if err != nil {
		return 0, err
	}
	var encoded *string
	if err := s.db.QueryRow(ctx, `SELECT password_hash FROM users WHERE id = $1`, userID).Scan(&encoded); err != nil {
		return 0, fmt.Errorf("change password: %w", err)
	}
	if encoded == nil {
		_, _ = s.verifyPassword(ctx, dummyHash(), in.Current)
		return 0, ErrBadCredentials
	}
	ok, err := s.verifyPassword(ctx, *encoded, in.Current)
	if err != nil {
		return 0, fmt.Errorf("change password: verify the password of user %s: %w", userID, err)
	}
	if !ok {
		return 0, ErrBadCredentials
	}
	if err := att.Refund(ctx); err != nil {
		return 0, fmt.Errorf("change password: %w", err)
	}
	if in.New == in.Current {
		return 0, &FieldError{"new_password", "Choose a new password, not your current one."}
	}
	newHash, err := s.hash(ctx, in.New)
	if err != nil {
		return 0, fmt.Errorf("change password: hash the password: %w", err)
	}
	var ended int
	err = pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		// Only if the hash is still the one just checked: a concurrent
		// change wins, and this one is told its current password is wrong.
		tag, err := tx.Exec(ctx, `UPDATE users SET password_hash = $2 WHERE id = $1 AND password_hash = $3`, userID, newHash, *encoded)
		if err != nil {
			return fmt.Errorf("change password: store it: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return ErrBadCredentials
		}
		tag, err = tx.Exec(ctx, `DELETE FROM web_sessions WHERE user_id = $1 AND id_hash <> $2`, userID, sess.idHash)
		if err != nil {
			return fmt.Errorf("change password: end the other sessions: %w", err)
		}
		ended = int(tag.RowsAffected())
		return nil
	})
	if err != nil {
		return 0, err
	}
	return ended, nil
}

// newPasswordProblem is what is wrong with a new password, nil if nothing:
// the one rule for sign-up and password changes.
func newPasswordProblem(field, password string) *FieldError {
	switch err := pw.Acceptable(password); {
	case errors.Is(err, pw.ErrTooShort):
		return &FieldError{field, fmt.Sprintf("Choose a password of at least %d characters.", MinPasswordLength)}
	case err != nil:
		return &FieldError{field, fmt.Sprintf("Choose a password of at most %d characters.", pw.MaxLength)}
	}
	return nil
}
