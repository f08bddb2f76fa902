package sharing

import (
	"errors"
	"time"
)

// Code is the kind of a refusal; each surface maps it once (a status, a
// page).
type Code int

const (
	// NotFound: nothing the actor may see is there. An instance they may
	// not use and a team they are not a member of are not found, whether
	// they exist or not.
	NotFound Code = iota + 1
	// Forbidden: the actor may see the instance but not do this to it.
	Forbidden
	// Invalid: the request itself is wrong; nothing was changed.
	Invalid
	// Limited: the actor has done this too often; RetryAfter says when
	// they may again.
	Limited
)

// Subject is what a refusal is about, so that a surface can word it its
// own way (the pages' texts differ from the API's messages).
type Subject string

const (
	SubjectInstance Subject = "instance"
	SubjectGrant    Subject = "grant"
	SubjectTeam     Subject = "team"
	SubjectEmail    Subject = "email"
	// SubjectSelf: a share with the actor themselves.
	SubjectSelf  Subject = "self"
	SubjectUntil Subject = "until"
	// SubjectMail: shares by email, limited per sharer.
	SubjectMail Subject = "mail"
	// SubjectName: an instance's name.
	SubjectName Subject = "name"
	// SubjectWorkspace: a workspace to move an instance to.
	SubjectWorkspace Subject = "workspace"
	// SubjectCredentials: an instance's client credentials.
	SubjectCredentials Subject = "credentials"
	// SubjectSeat: a team's instance, to a member of the team without a
	// seat of its subscription.
	SubjectSeat Subject = "seat"
)

// Error is a refusal. Message is safe to show to the actor: it names only
// what they gave or may see.
type Error struct {
	Code       Code
	Subject    Subject
	Message    string
	RetryAfter time.Duration
}

func (e *Error) Error() string { return e.Message }

// AsError returns err's *Error, if it is a refusal (anything else is a
// failure: a 500 on every surface).
func AsError(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

func refuse(code Code, subject Subject, message string) *Error {
	return &Error{Code: code, Subject: subject, Message: message}
}

func noInstance(id string) *Error {
	return refuse(NotFound, SubjectInstance, "no instance "+id+" that you may use")
}

// noTeam answers a team the actor may not share with: unknown, or one of
// which they are not a member. Both read the same, so that the answer
// tells nothing about a team the actor is not in.
func noTeam(id string) *Error {
	return refuse(NotFound, SubjectTeam, "no team "+id+" of which you are a member")
}

func noGrant(instanceID, grantee string) *Error {
	return refuse(NotFound, SubjectGrant, "instance "+instanceID+" has no grant to user or team "+grantee)
}
