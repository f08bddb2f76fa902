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

// SignIn checks an email and password from a client address, with no
// browser to remember (DeleteAccount, tests): SignInBrowser without a
// device cookie.
func (s *Service) SignIn(ctx context.Context, email, password, ip string) (Account, error) {
	a, _, err := s.signIn(ctx, email, password, ip, "", false)
	return a, err
}

// SignInBrowser checks an email and password sent by a browser carrying
// device, the device cookie it was given at an earlier sign-in ("" for
// none), and returns the device cookie it is to keep.
//
// Failed attempts are limited, in fixed windows of SignInWindow:
//   - per account and client address (an IPv6 address by its /64), and per
//     address, SignInLimit each: one address guesses little;
//   - per account, SignInAccountLimit: past it the account is being guessed
//     from many addresses, and a browser without the account's device
//     cookie gets through only from an address with no failure on the
//     account, one attempt per SignInSlowInterval for the account, so that
//     guessing slows to a crawl while its owner still gets in;
//   - a browser with the account's device cookie is counted per device
//     only, SignInLimit: the guessing of others never locks it out.
//
// Successful sign-ins are limited per address (SignedInLimit). Over a limit
// the error is a *LimitError; ErrBusy when the password could not be
// checked in time; ErrBadCredentials for an unknown email and a wrong
// password alike.
func (s *Service) SignInBrowser(ctx context.Context, email, password, ip, device string) (Account, string, error) {
	return s.signIn(ctx, email, password, ip, device, true)
}

func (s *Service) signIn(ctx context.Context, email, password, ip, device string, remember bool) (Account, string, error) {
	email = strings.TrimSpace(email)
	if len(password) > pw.MaxLength {
		return Account{}, "", ErrBadCredentials
	}
	failures, err := s.failureAttempt(ctx, email, ip, device)
	if err != nil {
		return Account{}, "", err
	}
	// Counted before the hash, which a right password costs too; given
	// back below when the password is wrong.
	signedIn, err := s.attempt(ctx, s.opts.SignedInLimit, s.opts.SignInWindow, "signedin-ip:"+limits.AddressKey(ip))
	if err != nil {
		return Account{}, "", errors.Join(err, failures.refund(ctx)) // not a failure of the password
	}
	a, err := s.checkPassword(ctx, email, password)
	switch {
	case errors.Is(err, ErrBusy):
		return Account{}, "", errors.Join(err, failures.refund(ctx), signedIn.Refund(ctx))
	case err != nil:
		return Account{}, "", errors.Join(err, signedIn.Refund(ctx))
	}
	if err := failures.refund(ctx); err != nil {
		return Account{}, "", fmt.Errorf("sign in: %w", err)
	}
	if !remember {
		return a, "", nil
	}
	device, err = s.rememberDevice(ctx, a.ID, device)
	return a, device, err
}

// failures are the counts a sign-in attempt was made against, each given
// back when its password turns out right.
type failures []Attempt

func (f failures) refund(ctx context.Context) error {
	var errs []error
	for _, a := range f {
		errs = append(errs, a.Refund(ctx))
	}
	return errors.Join(errs...)
}

// failureAttempt counts one sign-in attempt as SignInBrowser says, or
// refuses it with a *LimitError.
func (s *Service) failureAttempt(ctx context.Context, email, ip, device string) (failures, error) {
	account := strings.ToLower(email)
	window := s.opts.SignInWindow
	if device != "" {
		known, err := s.knownDevice(ctx, account, device)
		if err != nil {
			return nil, err
		}
		if known {
			a, err := s.attempt(ctx, s.opts.SignInLimit, window, fmt.Sprintf("signin-device:%x", hash(device)))
			return failures{a}, err
		}
	}
	pair := "signin-pair:" + account + "|" + limits.AddressKey(ip)
	local, err := s.attempt(ctx, s.opts.SignInLimit, window, pair, "signin-ip:"+limits.AddressKey(ip))
	if err != nil {
		return nil, err
	}
	whole, err := s.attempt(ctx, s.opts.SignInAccountLimit, window, "signin-account:"+account)
	if err == nil {
		return failures{local, whole}, nil
	}
	if !errors.Is(err, ErrRateLimited) {
		return nil, errors.Join(err, local.Refund(ctx))
	}
	// The account is being guessed: the slow lane, for an address that has
	// not failed on it (this attempt is its first count).
	if n, cerr := s.limiter.Count(ctx, window, pair); cerr != nil || n > 1 {
		return nil, errors.Join(err, cerr, local.Refund(ctx))
	}
	slow, serr := s.attempt(ctx, 1, s.opts.SignInSlowInterval, "signin-slow:"+account)
	if serr != nil {
		return nil, errors.Join(serr, local.Refund(ctx))
	}
	return failures{local, slow}, nil
}

// knownDevice says whether device is a device cookie of the account of
// email.
func (s *Service) knownDevice(ctx context.Context, email, device string) (bool, error) {
	var known bool
	err := s.db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM known_devices d JOIN users u ON u.id = d.user_id
		WHERE d.token_hash = $1 AND lower(u.email) = $2)`, hash(device), email).Scan(&known)
	if err != nil {
		return false, fmt.Errorf("sign in: known device: %w", err)
	}
	return known, nil
}

// rememberDevice returns the device cookie of a browser that just signed in
// to userID: the one it has when it is that account's, else a new one.
func (s *Service) rememberDevice(ctx context.Context, userID, device string) (string, error) {
	now := s.clock()
	if device != "" {
		tag, err := s.db.Exec(ctx, `UPDATE known_devices SET last_used_at = $3 WHERE token_hash = $1 AND user_id = $2`,
			hash(device), userID, now)
		if err != nil {
			return "", fmt.Errorf("sign in: remember the device: %w", err)
		}
		if tag.RowsAffected() == 1 {
			return device, nil
		}
	}
	device = NewToken()
	if _, err := s.db.Exec(ctx, `INSERT INTO known_devices (token_hash, user_id, created_at, last_used_at) VALUES ($1, $2, $3, $3)`,
		hash(device), userID, now); err != nil {
		return "", fmt.Errorf("sign in: remember the device: %w", err)
	}
	return device, nil
}

// checkPassword finds the account of email and checks its password:
// ErrBadCredentials for an unknown email and a wrong password alike, in
// about the same time.
func (s *Service) checkPassword(ctx context.Context, email, password string) (Account, error) {
	var a Account
	var encoded *string
	err := s.db.QueryRow(ctx, `
		SELECT u.id::text, u.email, u.name, u.password_hash, coalesce(w.id::text, '')
		FROM users u LEFT JOIN workspaces w ON w.owner_user_id = u.id AND w.is_default
		WHERE lower(u.email) = lower($1)`, email).Scan(&a.ID, &a.Email, &a.Name, &encoded, &a.DefaultWorkspaceID)
	if errors.Is(err, pgx.ErrNoRows) || err == nil && encoded == nil {
		if _, err := s.verifyPassword(ctx, dummyHash(), password); errors.Is(err, ErrBusy) {
			return Account{}, err
		}
		return Account{}, ErrBadCredentials
	}
	if err != nil {
		return Account{}, fmt.Errorf("sign in: %w", err)
	}
	ok, err := s.verifyPassword(ctx, *encoded, password)
	if err != nil {
		return Account{}, fmt.Errorf("sign in: verify the password of user %s: %w", a.ID, err)
	}
	if !ok {
		return Account{}, ErrBadCredentials
	}
	return a, nil
}
