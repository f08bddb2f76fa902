package accounts

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/caido-cloud/caido-cloud/access"
)

// Email verification: a mailed link proves that the user reads the address
// they signed up with. Until they follow it, users.email_verified_at is NULL
// and the home page says so, and shares by email to the address wait
// (access.ShareByEmail): verifying turns them into grants.

var (
	// ErrVerificationUnknown is a link token that was never issued, is
	// malformed, was pruned, or was issued for an address the user no
	// longer has.
	ErrVerificationUnknown = errors.New("no such verification link")
	// ErrVerificationUsed is a link followed a second time: each works once.
	ErrVerificationUsed = errors.New("the verification link was already used")
	// ErrVerificationExpired is a link followed after VerificationLifetime.
	ErrVerificationExpired = errors.New("the verification link has expired")
	// ErrAlreadyVerified is a new link asked for an address already verified.
	ErrAlreadyVerified = errors.New("the email address is already verified")
)

const (
	// VerificationLifetime is how long a mailed link works.
	VerificationLifetime = 48 * time.Hour
	// VerificationMailLimit new links a user may ask for in each fixed
	// VerificationMailWindow, so that the form cannot be used to flood a
	// mailbox (the sign-up's own link is not counted).
	VerificationMailLimit  = 5
	VerificationMailWindow = time.Hour
	// verificationKeep is how long a row stays after its expiry, so that a
	// late click is told "expired" or "used" rather than "unknown".
	verificationKeep = 30 * 24 * time.Hour
)

// Verification is a new link for an address.
type Verification struct {
	// Token goes in the mailed link and nowhere else: never log it.
	Token     string
	Email     string
	ExpiresAt time.Time
}

// NewVerification makes a link for userID's current address
// (ErrAlreadyVerified when it is verified). Sign-up calls it; it is not
// limited.
func (s *Service) NewVerification(ctx context.Context, userID string) (Verification, error) {
	email, err := s.unverifiedEmail(ctx, userID)
	if err != nil {
		return Verification{}, err
	}
	return s.newVerification(ctx, userID, email)
}

// RequestVerification is NewVerification for a user who asked for a new
// mail: at most VerificationMailLimit per VerificationMailWindow each
// (*LimitError beyond). Asking when already verified is not counted.
func (s *Service) RequestVerification(ctx context.Context, userID string) (Verification, error) {
	email, err := s.unverifiedEmail(ctx, userID)
	if err != nil {
		return Verification{}, err
	}
	// Never refunded: every link asked for is a mail sent.
	if _, err := s.attempt(ctx, VerificationMailLimit, VerificationMailWindow, "verification-mail:"+userID); err != nil {
		return Verification{}, err
	}
	return s.newVerification(ctx, userID, email)
}

func (s *Service) unverifiedEmail(ctx context.Context, userID string) (string, error) {
	var email string
	var verified bool
	err := s.db.QueryRow(ctx, `SELECT email, email_verified_at IS NOT NULL FROM users WHERE id = $1`, userID).Scan(&email, &verified)
	if err != nil {
		return "", fmt.Errorf("read the address of user %s: %w", userID, err)
	}
	if verified {
		return "", ErrAlreadyVerified
	}
	return email, nil
}

func (s *Service) newVerification(ctx context.Context, userID, email string) (Verification, error) {
	now := s.clock()
	v := Verification{Token: NewToken(), Email: email, ExpiresAt: now.Add(VerificationLifetime)}
	if _, err := s.db.Exec(ctx, `
		DELETE FROM email_verifications WHERE token_hash IN (
			SELECT token_hash FROM email_verifications WHERE expires_at <= $1 LIMIT $2 FOR UPDATE SKIP LOCKED)`,
		now.Add(-verificationKeep), pruneBatch); err != nil {
		return Verification{}, fmt.Errorf("prune verification links: %w", err)
	}
	if _, err := s.db.Exec(ctx, `INSERT INTO email_verifications (token_hash, user_id, email, created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5)`, hash(v.Token), userID, email, now, v.ExpiresAt); err != nil {
		return Verification{}, fmt.Errorf("store a verification link: %w", err)
	}
	return v, nil
}

// Verified is the outcome of a followed link.
type Verified struct {
	UserID, Email string
}

// VerifyEmail follows a link: its address becomes verified
// (users.email_verified_at) and the link is used up. A link already used,
// expired or unknown is ErrVerificationUsed, ErrVerificationExpired or
// ErrVerificationUnknown, and changes nothing.
func (s *Service) VerifyEmail(ctx context.Context, token string) (Verified, error) {
	if b, err := base64.RawURLEncoding.DecodeString(token); err != nil || len(b) != 32 {
		return Verified{}, ErrVerificationUnknown
	}
	now := s.clock()
	var out Verified
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		var current string
		var expiresAt time.Time
		var usedAt *time.Time
		// FOR UPDATE: two clicks at once verify once, and the second is
		// told the link was used.
		err := tx.QueryRow(ctx, `
			SELECT v.user_id::text, v.email, v.expires_at, v.used_at, u.email
			FROM email_verifications v JOIN users u ON u.id = v.user_id
			WHERE v.token_hash = $1 FOR UPDATE OF v`, hash(token)).
			Scan(&out.UserID, &out.Email, &expiresAt, &usedAt, &current)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			return ErrVerificationUnknown
		case err != nil:
			return fmt.Errorf("read the verification link: %w", err)
		case usedAt != nil:
			return ErrVerificationUsed
		case !now.Before(expiresAt):
			return ErrVerificationExpired
		case !strings.EqualFold(out.Email, current):
			return ErrVerificationUnknown
		}
		if _, err := tx.Exec(ctx, `UPDATE email_verifications SET used_at = $2 WHERE token_hash = $1`, hash(token), now); err != nil {
			return fmt.Errorf("use the verification link: %w", err)
		}
		// An address verified by an earlier link keeps its first time.
		if _, err := tx.Exec(ctx, `UPDATE users SET email_verified_at = coalesce(email_verified_at, $2) WHERE id = $1`,
			out.UserID, now); err != nil {
			return fmt.Errorf("mark the address verified: %w", err)
		}
		// Shares by email waited for the address to be proven someone's:
		// they become this account's grants with the verification, or not
		// at all.
		if err := access.GrantPendingSharesTx(ctx, tx, out.UserID, out.Email); err != nil {
			return fmt.Errorf("grant the shares waiting for the address: %w", err)
		}
		return nil
	})
	if err != nil {
		return Verified{}, err
	}
	return out, nil
}
