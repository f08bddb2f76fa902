// Package mailtest is a real SMTP server for tests: it listens on a loopback
// port of the test process, speaks the part of RFC 5321 a submission client
// needs (EHLO/HELO, STARTTLS, AUTH PLAIN, MAIL, RCPT, DATA with dot-unstuffing,
// RSET, NOOP, QUIT) and keeps every message it accepts, parsed with net/mail.
// It delivers nothing onwards: what arrives is what a mail server would
// have been handed, on the wire.
package mailtest

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math/big"
	"mime"
	"mime/quotedprintable"
	"net"
	netmail "net/mail"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Options shape a Server; the zero value accepts mail from anyone in clear.
type Options struct {
	// Username and Password, when Username is set, are required: MAIL is
	// refused (530) until AUTH PLAIN has given them.
	Username, Password string
	// STARTTLS is offered with a certificate for 127.0.0.1 made for this
	// server; ClientTLS trusts it.
	STARTTLS bool
	// ImplicitTLS speaks TLS from the first byte (SMTPS), same certificate.
	ImplicitTLS bool
}

// Received is one message the server accepted.
type Received struct {
	// From and To are the envelope (MAIL FROM, RCPT TO).
	From string
	To   []string
	// TLS is whether the message came over TLS; User whom AUTH named.
	TLS  bool
	User string
	// Raw is the message as sent, dot-unstuffed, CRLF line ends.
	Raw    []byte
	Header netmail.Header
	// Subject is the Subject header, RFC 2047 decoded.
	Subject string
	// Text is the body decoded from its transfer encoding, \n line ends.
	Text string
}

// Server is a running SMTP server; Start's test closes it when it ends.
type Server struct {
	// Host and Port are where it listens: 127.0.0.1 and a free port.
	Host string
	Port int

	opts  Options
	ln    net.Listener
	tls   *tls.Config
	roots *x509.CertPool

	mu      sync.Mutex
	got     []*Received
	taken   []map[string]bool // per message, the recipients WaitFor returned it to
	arrived chan struct{}     // closed and replaced at each arrival
	conns   map[net.Conn]bool
	closed  bool
	wg      sync.WaitGroup
}

// maxSize bounds one message; more is refused with 552.
const maxSize = 10 << 20

// idle is how long a client may stay silent before the server hangs up.
const idle = time.Minute

// Start listens on 127.0.0.1:0 and serves until the test ends.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	s := &Server{Host: "127.0.0.1", opts: opts, arrived: make(chan struct{}), conns: map[net.Conn]bool{}}
	if opts.STARTTLS || opts.ImplicitTLS {
		if err := s.newCertificate(); err != nil {
			t.Fatalf("mailtest: certificate: %v", err)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("mailtest: listen: %v", err)
	}
	if opts.ImplicitTLS {
		ln = tls.NewListener(ln, s.tls)
	}
	s.ln = ln
	s.Port = ln.Addr().(*net.TCPAddr).Port
	s.wg.Go(s.accept)
	t.Cleanup(s.Close)
	return s
}

// Addr is host:port.
func (s *Server) Addr() string { return net.JoinHostPort(s.Host, strconv.Itoa(s.Port)) }

// ClientTLS is a client configuration that trusts this server's
// certificate (nil when it has none).
func (s *Server) ClientTLS() *tls.Config {
	if s.roots == nil {
		return nil
	}
	return &tls.Config{RootCAs: s.roots, MinVersion: tls.VersionTLS12}
}

// Close stops listening, hangs up on every client and waits for them.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	s.ln.Close()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// Messages is every message accepted so far, oldest first.
func (s *Server) Messages() []*Received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*Received(nil), s.got...)
}

