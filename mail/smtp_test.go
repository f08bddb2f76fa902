package mail_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	netmail "net/mail"
	"strings"
	"testing"
	"time"

	"github.com/caido-cloud/caido-cloud/config"
	"github.com/caido-cloud/caido-cloud/mail"
	"github.com/caido-cloud/caido-cloud/mail/mailtest"
)

var from = netmail.Address{Name: "caido-cloud", Address: "noreply@cloud.example.test"}

func sender(srv *mailtest.Server) *mail.SMTPSender {
	return &mail.SMTPSender{Host: srv.Host, Port: srv.Port, From: from, Timeout: 10 * time.Second}
}

// A body that exercises the encoding: non-ASCII, a line longer than 76
// characters, lines that start with a dot (dot-stuffing) or are one dot
// alone (which would end DATA early), and trailing spaces.
const body = "Grüße, Anne!\n.\n..two dots\n.leading dot\n" +
	"a long line: " + "0123456789" + "0123456789" + "0123456789" + "0123456789" + "0123456789" + "0123456789" + "0123456789" + "0123456789" + "\n" +
	"trailing spaces   \nlast line"

func TestSMTPSenderDelivers(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Options{})
	s := sender(srv)
	date := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	s.Now = func() time.Time { return date }
	s.HelloName = "cloud.example.test"
	if err := s.Send(context.Background(), mail.Message{To: "anne@example.test", Subject: "Vérifiez votre adresse — a long subject that needs more than one encoded word to carry it all", Text: body}); err != nil {
		t.Fatal(err)
	}
	got := srv.WaitFor(t, "anne@example.test", 5*time.Second)
	if got.From != "noreply@cloud.example.test" || len(got.To) != 1 || got.To[0] != "anne@example.test" {
		t.Fatalf("envelope from %q to %v", got.From, got.To)
	}
	if got.TLS || got.User != "" {
		t.Fatalf("TLS %v, user %q: want neither", got.TLS, got.User)
	}
	if got.Text != body+"\n" && got.Text != body {
		t.Fatalf("text:\n%q\nwant\n%q", got.Text, body)
	}
	if got.Subject != "Vérifiez votre adresse — a long subject that needs more than one encoded word to carry it all" {
		t.Fatalf("subject %q", got.Subject)
	}
	h := got.Header
	if d, err := h.Date(); err != nil || !d.Equal(date) {
		t.Errorf("Date %q: %v", h.Get("Date"), err)
	}
	if id := h.Get("Message-ID"); !strings.HasPrefix(id, "<") || !strings.HasSuffix(id, "@cloud.example.test>") || len(id) < 40 {
		t.Errorf("Message-ID %q", id)
	}
	if f, err := netmail.ParseAddress(h.Get("From")); err != nil || *f != from {
		t.Errorf("From %q: %v", h.Get("From"), err)
	}
	if to, err := h.AddressList("To"); err != nil || len(to) != 1 || to[0].Address != "anne@example.test" {
		t.Errorf("To %q: %v", h.Get("To"), err)
	}
	for name, want := range map[string]string{
		"MIME-Version": "1.0", "Content-Type": "text/plain; charset=utf-8", "Content-Transfer-Encoding": "quoted-printable",
	} {
		if h.Get(name) != want {
			t.Errorf("%s = %q, want %q", name, h.Get(name), want)
		}
	}
	// RFC 5322 bounds lines at 998 characters; quoted-printable keeps the
	// body's at 76.
	head, text, _ := strings.Cut(string(got.Raw), "\r\n\r\n")
	for i, line := range strings.Split(head+"\r\n"+text, "\r\n") {
		if len(line) > 998 || i > strings.Count(head, "\r\n") && len(line) > 76 {
			t.Errorf("line %d is %d characters long: %q", i, len(line), line)
		}
		for _, c := range []byte(line) {
			if c >= 0x80 {
				t.Fatalf("line %d carries 8-bit data: %q", i, line)
			}
		}
	}
}

