package access

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/caido-cloud/caido-cloud/audit"

	"github.com/jackc/pgx/v5"
)

var (
	// ErrVoucherInvalid is a code that does not exist, has expired or has
	// been claimed as often as it may be; one error for all, so that codes
	// cannot be probed.
	ErrVoucherInvalid = errors.New("invalid voucher code")
	// ErrAlreadySubscribed is a claim by someone who already has a paid plan.
	ErrAlreadySubscribed = errors.New("already subscribed to a paid plan")
)

// CreateVoucher makes a code that gives its claimant plan for days days, up
// to maxClaims people, until expiresAt when set (an operator's action). The
// code is returned once; only its SHA-256 is kept.
func (s *Service) CreateVoucher(ctx context.Context, plan string, days, maxClaims int, expiresAt *time.Time) (string, error) {
	if days <= 0 || maxClaims <= 0 {
		return "", fmt.Errorf("days and claims must be positive: %w", ErrInvalid)
	}
	code := newVoucherCode()
	_, err := s.db.Exec(ctx, `INSERT INTO vouchers (code_hash, plan, days, max_claims, expires_at) VALUES ($1, $2, $3, $4, $5)`,
		hashSecret(normalizeVoucher(code)), plan, days, maxClaims, expiresAt)
	if err != nil {
		if errors.Is(translate(err, ""), ErrNotFound) { // the plan's foreign key
			return "", fmt.Errorf("%q is not a plan: %w", plan, ErrInvalid)
		}
		return "", err
	}
	return code, nil
}

// ClaimVoucher gives userID the voucher's plan from now on for its days.
func (s *Service) ClaimVoucher(ctx context.Context, userID, code string) error {
	return pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		var id, plan string
		var days int
		err := tx.QueryRow(ctx, `SELECT id::text, plan, days FROM vouchers
			WHERE code_hash = $1 AND claims < max_claims AND (expires_at IS NULL OR expires_at > now()) FOR UPDATE`,
			hashSecret(normalizeVoucher(code))).Scan(&id, &plan, &days)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrVoucherInvalid
		}
		if err != nil {
			return err
		}
		// The user's row is locked so that two claims of two codes at once
		// cannot both find the user unsubscribed.
		if _, err := tx.Exec(ctx, `SELECT 1 FROM users WHERE id = $1 FOR UPDATE`, userID); err != nil {
			return translate(err, "user "+userID)
		}
		var paid bool
		if err := tx.QueryRow(ctx, `SELECT p.rank > 0 FROM user_plans up JOIN plans p ON p.name = up.plan WHERE up.user_id = $1`,
			userID).Scan(&paid); err != nil {
			return translate(err, "user "+userID)
		}
		if paid {
			return ErrAlreadySubscribed
		}
		tag, err := tx.Exec(ctx, `INSERT INTO voucher_claims (voucher_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`, id, userID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return ErrVoucherInvalid // claimed before by this user
		}
		if _, err := tx.Exec(ctx, `UPDATE vouchers SET claims = claims + 1 WHERE id = $1`, id); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE users SET plan = $2, plan_ends_at = now() + make_interval(days => $3), updated_at = now() WHERE id = $1`,
			userID, plan, days); err != nil {
			return err
		}
		return audit.Record(ctx, tx, audit.VoucherClaim, "", audit.Target{Type: "user", ID: userID, UserID: userID},
			map[string]any{"plan": plan, "days": days})
	})
}

// A voucher code is 16 characters from an alphabet without look-alikes,
// grouped for reading aloud: CVOU-XXXX-XXXX-XXXX-XXXX (80 bits).
const voucherAlphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"

func newVoucherCode() string {
	b := make([]byte, 16)
	rand.Read(b) // never fails (crypto/rand)
	var sb strings.Builder
	sb.WriteString("CVOU")
	for i, c := range b {
		if i%4 == 0 {
			sb.WriteByte('-')
		}
		sb.WriteByte(voucherAlphabet[int(c)%len(voucherAlphabet)])
	}
	return sb.String()
}

// normalizeVoucher makes typing variations of a code equal: case, spaces
// and dashes do not matter.
func normalizeVoucher(code string) string {
	// Trimmed after the dashes go: "-\tCVOU…" is the code too.
	return strings.TrimSpace(strings.Map(func(r rune) rune {
		if r == '-' || r == ' ' {
			return -1
		}
		return r
	}, strings.ToUpper(code)))
}
