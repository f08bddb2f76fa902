package app_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/caido-cloud/caido-cloud/app"
	"github.com/caido-cloud/caido-cloud/internal/testenv"
)

// writeCert writes a self-signed certificate for 127.0.0.1 with the given
// serial number and its key, and returns the certificate's pool.
func writeCert(t *testing.T, certFile, keyFile string, serial int64) *x509.CertPool {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	testenv.Must(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: "caido-cloud test"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	testenv.Must(t, err)
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	testenv.Must(t, err)
	testenv.Must(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600))
	testenv.Must(t, os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644))
	cert, err := x509.ParseCertificate(der)
	testenv.Must(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return pool
}

// TestTLSVersions: serve with a certificate refuses TLS 1.0 and 1.1 and
// 1.2 without forward-secret AEAD suites, answers TLS 1.2 and 1.3, and
// sends HSTS.
func TestTLSVersions(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	pool := writeCert(t, certFile, keyFile, 1)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	testenv.Must(t, err)
	cfg := testenv.Config(t)
	cfg.TLSCertFile, cfg.TLSKeyFile = certFile, keyFile
	cfg.PublicURL = "https://" + ln.Addr().String()
	a := testenv.App(t, cfg, testenv.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	addr := ln.Addr().String()

	cbc := []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA}
	refused := []struct {
		name string
		cfg  *tls.Config
	}{
		// With the CBC suites 1.0 and 1.1 can use, so that only the
		// version floor refuses them.
		{"TLS 1.0", &tls.Config{MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS10, CipherSuites: cbc}},
		{"TLS 1.1", &tls.Config{MinVersion: tls.VersionTLS11, MaxVersion: tls.VersionTLS11, CipherSuites: cbc}},
		{"TLS 1.2 with CBC only", &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: cbc}},
	}
	for _, r := range refused {
		r.cfg.RootCAs = pool
		conn, err := tls.Dial("tcp", addr, r.cfg)
		if err == nil {
			conn.Close()
			t.Errorf("%s: handshake succeeded, want refused", r.name)
		}
	}
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: v, MaxVersion: v}}}
		resp, err := client.Get("https://" + addr + "/signin")
		if err != nil {
			t.Fatalf("%s: %v", tls.VersionName(v), err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.TLS.Version != v {
			t.Errorf("%s: status %d, version %s", tls.VersionName(v), resp.StatusCode, tls.VersionName(resp.TLS.Version))
		}
		if hsts := resp.Header.Get("Strict-Transport-Security"); hsts != "max-age=63072000; includeSubDomains" {
			t.Errorf("%s: Strict-Transport-Security %q", tls.VersionName(v), hsts)
		}
	}
	// Plain HTTP on the TLS port gets nothing useful.
	if resp, err := http.Get("http://" + addr + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Error("plain HTTP answered on the TLS listener")
		}
	}
}

// TestCertReload: a changed pair is picked up; a broken one is refused and
// the current certificate stays.
func TestCertReload(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	writeCert(t, certFile, keyFile, 1)
	r, err := app.NewCertReloader(certFile, keyFile, testenv.App(t, testenv.Config(t), testenv.Options{}).Log)
	testenv.Must(t, err)
	r.PollEvery = 20 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go r.Run(ctx)
	serial := func() int64 {
		c, err := r.GetCertificate(nil)
		testenv.Must(t, err)
		leaf, err := x509.ParseCertificate(c.Certificate[0])
		testenv.Must(t, err)
		return leaf.SerialNumber.Int64()
	}
	if s := serial(); s != 1 {
		t.Fatalf("serial %d", s)
	}
	time.Sleep(10 * time.Millisecond) // a distinct modification time
	writeCert(t, certFile, keyFile, 2)
	deadline := time.Now().Add(5 * time.Second)
	for serial() != 2 {
		if time.Now().After(deadline) {
			t.Fatal("the new certificate was not picked up within 5s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	testenv.Must(t, os.WriteFile(keyFile, []byte("not a key"), 0o600))
	time.Sleep(200 * time.Millisecond) // several polls
	if s := serial(); s != 2 {
		t.Fatalf("after a broken key the serial is %d, want the current 2", s)
	}
	if _, err := app.NewCertReloader(certFile, keyFile, nil); err == nil {
		t.Fatal("a broken pair loaded at start")
	}
}