// WaitFor returns the oldest message to the address to (compared
// case-insensitively) that WaitFor has not returned for that address
// before, waiting up to timeout for it to arrive; the test fails when none
// does. A message to several recipients is returned once for each.
func (s *Server) WaitFor(t testing.TB, to string, timeout time.Duration) *Received {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		for i, r := range s.got {
			if s.taken[i][strings.ToLower(to)] {
				continue
			}
			for _, rcpt := range r.To {
				if strings.EqualFold(rcpt, to) {
					s.taken[i][strings.ToLower(to)] = true
					s.mu.Unlock()
					return r
				}
			}
		}
		arrived := s.arrived
		var seen []string
		for _, r := range s.got {
			seen = append(seen, fmt.Sprintf("%v %q", r.To, r.Subject))
		}
		s.mu.Unlock()
		select {
		case <-arrived:
		case <-deadline.C:
			t.Fatalf("mailtest: no new mail to %s within %v; received: %v", to, timeout, seen)
			return nil
		}
	}
}

func (s *Server) accept() {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return // closed
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.conns[c] = true
		s.mu.Unlock()
		s.wg.Go(func() {
			defer func() {
				s.mu.Lock()
				delete(s.conns, c)
				s.mu.Unlock()
				c.Close()
			}()
			ss := &session{s: s, conn: c, tls: s.opts.ImplicitTLS}
			ss.setConn(c)
			ss.serve()
		})
	}
}

func (s *Server) deliver(r *Received) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.got = append(s.got, r)
	s.taken = append(s.taken, map[string]bool{})
	close(s.arrived)
	s.arrived = make(chan struct{})
}

// session is one client's conversation.
type session struct {
	s    *Server
	conn net.Conn
	r    *bufio.Reader
	w    *bufio.Writer
	tls  bool
	helo bool
	user string
	// The mail transaction under way: MAIL gave from, RCPT each of to.
	inMail bool
	from   string
	to     []string
}

func (ss *session) setConn(c net.Conn) {
	ss.conn = c
	ss.r = bufio.NewReader(c)
	ss.w = bufio.NewWriter(c)
}

func (ss *session) reset() { ss.inMail, ss.from, ss.to = false, "", nil }

// reply writes a reply; several texts make a multi-line reply.
func (ss *session) reply(code int, texts ...string) error {
	for i, text := range texts {
		sep := "-"
		if i == len(texts)-1 {
			sep = " "
		}
		fmt.Fprintf(ss.w, "%d%s%s\r\n", code, sep, text)
	}
	return ss.w.Flush()
}

// maxLine bounds a command line; RFC 5321 asks for 512 and text lines of
// 1000 octets.
const maxLine = 4096

var errLineTooLong = errors.New("line too long")

// readLine reads one line without its CRLF (a bare LF is taken too).
func (ss *session) readLine() (string, error) {
	_ = ss.conn.SetReadDeadline(time.Now().Add(idle))
	var b []byte
	for {
		chunk, err := ss.r.ReadSlice('\n')
		b = append(b, chunk...)
		if len(b) > maxLine {
			return "", errLineTooLong
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			return "", err
		}
		return strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r"), nil
	}
}

func (ss *session) serve() {
	if ss.reply(220, "mailtest ESMTP ready") != nil {
		return
	}
	for {
		line, err := ss.readLine()
		if errors.Is(err, errLineTooLong) {
			_ = ss.reply(500, "5.5.2 Line too long")
			return
		}
		if err != nil {
			return
		}
		verb, arg, _ := strings.Cut(line, " ")
		verb = strings.ToUpper(verb)
		arg = strings.TrimSpace(arg)
		var done bool
		switch verb {
		case "EHLO", "HELO":
			err = ss.hello(verb, arg)
		case "STARTTLS":
			err = ss.startTLS(arg)
		case "AUTH":
			err = ss.auth(arg)
		case "MAIL":
			err = ss.mail(arg)
		case "RCPT":
			err = ss.rcpt(arg)
		case "DATA":
			err = ss.data(arg)
		case "RSET":
			ss.reset()
			err = ss.reply(250, "2.0.0 OK")
		case "NOOP":
			err = ss.reply(250, "2.0.0 OK")
		case "VRFY":
			err = ss.reply(252, "2.5.2 Cannot VRFY user, but will accept the message")
		case "QUIT":
			_ = ss.reply(221, "2.0.0 Bye")
			done = true
		default:
			err = ss.reply(500, "5.5.2 Command not recognized")
		}
		if err != nil || done {
			return
		}
	}
}

