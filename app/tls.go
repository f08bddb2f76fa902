package app

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"
)

// TLSConfig is what serve offers when it terminates TLS: TLS 1.2 and 1.3
// only, and under 1.2 only forward-secret AEAD suites (1.3's are all
// fine and not configurable). The certificate comes from certs at each
// handshake, so a reloaded one is used at once.
func TLSConfig(certs *CertReloader) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		CipherSuites: []uint16{
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
			tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
		},
		GetCertificate: certs.GetCertificate,
	}
}

// CertReloader holds the certificate serve presents and replaces it when
// the files change (checked every PollEvery) or on SIGHUP. A pair that does
// not load (a half-written file, a key of another certificate) is logged
// and the current certificate kept, so a botched renewal never takes the
// service down.
type CertReloader struct {
	certFile, keyFile string
	log               *slog.Logger
	// PollEvery is how often the files' modification times are compared.
	PollEvery time.Duration

	mu      sync.RWMutex
	cert    *tls.Certificate
	stamped string // modification times of the loaded pair
}

// NewCertReloader loads the pair once; it fails when they do not load.
func NewCertReloader(certFile, keyFile string, log *slog.Logger) (*CertReloader, error) {
	r := &CertReloader{certFile: certFile, keyFile: keyFile, log: log, PollEvery: 10 * time.Second}
	if err := r.Reload(); err != nil {
		return nil, err
	}
	return r, nil
}

// GetCertificate is tls.Config.GetCertificate.
func (r *CertReloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.cert, nil
}

// Reload reads the pair now.
func (r *CertReloader) Reload() error {
	stamp := r.stamp()
	cert, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		return fmt.Errorf("TLS certificate %s with key %s: %w", r.certFile, r.keyFile, err)
	}
	r.mu.Lock()
	r.cert, r.stamped = &cert, stamp
	r.mu.Unlock()
	return nil
}

func (r *CertReloader) stamp() string {
	var s string
	for _, f := range []string{r.certFile, r.keyFile} {
		if fi, err := os.Stat(f); err == nil {
			s += fi.ModTime().String() + "/" + fmt.Sprint(fi.Size()) + ";"
		}
	}
	return s
}

// Run reloads on SIGHUP and on change until ctx ends.
func (r *CertReloader) Run(ctx context.Context) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	tick := time.NewTicker(r.PollEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			r.reloadLogged("SIGHUP")
		case <-tick.C:
			r.mu.RLock()
			changed := r.stamp() != r.stamped
			r.mu.RUnlock()
			if changed {
				r.reloadLogged("files changed")
			}
		}
	}
}

func (r *CertReloader) reloadLogged(why string) {
	if err := r.Reload(); err != nil {
		r.log.Error("TLS certificate not reloaded; the current one stays", "reason", why, "error", err)
		return
	}
	r.log.Info("TLS certificate reloaded", "reason", why)
}
