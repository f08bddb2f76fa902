package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/caido-cloud/caido-cloud/internal/testenv"
)

func writeTestCert(t *testing.T, certFile, keyFile string, serial int64) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	testenv.Must(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "caido-cloud test"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:   time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	testenv.Must(t, err)
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	testenv.Must(t, err)
	// Written to temporary names and renamed, as certificate tools do, so
	// that the server never reads half a pair.
	testenv.Must(t, os.WriteFile(keyFile+".new", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600))
	testenv.Must(t, os.WriteFile(certFile+".new", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644))
	testenv.Must(t, os.Rename(keyFile+".new", keyFile))
	testenv.Must(t, os.Rename(certFile+".new", certFile))
}

// servedSerial is the serial number of the certificate the server presents.
func servedSerial(addr string) (int64, error) {
	conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true}) // the test's own self-signed certificate
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].SerialNumber.Int64(), nil
}

// TestServeReloadsCertificateOnSIGHUP runs `serve` with TLS, replaces its
// certificate and sends SIGHUP: new connections get the new certificate,
// and the process keeps running.
func TestServeReloadsCertificateOnSIGHUP(t *testing.T) {
	cfg := testenv.Config(t)
	testenv.App(t, cfg, testenv.Options{}) // migrates, creates the OpenFGA store
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	writeTestCert(t, certFile, keyFile, 1)
	addr := "127.0.0.1:" + strconv.Itoa(freePort(t))
	cmd := exec.Command(bin, "serve")
	cmd.Env = append(environ("DATABASE_URL", "OPENFGA_API_URL", "OPENFGA_API_TOKEN"),
		"DATABASE_URL="+cfg.DatabaseURL,
		"OPENFGA_API_URL="+cfg.OpenFGAURL,
		"OPENFGA_API_TOKEN="+cfg.OpenFGAToken,
		"CAIDO_CLOUD_MASTER_KEY="+base64.StdEncoding.EncodeToString(cfg.MasterKey),
		"CAIDO_CLOUD_LISTEN_ADDR="+addr,
		"CAIDO_CLOUD_ADMIN_LISTEN_ADDR=none",
		"CAIDO_CLOUD_TLS_CERT_FILE="+certFile,
		"CAIDO_CLOUD_TLS_KEY_FILE="+keyFile,
	)
	var out testenv.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	testenv.Must(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("serve after SIGTERM: %v\n%s", err, out.String())
			}
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			t.Errorf("serve did not stop within 30s of SIGTERM")
		}
	})
	waitSerial := func(want int64, within time.Duration) {
		t.Helper()
		deadline := time.Now().Add(within)
		for {
			got, err := servedSerial(addr)
			if err == nil && got == want {
				return
			}
			select {
			case err := <-exited:
				t.Fatalf("serve exited: %v\n%s", err, out.String())
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("serial %d (%v), want %d within %s\n%s", got, err, want, within, out.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitSerial(1, 60*time.Second)
	writeTestCert(t, certFile, keyFile, 2)
	testenv.Must(t, cmd.Process.Signal(syscall.SIGHUP))
	// Well under the 10 s poll: this is the signal's doing.
	waitSerial(2, 3*time.Second)
}
