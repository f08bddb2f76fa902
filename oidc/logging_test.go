package oidc_test

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/caido-cloud/caido-cloud/oidc"
)

// TestClientErrorsAtDebug: the op's client errors and route lines are
// lowered to DEBUG; server errors and everything else keep their level.
func TestClientErrorsAtDebug(t *testing.T) {
	for _, tc := range []struct {
		level   slog.Level
		msg     string
		attrs   []any
		visible bool // at INFO
	}{
		{slog.LevelWarn, "request error", []any{"status_code", 400}, false},
		{slog.LevelInfo, "request error", []any{"status_code", 400}, false},
		{slog.LevelWarn, "request error", []any{"status_code", 500}, true},
		{slog.LevelError, "request error", []any{"status_code", 400}, true},
		{slog.LevelInfo, "registered route", []any{"endpoint", "/oauth2/token"}, false},
		{slog.LevelWarn, "registered route", nil, true},
		{slog.LevelInfo, "something else", nil, true},
	} {
		var out bytes.Buffer
		log := slog.New(oidc.ClientErrorsAtDebug(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelInfo})))
		log.Log(t.Context(), tc.level, tc.msg, tc.attrs...)
		if got := strings.Contains(out.String(), tc.msg); got != tc.visible {
			t.Errorf("%s %q %v: logged %v, want %v", tc.level, tc.msg, tc.attrs, got, tc.visible)
		}
	}
}