func (ss *session) hello(verb, domain string) error {
	if domain == "" {
		return ss.reply(501, "5.5.4 "+verb+" needs a domain")
	}
	ss.reset()
	ss.helo = true
	if verb == "HELO" {
		return ss.reply(250, "mailtest")
	}
	lines := []string{"mailtest greets " + domain, "8BITMIME", "SIZE " + strconv.Itoa(maxSize)}
	if ss.s.opts.STARTTLS && !ss.tls {
		lines = append(lines, "STARTTLS")
	}
	if ss.s.opts.Username != "" {
		lines = append(lines, "AUTH PLAIN")
	}
	return ss.reply(250, lines...)
}

func (ss *session) startTLS(arg string) error {
	switch {
	case !ss.s.opts.STARTTLS || ss.tls:
		return ss.reply(502, "5.5.1 STARTTLS not available")
	case arg != "":
		return ss.reply(501, "5.5.4 STARTTLS takes no argument")
	}
	if err := ss.reply(220, "2.0.0 Ready to start TLS"); err != nil {
		return err
	}
	tc := tls.Server(ss.conn, ss.s.tls)
	_ = tc.SetDeadline(time.Now().Add(idle))
	if err := tc.Handshake(); err != nil {
		return err
	}
	_ = tc.SetDeadline(time.Time{})
	// RFC 3207: the client starts over, knowing nothing from before.
	ss.setConn(tc)
	ss.tls, ss.helo, ss.user = true, false, ""
	ss.reset()
	return nil
}

func (ss *session) auth(arg string) error {
	mech, initial, _ := strings.Cut(arg, " ")
	switch {
	case ss.s.opts.Username == "":
		return ss.reply(502, "5.5.1 AUTH not available")
	case !ss.helo:
		return ss.reply(503, "5.5.1 Send EHLO first")
	case ss.user != "":
		return ss.reply(503, "5.5.1 Already authenticated")
	case ss.inMail:
		return ss.reply(503, "5.5.1 AUTH not allowed during a mail transaction")
	case !strings.EqualFold(mech, "PLAIN"):
		return ss.reply(504, "5.5.4 Unrecognized authentication type")
	}
	if initial == "" {
		if err := ss.reply(334, ""); err != nil {
			return err
		}
		line, err := ss.readLine()
		if err != nil {
			return err
		}
		initial = line
	}
	if initial == "*" {
		return ss.reply(501, "5.0.0 Authentication cancelled")
	}
	raw, err := base64.StdEncoding.DecodeString(initial)
	if err != nil {
		return ss.reply(501, "5.5.2 Cannot decode the response")
	}
	// authorization identity NUL authentication identity NUL password
	parts := strings.Split(string(raw), "\x00")
	if len(parts) != 3 || parts[0] != "" && parts[0] != parts[1] {
		return ss.reply(535, "5.7.8 Authentication credentials invalid")
	}
	userOK := subtle.ConstantTimeCompare([]byte(parts[1]), []byte(ss.s.opts.Username)) == 1
	passOK := subtle.ConstantTimeCompare([]byte(parts[2]), []byte(ss.s.opts.Password)) == 1
	if !userOK || !passOK {
		return ss.reply(535, "5.7.8 Authentication credentials invalid")
	}
	ss.user = parts[1]
	return ss.reply(235, "2.7.0 Authentication successful")
}

// path reads "<address>" after a prefix such as "FROM:", ignoring the
// parameters (BODY=8BITMIME, SIZE=…) that may follow.
func path(arg, prefix string) (string, bool) {
	if len(arg) < len(prefix) || !strings.EqualFold(arg[:len(prefix)], prefix) {
		return "", false
	}
	rest := strings.TrimSpace(arg[len(prefix):])
	if !strings.HasPrefix(rest, "<") {
		return "", false
	}
	end := strings.IndexByte(rest, '>')
	if end < 0 {
		return "", false
	}
	return rest[1:end], true
}

