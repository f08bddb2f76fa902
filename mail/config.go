package mail

import (
	"errors"
	"log/slog"
	"net"
	netmail "net/mail"
	"net/url"
	"time"

	"github.com/caido-cloud/caido-cloud/config"
)

// FromConfig is the Sender the settings ask for: an SMTPSender when
// CAIDO_CLOUD_SMTP_HOST is set, else a LogSender on log (development).
func FromConfig(cfg config.Config, log *slog.Logger, now func() time.Time) (Sender, error) {
	if cfg.SMTPHost == "" {
		return LogSender{Log: log}, nil
	}
	var problems []error
	if cfg.SMTPFrom == "" {
		problems = append(problems, errors.New("CAIDO_CLOUD_SMTP_FROM is not set: with CAIDO_CLOUD_SMTP_HOST, set the sender, e.g. caido-cloud <noreply@example.com>"))
	}
	if cfg.SMTPPassword != "" && cfg.SMTPUsername == "" {
		problems = append(problems, errors.New("CAIDO_CLOUD_SMTP_PASSWORD is set without CAIDO_CLOUD_SMTP_USERNAME: set the user name too"))
	}
	if err := errors.Join(problems...); err != nil {
		return nil, err
	}
	from, err := netmail.ParseAddress(cfg.SMTPFrom)
	if err != nil { // config.Load checked it already
		return nil, errors.New("CAIDO_CLOUD_SMTP_FROM: want an address, e.g. noreply@example.com")
	}
	port := cfg.SMTPPort
	if port == 0 {
		port = 587
	}
	return &SMTPSender{
		Host: cfg.SMTPHost, Port: port, Username: cfg.SMTPUsername, Password: cfg.SMTPPassword,
		From: *from, ImplicitTLS: port == 465, HelloName: helloName(cfg.PublicURL), Now: now,
	}, nil
}

// helloName is the public URL's host name, which names this service better
// than net/smtp's "localhost" does; an address or no URL keeps "localhost".
func helloName(publicURL string) string {
	u, err := url.Parse(publicURL)
	if err != nil || u.Hostname() == "" || net.ParseIP(u.Hostname()) != nil {
		return ""
	}
	return u.Hostname()
}
