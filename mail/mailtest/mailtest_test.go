package mailtest_test

import (
	"encoding/base64"
	"net/textproto"
	"strings"
	"testing"
	"time"

	"github.com/caido-cloud/caido-cloud/mail/mailtest"
)

// dial talks to srv line by line, as a client would.
func dial(t *testing.T, srv *mailtest.Server) *textproto.Conn {
	t.Helper()
	c, err := textproto.Dial("tcp", srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	expect(t, c, 220)
	return c
}

func expect(t *testing.T, c *textproto.Conn, code int) string {
	t.Helper()
	_, msg, err := c.ReadResponse(code)
	if err != nil {
		t.Fatalf("want %d: %v", code, err)
	}
	return msg
}

func cmd(t *testing.T, c *textproto.Conn, code int, format string, args ...any) string {
	t.Helper()
	if err := c.PrintfLine(format, args...); err != nil {
		t.Fatal(err)
	}
	return expect(t, c, code)
}

func TestMailtestProtocol(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Options{})
	c := dial(t, srv)
	cmd(t, c, 503, "MAIL FROM:<a@example.test>")
	if ext := cmd(t, c, 250, "EHLO client.example.test"); !strings.Contains(ext, "8BITMIME") || strings.Contains(ext, "STARTTLS") || strings.Contains(ext, "AUTH") {
		t.Fatalf("EHLO reply %q", ext)
	}
	cmd(t, c, 503, "RCPT TO:<b@example.test>")
	cmd(t, c, 503, "DATA")
	cmd(t, c, 501, "MAIL FROM:a@example.test")
	cmd(t, c, 250, "MAIL FROM:<a@example.test> BODY=8BITMIME")
	cmd(t, c, 503, "MAIL FROM:<a@example.test>")
	cmd(t, c, 250, "RCPT TO:<b@example.test>")
	// RSET ends the transaction: DATA has no recipient any more.
	cmd(t, c, 250, "RSET")
	cmd(t, c, 503, "DATA")
	cmd(t, c, 250, "NOOP")
	cmd(t, c, 252, "VRFY b")
	cmd(t, c, 500, "WHAT")
	cmd(t, c, 250, "mail from:<a@example.test>")
	cmd(t, c, 250, "RCPT TO:<b@example.test>")
	cmd(t, c, 250, "RCPT TO:<c@example.test>")
	cmd(t, c, 354, "DATA")
	for _, line := range []string{"From: a@example.test", "Subject: dots", "", "..hidden", "..", "...", "last"} {
		if err := c.PrintfLine("%s", line); err != nil {
			t.Fatal(err)
		}
	}
	cmd(t, c, 250, ".")
	cmd(t, c, 221, "QUIT")

	got := srv.WaitFor(t, "C@example.test", time.Second)
	if got.From != "a@example.test" || strings.Join(got.To, ",") != "b@example.test,c@example.test" {
		t.Fatalf("envelope %q %v", got.From, got.To)
	}
	if got.Subject != "dots" || got.Text != ".hidden\n.\n..\nlast\n" {
		t.Fatalf("subject %q, text %q", got.Subject, got.Text)
	}
	// Returned once for each recipient: to b, it is the same message.
	if again := srv.WaitFor(t, "b@example.test", time.Second); again != got {
		t.Fatal("the message to b is not the same")
	}
}

func TestMailtestAuthPlain(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Options{Username: "u", Password: "p w"})
	c := dial(t, srv)
	if ext := cmd(t, c, 250, "EHLO client"); !strings.Contains(ext, "AUTH PLAIN") {
		t.Fatalf("EHLO reply %q", ext)
	}
	cmd(t, c, 530, "MAIL FROM:<a@example.test>")
	cmd(t, c, 504, "AUTH LOGIN")
	cmd(t, c, 535, "AUTH PLAIN %s", base64.StdEncoding.EncodeToString([]byte("\x00u\x00wrong")))
	cmd(t, c, 501, "AUTH PLAIN not-base64!")
	// Without an initial response: the server asks for it.
	cmd(t, c, 334, "AUTH PLAIN")
	cmd(t, c, 235, "%s", base64.StdEncoding.EncodeToString([]byte("\x00u\x00p w")))
	cmd(t, c, 503, "AUTH PLAIN %s", base64.StdEncoding.EncodeToString([]byte("\x00u\x00p w")))
	cmd(t, c, 250, "MAIL FROM:<a@example.test>")
}