func (ss *session) mail(arg string) error {
	switch {
	case !ss.helo:
		return ss.reply(503, "5.5.1 Send EHLO first")
	case ss.s.opts.Username != "" && ss.user == "":
		return ss.reply(530, "5.7.0 Authentication required")
	case ss.inMail:
		return ss.reply(503, "5.5.1 Nested MAIL command")
	}
	from, ok := path(arg, "FROM:")
	if !ok {
		return ss.reply(501, "5.5.4 Syntax: MAIL FROM:<address>")
	}
	ss.inMail, ss.from = true, from
	return ss.reply(250, "2.1.0 OK")
}

func (ss *session) rcpt(arg string) error {
	if !ss.inMail {
		return ss.reply(503, "5.5.1 Need MAIL before RCPT")
	}
	to, ok := path(arg, "TO:")
	if !ok || to == "" {
		return ss.reply(501, "5.5.4 Syntax: RCPT TO:<address>")
	}
	if len(ss.to) >= 100 {
		return ss.reply(452, "4.5.3 Too many recipients")
	}
	ss.to = append(ss.to, to)
	return ss.reply(250, "2.1.5 OK")
}

func (ss *session) data(arg string) error {
	switch {
	case arg != "":
		return ss.reply(501, "5.5.4 DATA takes no argument")
	case !ss.inMail || len(ss.to) == 0:
		return ss.reply(503, "5.5.1 Need RCPT before DATA")
	}
	if err := ss.reply(354, "Start mail input; end with <CRLF>.<CRLF>"); err != nil {
		return err
	}
	var raw bytes.Buffer
	tooBig := false
	for {
		line, err := ss.readLine()
		if err != nil {
			return err
		}
		if line == "." {
			break
		}
		// RFC 5321 4.5.2: the client doubled every leading dot.
		line = strings.TrimPrefix(line, ".")
		if raw.Len()+len(line)+2 > maxSize {
			tooBig = true
			continue
		}
		raw.WriteString(line)
		raw.WriteString("\r\n")
	}
	from, to := ss.from, ss.to
	ss.reset()
	if tooBig {
		return ss.reply(552, "5.3.4 Message too big")
	}
	r, err := parse(raw.Bytes())
	if err != nil {
		return ss.reply(554, "5.6.0 Cannot parse the message: "+err.Error())
	}
	r.From, r.To, r.TLS, r.User = from, to, ss.tls, ss.user
	ss.s.deliver(r)
	return ss.reply(250, "2.0.0 OK queued")
}

// parse reads a message with net/mail and decodes its subject and body.
func parse(raw []byte) (*Received, error) {
	m, err := netmail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
	if err != nil {
		return nil, fmt.Errorf("subject: %w", err)
	}
	var body io.Reader = m.Body
	switch strings.ToLower(m.Header.Get("Content-Transfer-Encoding")) {
	case "quoted-printable":
		body = quotedprintable.NewReader(body)
	case "base64":
		body = base64.NewDecoder(base64.StdEncoding, &noSpace{body})
	}
	text, err := io.ReadAll(body)
	if err != nil {
		return nil, fmt.Errorf("body: %w", err)
	}
	return &Received{
		Raw: raw, Header: m.Header, Subject: subject,
		Text: strings.ReplaceAll(string(text), "\r\n", "\n"),
	}, nil
}

// noSpace drops the line breaks base64 bodies are wrapped with.
type noSpace struct{ r io.Reader }

func (n *noSpace) Read(p []byte) (int, error) {
	k, err := n.r.Read(p)
	out := p[:0]
	for _, c := range p[:k] {
		if c != '\r' && c != '\n' && c != ' ' && c != '\t' {
			out = append(out, c)
		}
	}
	return len(out), err
}

// newCertificate makes a self-signed certificate for 127.0.0.1 and
// localhost, valid for a day: the server's, and the root ClientTLS trusts.
func (s *Server) newCertificate() error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "mailtest"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return err
	}
	s.roots = x509.NewCertPool()
	s.roots.AddCert(cert)
	s.tls = &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}},
		MinVersion:   tls.VersionTLS12,
	}
	return nil
}
