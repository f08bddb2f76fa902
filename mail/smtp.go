package mail

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net"
	netmail "net/mail"
	"net/smtp"
	"strconv"
	"strings"
	"time"
)

// DefaultTimeout bounds one Send when neither SMTPSender.Timeout nor the
// caller's context set a shorter bound.
const DefaultTimeout = 30 * time.Second

// SMTPSender sends each Message in one SMTP conversation (net/smtp): it
// upgrades to TLS with STARTTLS whenever the server offers it, and
// authenticates with AUTH PLAIN when Username is set. net/smtp sends the
// credentials only over TLS or to localhost, so a server that offers no
// STARTTLS never sees the password in clear.
type SMTPSender struct {
	// Host and Port of the server: the submission port is 587.
	Host string
	Port int
	// Username and Password authenticate with AUTH PLAIN when Username is
	// set. Never logged.
	Username, Password string
	// From is the sender: the From header and the envelope's MAIL FROM.
	From netmail.Address
	// ImplicitTLS speaks TLS from the first byte (port 465, "SMTPS")
	// instead of upgrading with STARTTLS.
	ImplicitTLS bool
	// TLSConfig verifies the server; nil verifies Host against the system's
	// roots.
	TLSConfig *tls.Config
	// HelloName is the name given in EHLO; "" is net/smtp's "localhost".
	HelloName string
	// Timeout bounds one Send (dialling included); 0 is DefaultTimeout.
	Timeout time.Duration
	// Now is the clock of the Date header; nil is time.Now.
	Now func() time.Time
}

// Send delivers m. A Message with a line break in To or Subject, or more
// than one recipient, is refused with ErrBadMessage before any connection.
func (s *SMTPSender) Send(ctx context.Context, m Message) error {
	if err := m.check(); err != nil {
		return err
	}
	raw := s.compose(m)
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	addr := net.JoinHostPort(s.Host, strconv.Itoa(s.Port))
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("mail: connect to %s: %w", addr, err)
	}
	// net/smtp takes no context: the deadline bounds every read and write,
	// and a context cancelled early moves it to now, which unblocks them.
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Now()) })
	defer stop()
	if s.ImplicitTLS {
		conn = tls.Client(conn, s.tlsConfig())
	}
	if err := s.converse(conn, m.To, raw); err != nil {
		if cause := ended(ctx); cause != nil {
			return fmt.Errorf("mail: send to %s: %w (%w)", addr, cause, err)
		}
		return fmt.Errorf("mail: send to %s: %w", addr, err)
	}
	return nil
}

// ended is why ctx is over, if it is: the connection's deadline can pass a
// moment before ctx's own timer says so.
func ended(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if dl, ok := ctx.Deadline(); ok && !time.Now().Before(dl) {
		return context.DeadlineExceeded
	}
	return nil
}

// converse is the SMTP conversation on conn, which it closes.
func (s *SMTPSender) converse(conn net.Conn, to string, raw []byte) error {
	c, err := smtp.NewClient(conn, s.Host)
	if err != nil {
		conn.Close()
		return fmt.Errorf("greeting: %w", err)
	}
	defer c.Close()
	if s.HelloName != "" {
		if err := c.Hello(s.HelloName); err != nil {
			return fmt.Errorf("EHLO: %w", err)
		}
	}
	if !s.ImplicitTLS {
		if ok, _ := c.Extension("STARTTLS"); ok {
			if err := c.StartTLS(s.tlsConfig()); err != nil {
				return fmt.Errorf("STARTTLS: %w", err)
			}
		}
	}
	if s.Username != "" {
		if ok, _ := c.Extension("AUTH"); !ok {
			return fmt.Errorf("the server offers no AUTH, yet a username is set")
		}
		// PlainAuth refuses, before sending anything, a connection that
		// is neither TLS nor to localhost.
		if err := c.Auth(smtp.PlainAuth("", s.Username, s.Password, s.Host)); err != nil {
			return fmt.Errorf("AUTH: %w", err)
		}
	}
	if err := c.Mail(s.From.Address); err != nil {
		return fmt.Errorf("MAIL FROM: %w", err)
	}
	if err := c.Rcpt(to); err != nil {
		return fmt.Errorf("RCPT TO: %w", err)
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	// The DATA writer dot-stuffs lines that start with a dot.
	if _, err := w.Write(raw); err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	// The message is accepted once DATA's reply is 250; a failing QUIT
	// changes nothing about that.
	_ = c.Quit()
	return nil
}

func (s *SMTPSender) tlsConfig() *tls.Config {
	if s.TLSConfig == nil {
		return &tls.Config{ServerName: s.Host, MinVersion: tls.VersionTLS12}
	}
	cfg := s.TLSConfig.Clone()
	if cfg.ServerName == "" {
		cfg.ServerName = s.Host
	}
	return cfg
}

// compose writes the message: headers, then the body as quoted-printable
// UTF-8 (any byte, any line length, 7-bit on the wire). Header values are
// m's after check, which refused CR and LF, so nothing in them starts a
// header of its own.
func (s *SMTPSender) compose(m Message) []byte {
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	var b bytes.Buffer
	header := func(name, value string) { b.WriteString(name + ": " + value + "\r\n") }
	header("Date", now().Format(time.RFC1123Z))
	header("Message-ID", "<"+messageID()+"@"+domainOf(s.From.Address)+">")
	header("From", s.From.String())
	header("To", (&netmail.Address{Address: m.To}).String())
	header("Subject", encodeSubject(m.Subject))
	header("MIME-Version", "1.0")
	header("Content-Type", "text/plain; charset=utf-8")
	header("Content-Transfer-Encoding", "quoted-printable")
	b.WriteString("\r\n")
	qp := quotedprintable.NewWriter(&b)
	// Writes to a bytes.Buffer do not fail.
	_, _ = qp.Write([]byte(strings.ToValidUTF8(m.Text, "\uFFFD")))
	_ = qp.Close()
	if !bytes.HasSuffix(b.Bytes(), []byte("\r\n")) {
		b.WriteString("\r\n")
	}
	return b.Bytes()
}

// encodeSubject is RFC 2047 when the subject is not plain ASCII, its
// encoded words folded one to a line so that none grows past 78 characters.
func encodeSubject(subject string) string {
	enc := mime.QEncoding.Encode("utf-8", strings.ToValidUTF8(subject, "\uFFFD"))
	return strings.ReplaceAll(enc, "?= =?utf-8?", "?=\r\n =?utf-8?")
}

func messageID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (it crashes instead).
	return hex.EncodeToString(b)
}

func domainOf(address string) string {
	if i := strings.LastIndexByte(address, '@'); i >= 0 && i < len(address)-1 {
		return address[i+1:]
	}
	return "localhost"
}
