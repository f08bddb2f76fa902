package oidc

import (
	"context"
	"log/slog"
)

// ClientErrorsAtDebug wraps a log handler so that zitadel's op, which logs
// every OAuth error answer ("request error") at WARN (INFO for
// authorization_pending), logs those that are the client's (4xx) at DEBUG: a
// device polling every five seconds, or a wrong secret, is not an
// operator's concern. Server errors keep their level. Its line per route
// at start-up ("registered route") goes to DEBUG too: it said the same on
// every start and cluttered each CLI command's output.
func ClientErrorsAtDebug(h slog.Handler) slog.Handler { return clientErrors{h} }

type clientErrors struct{ slog.Handler }

func (c clientErrors) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == "registered route" && r.Level < slog.LevelWarn {
		r.Level = slog.LevelDebug
		if !c.Handler.Enabled(ctx, r.Level) {
			return nil
		}
	}
	if r.Message == "request error" && r.Level < slog.LevelError {
		status := int64(0)
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "status_code" {
				status = a.Value.Int64()
			}
			return true
		})
		if status >= 400 && status < 500 {
			r.Level = slog.LevelDebug
			if !c.Handler.Enabled(ctx, r.Level) {
				return nil
			}
		}
	}
	return c.Handler.Handle(ctx, r)
}

// Enabled lets WARN and INFO records through to Handle, which may lower them.
func (c clientErrors) Enabled(ctx context.Context, l slog.Level) bool {
	return c.Handler.Enabled(ctx, l)
}

func (c clientErrors) WithAttrs(attrs []slog.Attr) slog.Handler {
	return clientErrors{c.Handler.WithAttrs(attrs)}
}

func (c clientErrors) WithGroup(name string) slog.Handler {
	return clientErrors{c.Handler.WithGroup(name)}
}
