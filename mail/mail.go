// Package mail sends the service's own email: address verification and
// security notices. SMTPSender talks to a real SMTP server; LogSender, used
// when no server is configured (`make run`), writes each mail to the log
// instead so that a developer can follow its links.
package mail

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	netmail "net/mail"
	"strings"
)

// Message is one plain-text mail to one recipient.
type Message struct {
	// To is a bare address (name@example.com), no display name.
	To      string
	Subject string
	// Text is the body; line breaks may be \n or \r\n.
	Text string
}

// Sender delivers a Message, or says why it could not.
type Sender interface {
	Send(ctx context.Context, m Message) error
}

// ErrBadMessage is a Message refused before anything is sent: a recipient
// that is not one bare address, or a header value with a line break (which
// would let its author add headers of their own).
var ErrBadMessage = errors.New("mail: bad message")

// maxSubject bounds the subject, in bytes: ours are short.
const maxSubject = 500

// check refuses what could not be sent as it is meant: a recipient that is
// not exactly one address, or CR or LF in To or Subject. The one check every
// Sender runs, so that the log in development refuses what SMTP would.
func (m Message) check() error {
	if strings.ContainsAny(m.To, "\r\n") || strings.ContainsAny(m.Subject, "\r\n") {
		return fmt.Errorf("%w: a line break in To or Subject", ErrBadMessage)
	}
	addr, err := netmail.ParseAddress(m.To)
	if err != nil || addr.Address != m.To || addr.Name != "" {
		return fmt.Errorf("%w: To is not one bare address", ErrBadMessage)
	}
	if len(m.Subject) > maxSubject {
		return fmt.Errorf("%w: the subject is longer than %d bytes", ErrBadMessage, maxSubject)
	}
	return nil
}

// LogSender writes each mail, body included, to the log at INFO instead of
// sending it. It is what runs when CAIDO_CLOUD_SMTP_HOST is not set (`make
// run`): a product requirement, so that a developer without a mail server
// can still follow a verification link. That makes it the one place where a
// token (the link in the body) is logged: it must not be used where the log
// is shared with people who may not own the account, so set an SMTP server
// in production.
type LogSender struct {
	Log *slog.Logger
}

// Send logs m.
func (s LogSender) Send(ctx context.Context, m Message) error {
	if err := m.check(); err != nil {
		return err
	}
	s.Log.InfoContext(ctx, "mail not sent, no SMTP server is configured (CAIDO_CLOUD_SMTP_HOST); here it is",
		"to", m.To, "subject", m.Subject, "text", m.Text)
	return nil
}
