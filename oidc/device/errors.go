package device

import "errors"

// Error is an outcome of a poll the token endpoint reports as an OAuth error
// (RFC 8628 §3.5, RFC 6749 §5.2). Compare with errors.Is against the
// sentinels below.
type Error struct {
	code        string
	description string
}

func (e *Error) Error() string { return e.code + ": " + e.description }

// Code is the error's wire code, the "error" member of the token response.
func (e *Error) Code() string { return e.code }

// Description is a human-readable explanation, the "error_description".
func (e *Error) Description() string { return e.description }

// Poll's outcomes other than success.
var (
	ErrAuthorizationPending = &Error{"authorization_pending", "the user has not yet approved or denied the request"}
	ErrSlowDown             = &Error{"slow_down", "polling too fast: wait the interval, now 5 seconds longer, between polls"}
	ErrAccessDenied         = &Error{"access_denied", "the user denied the request"}
	ErrExpiredToken         = &Error{"expired_token", "the device code has expired: start a new device authorization"}
	ErrInvalidGrant         = &Error{"invalid_grant", "the device code is unknown, belongs to another client or was already used"}
)

// Code returns the wire error code of err when err is, or wraps, one of
// Poll's outcomes; ok is false for any other error (a server error).
func Code(err error) (code string, ok bool) {
	var e *Error
	if errors.As(err, &e) {
		return e.code, true
	}
	return "", false
}

// ErrUnknownUserCode is the one answer to a user code that is not pending:
// it never existed, was mistyped, expired, or was approved or denied
// already. The approval page must not tell these apart.
var ErrUnknownUserCode = errors.New("unknown or expired code")

// ErrScopeNotRequested rejects an approval granting a scope the device did
// not ask for.
var ErrScopeNotRequested = errors.New("scope not requested")
