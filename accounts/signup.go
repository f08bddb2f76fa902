package accounts

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"strings"

	"github.com/caido-cloud/caido-cloud/access"
	"github.com/caido-cloud/caido-cloud/input"
	"github.com/caido-cloud/caido-cloud/limits"
)

// Account is a signed-up user as the pages show them.
type Account struct {
	ID                 string
	Email              string
	Name               string
	DefaultWorkspaceID string
	// EmailVerified: the user followed a mailed verification link. Set by
	// Session (and StartSession) only.
	EmailVerified bool
}

// SignUp is what the sign-up form sends.
type SignUp struct {
	Name, Email, Password string
	// UserAgent is the browser's User-Agent header, recorded with the account.
	UserAgent string
	// IP is the client address, whose sign-ups are limited.
	IP string
	// ByOperator: the operator's `user create`, which neither the limits
	// nor the sign-up policy apply to.
	ByOperator bool
}

// maxUserAgent bounds what is stored of a User-Agent header.
const maxUserAgent = 512

// userAgent is what is stored of a User-Agent header: valid UTF-8, cut
// between characters to maxUserAgent bytes.
func userAgent(header string) string {
	return input.Cut(strings.ToValidUTF8(header, ""), maxUserAgent)
}

// SignUp creates an account: the user and their Default workspace, the
// password's argon2id hash and the sign-up user agent, in one transaction
// (access.CreateAccount). Bad input is a *FieldError and an existing
// email a *TakenError (ErrEmailTaken), reached in about the time a new
// account takes; an address the SignUpPolicy does not admit
// ErrSignUpClosed; too many sign-ups from the address, or from all, a
// *LimitError; too many password hashes at once ErrBusy. None stores
// anything.
func (s *Service) SignUp(ctx context.Context, in SignUp) (Account, error) {
	name, email := strings.TrimSpace(in.Name), strings.TrimSpace(in.Email)
	if name == "" || len(name) > 200 {
		return Account{}, &FieldError{"name", "Enter your name (up to 200 characters)."}
	}
	if addr, err := mail.ParseAddress(email); err != nil || addr.Address != email || len(email) > 254 || !strings.Contains(email, ".") {
		return Account{}, &FieldError{"email", "Enter an email address like name@example.com."}
	}
	if fe := newPasswordProblem("password", in.Password); fe != nil {
		return Account{}, fe
	}
	if !in.ByOperator {
		switch ok, err := s.admits(ctx, email); {
		case err != nil:
			return Account{}, err
		case !ok:
			return Account{}, ErrSignUpClosed
		}
	}
	// Counted once the input is good, before the hash and the mail that
	// follow; an address's own limit first, so that one flooding address
	// does not use up everyone's.
	if !in.ByOperator {
		if _, err := s.attempt(ctx, s.opts.SignUpLimit, s.opts.SignUpWindow, "signup-ip:"+limits.AddressKey(in.IP)); err != nil {
			return Account{}, err
		}
		if _, err := s.attempt(ctx, s.opts.SignUpTotal, s.opts.SignUpWindow, "signup-all"); err != nil {
			return Account{}, err
		}
	}
	// Hashed whether or not the address is taken, so that both answers
	// take as long: the time must not tell who has an account. Whether it
	// is, the insert says (users_email_key is on lower(email)).
	encoded, err := s.hash(ctx, in.Password)
	if err != nil {
		return Account{}, fmt.Errorf("sign up: hash the password: %w", err)
	}
	u, _, err := s.access.CreateAccount(ctx, access.NewUser{Email: email, Name: name, PasswordHash: encoded, SignupUserAgent: userAgent(in.UserAgent)})
	switch {
	case errors.Is(err, access.ErrConflict):
		return Account{}, s.taken(ctx, email)
	case errors.Is(err, access.ErrInvalid):
		return Account{}, &FieldError{"email", "Enter an email address like name@example.com."}
	case err != nil:
		return Account{}, fmt.Errorf("sign up: %w", err)
	}
	return Account{ID: u.ID, Email: u.Email, Name: u.Name, DefaultWorkspaceID: u.DefaultWorkspaceID}, nil
}

// TakenError is a sign-up with the address of an existing account.
// Notify says whether to mail its owner about it: at most
// takenNoticeLimit times per address per SignUpWindow, so that sign-ups
// from many addresses cannot flood a mailbox.
type TakenError struct{ Notify bool }

func (e *TakenError) Error() string { return ErrEmailTaken.Error() }

// Is makes errors.Is(err, ErrEmailTaken) hold.
func (e *TakenError) Is(target error) bool { return target == ErrEmailTaken }

// takenNoticeLimit bounds the notices mailed to one address about sign-ups
// with it.
const takenNoticeLimit = 3

func (s *Service) taken(ctx context.Context, email string) error {
	_, err := s.attempt(ctx, takenNoticeLimit, s.opts.SignUpWindow, "signup-taken:"+strings.ToLower(email))
	switch {
	case errors.Is(err, ErrRateLimited):
		return &TakenError{}
	case err != nil:
		return err
	}
	return &TakenError{Notify: true}
}