func TestSMTPSenderAuthOverSTARTTLS(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Options{STARTTLS: true, Username: "cloud", Password: "s3cret pass"})
	s := sender(srv)
	s.Username, s.Password, s.TLSConfig = "cloud", "s3cret pass", srv.ClientTLS()
	if err := s.Send(context.Background(), mail.Message{To: "anne@example.test", Subject: "Hello", Text: "over TLS"}); err != nil {
		t.Fatal(err)
	}
	got := srv.WaitFor(t, "anne@example.test", 5*time.Second)
	if !got.TLS || got.User != "cloud" || got.Text != "over TLS\n" && got.Text != "over TLS" {
		t.Fatalf("TLS %v, user %q, text %q", got.TLS, got.User, got.Text)
	}

	// A wrong password is the server's 535, and nothing is delivered.
	s.Password = "wrong"
	err := s.Send(context.Background(), mail.Message{To: "anne@example.test", Subject: "Hello", Text: "again"})
	if err == nil || !strings.Contains(err.Error(), "535") || strings.Contains(err.Error(), "wrong") {
		t.Fatalf("wrong password: %v", err)
	}
	// A certificate the sender does not trust ends the conversation before
	// any credential is sent.
	s.Password, s.TLSConfig = "s3cret pass", nil
	if err := s.Send(context.Background(), mail.Message{To: "anne@example.test", Subject: "Hello", Text: "again"}); err == nil || !strings.Contains(err.Error(), "STARTTLS") {
		t.Fatalf("untrusted certificate: %v", err)
	}
	if n := len(srv.Messages()); n != 1 {
		t.Fatalf("%d messages delivered, want 1", n)
	}
}

func TestSMTPSenderImplicitTLS(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Options{ImplicitTLS: true, Username: "cloud", Password: "pw"})
	s := sender(srv)
	s.Username, s.Password, s.TLSConfig, s.ImplicitTLS = "cloud", "pw", srv.ClientTLS(), true
	if err := s.Send(context.Background(), mail.Message{To: "anne@example.test", Subject: "Hi", Text: "smtps"}); err != nil {
		t.Fatal(err)
	}
	if got := srv.WaitFor(t, "anne@example.test", 5*time.Second); !got.TLS || got.User != "cloud" {
		t.Fatalf("TLS %v, user %q", got.TLS, got.User)
	}
}

// To localhost, net/smtp sends AUTH PLAIN without TLS; the server then
// requires it before MAIL.
func TestSMTPSenderAuthToLocalhost(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Options{Username: "cloud", Password: "pw"})
	s := sender(srv)
	if err := s.Send(context.Background(), mail.Message{To: "anne@example.test", Subject: "Hi", Text: "x"}); err == nil || !strings.Contains(err.Error(), "530") {
		t.Fatalf("without credentials: %v", err)
	}
	s.Username, s.Password = "cloud", "pw"
	if err := s.Send(context.Background(), mail.Message{To: "anne@example.test", Subject: "Hi", Text: "x"}); err != nil {
		t.Fatal(err)
	}
	if got := srv.WaitFor(t, "anne@example.test", 5*time.Second); got.TLS || got.User != "cloud" {
		t.Fatalf("TLS %v, user %q", got.TLS, got.User)
	}
}

func TestSMTPSenderRefusesHeaderInjection(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Options{})
	for _, m := range []mail.Message{
		{To: "anne@example.test\r\nBcc: eve@example.test", Subject: "Hi", Text: "x"},
		{To: "anne@example.test", Subject: "Hi\r\nBcc: eve@example.test", Text: "x"},
		{To: "anne@example.test", Subject: "Hi\nBcc: eve@example.test", Text: "x"},
		{To: "anne@example.test", Subject: "Hi\rBcc: eve@example.test", Text: "x"},
		{To: "anne@example.test, eve@example.test", Subject: "Hi", Text: "x"},
		{To: "Anne <anne@example.test>", Subject: "Hi", Text: "x"},
		{To: "not an address", Subject: "Hi", Text: "x"},
	} {
		for _, s := range []mail.Sender{sender(srv), mail.LogSender{Log: slog.New(slog.DiscardHandler)}} {
			if err := s.Send(context.Background(), m); !errors.Is(err, mail.ErrBadMessage) {
				t.Errorf("%T %q / %q: %v, want ErrBadMessage", s, m.To, m.Subject, err)
			}
		}
	}
	// A body may hold anything: it cannot reach the headers.
	s := sender(srv)
	testBody := "first\r\nBcc: eve@example.test\r\n\r\nsecond"
	if err := s.Send(context.Background(), mail.Message{To: "anne@example.test", Subject: "Hi", Text: testBody}); err != nil {
		t.Fatal(err)
	}
	got := srv.WaitFor(t, "anne@example.test", 5*time.Second)
	if got.Header.Get("Bcc") != "" || len(got.To) != 1 {
		t.Fatalf("the body added headers: %v, to %v", got.Header, got.To)
	}
	if n := len(srv.Messages()); n != 1 {
		t.Fatalf("%d messages delivered, want only the last one", n)
	}
}

