package httpx

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
)

// syncBuffer is a log sink the server's goroutines write to while the test
// reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// hangUp serves h on a real HTTP server, makes a request to it and hangs up
// after 100 ms, while the handler is still waiting; it returns the log once
// the access log has written its line.
func hangUp(t *testing.T, h func(*gin.Context), wrap func(slog.Handler) slog.Handler) string {
	t.Helper()
	var logs syncBuffer
	var handler slog.Handler = slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})
	if wrap != nil {
		handler = wrap(handler)
	}
	log := slog.New(handler)
	r := gin.New()
	r.Use(AccessLog(log), Recovery(log))
	r.GET("/slow", h)
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/slow", nil)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("the request was answered (%s); the handler should still be waiting when the client hangs up", resp.Status)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(logs.String(), `msg=request `) {
		if time.Now().After(deadline) {
			t.Fatalf("no access log line within 5 s; log:\n%s", logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	return logs.String()
}

// waitForDependency stands for a handler whose dependency call fails
// because the client went away (pgx and the OpenFGA SDK answer "context
// canceled"), and which maps that failure as a server error.
func waitForDependency(log func(*gin.Context, error)) func(*gin.Context) {
	return func(c *gin.Context) {
		select {
		case <-c.Request.Context().Done():
		case <-time.After(10 * time.Second):
		}
		err := c.Request.Context().Err()
		if log != nil {
			log(c, err)
		}
		_ = c.Error(err)
		Abort(c, http.StatusInternalServerError, "server_error", "an internal error occurred")
	}
}

// TestClientHangingUpIsNotAServerError: a client that hangs up mid-request
// is logged at DEBUG with status 499 (client closed request), not as an
// ERROR with status 500.
func TestClientHangingUpIsNotAServerError(t *testing.T) {
	out := hangUp(t, waitForDependency(nil), nil)
	if strings.Contains(out, "level=ERROR") {
		t.Errorf("a client hanging up is logged at ERROR:\n%s", out)
	}
	if !strings.Contains(out, "level=DEBUG msg=request method=GET route=/slow status=499 ") {
		t.Errorf("want the access log line at DEBUG with status 499:\n%s", out)
	}
}

// TestClientGoneAtDebug: what a handler logs at ERROR for a request whose
// client hung up (its dependency call failed with "context canceled") goes
// to DEBUG too; the same ERROR for a request still being served keeps its
// level, and so does one logged without a request's context.
func TestClientGoneAtDebug(t *testing.T) {
	var logged *slog.Logger
	out := hangUp(t, waitForDependency(func(c *gin.Context, err error) {
		logged.ErrorContext(c.Request.Context(), "public API", "error", err)
	}), func(h slog.Handler) slog.Handler {
		logged = slog.New(ClientGoneAtDebug(h))
		return ClientGoneAtDebug(h)
	})
	if strings.Contains(out, "level=ERROR") {
		t.Errorf("a client hanging up is logged at ERROR:\n%s", out)
	}
	if !strings.Contains(out, `level=DEBUG msg="public API" error="context canceled" client_gone=true`) {
		t.Errorf("want the handler's line at DEBUG, marked client_gone:\n%s", out)
	}

	// A request still served: its ERROR stays an ERROR.
	var buf syncBuffer
	log := slog.New(ClientGoneAtDebug(slog.NewTextHandler(&buf, nil)))
	r := gin.New()
	r.Use(AccessLog(log))
	r.GET("/", func(c *gin.Context) {
		log.ErrorContext(c.Request.Context(), "public API", "error", errors.New("the database is down"))
		Abort(c, http.StatusServiceUnavailable, "temporarily_unavailable", "retry")
	})
	rec := httptest.NewRecorder()
	r.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	log.Error("no request", "error", context.Canceled)
	if got := strings.Count(buf.String(), "level=ERROR"); got != 3 || rec.Code != http.StatusServiceUnavailable {
		t.Errorf("want three ERROR lines (the handler's, the access log's, the one without a request) and 503, got %d and %d:\n%s", got, rec.Code, buf.String())
	}
}