// A server that accepts the connection and never greets does not hold a
// Send past its context.
func TestSMTPSenderTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	s := &mail.SMTPSender{Host: "127.0.0.1", Port: ln.Addr().(*net.TCPAddr).Port, From: from}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = s.Send(ctx, mail.Message{To: "anne@example.test", Subject: "Hi", Text: "x"})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want a deadline", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("Send took %v", d)
	}
	// Its own Timeout bounds it too, with no deadline on the context.
	s.Timeout = 300 * time.Millisecond
	start = time.Now()
	if err := s.Send(context.Background(), mail.Message{To: "anne@example.test", Subject: "Hi", Text: "x"}); err == nil || time.Since(start) > 3*time.Second {
		t.Fatalf("err = %v after %v", err, time.Since(start))
	}
}

func TestLogSender(t *testing.T) {
	var buf bytes.Buffer
	s := mail.LogSender{Log: slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))}
	if err := s.Send(context.Background(), mail.Message{To: "anne@example.test", Subject: "Verify", Text: "Open http://127.0.0.1:8080/verify-email?token=abc"}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"level=INFO", "to=anne@example.test", "subject=Verify", "verify-email?token=abc"} {
		if !strings.Contains(buf.String(), want) {
			t.Fatalf("log lacks %q:\n%s", want, buf.String())
		}
	}
}

func TestMailFromConfig(t *testing.T) {
	load := func(env map[string]string) config.Config {
		t.Helper()
		env["DATABASE_URL"] = "postgres://unused" // keeps config.Load off any local.env
		cfg, err := config.Load(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	log := slog.New(slog.DiscardHandler)
	if s, err := mail.FromConfig(load(map[string]string{}), log, nil); err != nil {
		t.Fatal(err)
	} else if _, ok := s.(mail.LogSender); !ok {
		t.Fatalf("no SMTP host: %T, want the LogSender", s)
	}
	if _, err := mail.FromConfig(load(map[string]string{"CAIDO_CLOUD_SMTP_HOST": "smtp.example.test"}), log, nil); err == nil || !strings.Contains(err.Error(), "CAIDO_CLOUD_SMTP_FROM") {
		t.Fatalf("no sender: %v", err)
	}
	s, err := mail.FromConfig(load(map[string]string{
		"CAIDO_CLOUD_SMTP_HOST": "smtp.example.test", "CAIDO_CLOUD_SMTP_PORT": "465",
		"CAIDO_CLOUD_SMTP_FROM": "caido-cloud <noreply@example.test>", "CAIDO_CLOUD_SMTP_USERNAME": "u",
		"CAIDO_CLOUD_SMTP_PASSWORD": "p", "CAIDO_CLOUD_PUBLIC_URL": "https://cloud.example.test",
	}), log, nil)
	if err != nil {
		t.Fatal(err)
	}
	smtp := s.(*mail.SMTPSender)
	if smtp.Host != "smtp.example.test" || smtp.Port != 465 || !smtp.ImplicitTLS || smtp.From.Address != "noreply@example.test" ||
		smtp.Username != "u" || smtp.Password != "p" || smtp.HelloName != "cloud.example.test" {
		t.Fatalf("sender = %+v", smtp)
	}
	for env, v := range map[string]string{
		"CAIDO_CLOUD_SMTP_HOST": "smtp.example.test:587", "CAIDO_CLOUD_SMTP_PORT": "0", "CAIDO_CLOUD_SMTP_FROM": "not an address",
	} {
		_, err := config.Load(func(k string) (string, bool) {
			if k == env {
				return v, true
			}
			return "", k == "DATABASE_URL"
		})
		if err == nil || !strings.Contains(err.Error(), env) {
			t.Errorf("%s=%q: %v", env, v, err)
		}
	}
}
