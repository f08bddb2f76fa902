package app_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/caido-cloud/caido-cloud/app"
	"github.com/caido-cloud/caido-cloud/internal/testenv"
)

// do sends one request straight to the app's handler.
func do(t *testing.T, a *app.App, method, path string) *httptest.ResponseRecorder {
	t.Helper()
	w := httptest.NewRecorder()
	a.Handler.ServeHTTP(w, httptest.NewRequest(method, path, nil))
	return w
}

func decode(t *testing.T, w *httptest.ResponseRecorder, v any) {
	t.Helper()
	if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type = %q, want application/json; body: %s", ct, w.Body)
	}
	if err := json.Unmarshal(w.Body.Bytes(), v); err != nil {
		t.Fatalf("body is not the expected JSON: %v; body: %s", err, w.Body)
	}
}

func TestHealthz(t *testing.T) {
	a := testenv.App(t, testenv.Config(t), testenv.Options{})
	w := do(t, a, http.MethodGet, "/healthz")
	if w.Code != http.StatusOK {
		t.Fatalf("GET /healthz = %d, want 200; body: %s", w.Code, w.Body)
	}
	var body map[string]any
	decode(t, w, &body)
	if len(body) != 1 || body["status"] != "ok" {
		t.Errorf(`GET /healthz body = %s, want {"status":"ok"}`, w.Body)
	}
}

type readyBody struct {
	Status string `json:"status"`
	Checks map[string]struct {
		OK    bool   `json:"ok"`
		Error string `json:"error"`
	} `json:"checks"`
}

func TestReadyzOnAMigratedApp(t *testing.T) {
	a := testenv.App(t, testenv.Config(t), testenv.Options{})
	w := do(t, a, http.MethodGet, "/readyz")
	if w.Code != http.StatusOK {
		t.Fatalf("GET /readyz = %d, want 200; body: %s", w.Code, w.Body)
	}
	var body readyBody
	decode(t, w, &body)
	if body.Status != "ready" {
		t.Errorf("status = %q, want ready; body: %s", body.Status, w.Body)
	}
	// Every check must be there and pass: a check that silently went
	// missing would make readiness meaningless.
	for _, name := range []string{"postgres", "migrations", "openfga", "authz_outbox"} {
		c, ok := body.Checks[name]
		if !ok {
			t.Errorf("check %q is missing; body: %s", name, w.Body)
		} else if !c.OK {
			t.Errorf("check %q failed: %s", name, c.Error)
		}
	}
}

// A replica started before `caido-cloud migrate` ran must say so and stay
// out of the load balancer (503), not crash or answer 500.
func TestReadyzBeforeMigrate(t *testing.T) {
	a := testenv.App(t, testenv.Config(t), testenv.Options{NoMigrate: true})
	w := do(t, a, http.MethodGet, "/readyz")
	if w.Code != http.StatusServiceUnavailable {
		t.Fatalf("GET /readyz on an empty database = %d, want 503; body: %s", w.Code, w.Body)
	}
	var body readyBody
	decode(t, w, &body)
	if body.Status != "not ready" {
		t.Errorf("status = %q, want \"not ready\"", body.Status)
	}
	// PostgreSQL itself answers: only the schema is missing.
	if !body.Checks["postgres"].OK {
		t.Errorf("check postgres failed on a reachable database: %s", body.Checks["postgres"].Error)
	}
	m, ok := body.Checks["migrations"]
	if !ok || m.OK {
		t.Fatalf("check migrations should fail on an empty database; body: %s", w.Body)
	}
	if m.Error != "" {
		t.Errorf("the public /readyz tells why (%q): that is the operator listener's", m.Error)
	}
	// The operator listener says why, and what to do.
	w = httptest.NewRecorder()
	a.AdminHandler.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	decode(t, w, &body)
	if m := body.Checks["migrations"]; m.OK || !strings.Contains(m.Error, "caido-cloud migrate") {
		t.Errorf("the operator's migrations check says %+v, want it to tell to run `caido-cloud migrate`", m)
	}
}

func TestErrorBodies(t *testing.T) {
	a := testenv.App(t, testenv.Config(t), testenv.Options{})
	for _, tc := range []struct {
		method, path string
		status       int
		code         string
	}{
		{http.MethodGet, "/no/such/path", http.StatusNotFound, "not_found"},
		{http.MethodPost, "/healthz", http.StatusMethodNotAllowed, "method_not_allowed"},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			w := do(t, a, tc.method, tc.path)
			if w.Code != tc.status {
				t.Fatalf("%s %s = %d, want %d; body: %s", tc.method, tc.path, w.Code, tc.status, w.Body)
			}
			var body struct {
				Code        string `json:"error"`
				Description string `json:"error_description"`
			}
			decode(t, w, &body)
			if body.Code != tc.code {
				t.Errorf("error = %q, want %q", body.Code, tc.code)
			}
			if body.Description == "" {
				t.Errorf("error_description is empty; people need a sentence too")
			}
			// RFC 9110 requires a 405 to say which methods are allowed.
			if tc.status == http.StatusMethodNotAllowed && !strings.Contains(w.Header().Get("Allow"), http.MethodGet) {
				t.Errorf("Allow = %q, want it to list GET", w.Header().Get("Allow"))
			}
		})
	}
}

func TestMetrics(t *testing.T) {
	a := testenv.App(t, testenv.Config(t), testenv.Options{})
	// A request before the scrape, for otelgin to have measured.
	if w := do(t, a, http.MethodGet, "/healthz"); w.Code != http.StatusOK {
		t.Fatalf("GET /healthz = %d", w.Code)
	}
	// /metrics is the operator listener's.
	w := httptest.NewRecorder()
	a.AdminHandler.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if w.Code != http.StatusOK {
		t.Fatalf("GET /metrics = %d; body: %s", w.Code, w.Body)
	}
	if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("Content-Type = %q, want the Prometheus text exposition (text/plain)", ct)
	}
	text := w.Body.String()
	// The request duration histogram of the /healthz request made above,
	// labelled with its route.
	found := false
	for line := range strings.Lines(text) {
		if strings.HasPrefix(line, "http_server_request_duration_seconds_count{") &&
			strings.Contains(line, `http_route="/healthz"`) {
			found = true
		}
	}
	if !found {
		t.Errorf("no http_server_request_duration_seconds_count for http_route=\"/healthz\" in /metrics:\n%s", text)
	}
	for _, name := range []string{"go_goroutines ", "go_memstats_heap_alloc_bytes ", "process_open_fds "} {
		if !strings.Contains(text, "\n"+name) {
			t.Errorf("runtime metric %q is missing from /metrics", strings.TrimSpace(name))
		}
	}
}

// TestReadyzSpans checks that one /readyz request is one trace: the server
// span with the PostgreSQL queries and the OpenFGA calls under it, and that
// no secret ends up in any span.
func TestReadyzSpans(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	cfg := testenv.Config(t)
	a := testenv.App(t, cfg, testenv.Options{Spans: rec})
	if w := do(t, a, http.MethodGet, "/readyz"); w.Code != http.StatusOK {
		t.Fatalf("GET /readyz = %d; body: %s", w.Code, w.Body)
	}
	spans := rec.Ended()
	byID := map[trace.SpanID]sdktrace.ReadOnlySpan{}
	var server sdktrace.ReadOnlySpan
	for _, s := range spans {
		byID[s.SpanContext().SpanID()] = s
		if s.SpanKind() == trace.SpanKindServer && attr(s, "http.route") == "/readyz" {
			server = s
		}
	}
	if server == nil {
		t.Fatalf("no server span with http.route=/readyz among %d spans: %v", len(spans), names(spans))
	}
	if got := server.InstrumentationScope().Name; !strings.Contains(got, "otelgin") {
		t.Errorf("the /readyz server span comes from %q, want otelgin", got)
	}

	// under reports whether s is a descendant of the server span, following
	// parents through the spans recorded.
	under := func(s sdktrace.ReadOnlySpan) bool {
		for p := s.Parent(); p.IsValid(); {
			if p.SpanID() == server.SpanContext().SpanID() {
				return true
			}
			parent, ok := byID[p.SpanID()]
			if !ok {
				return false
			}
			p = parent.Parent()
		}
		return false
	}
	var pgSpans, fgaSpans int
	for _, s := range spans {
		// Migrate's spans are in the recorder too, in other traces; only
		// the request's trace counts.
		if s.SpanContext().TraceID() != server.SpanContext().TraceID() {
			continue
		}
		switch {
		case strings.HasPrefix(s.Name(), "postgresql "):
			if attr(s, "db.query.text") == "" {
				t.Errorf("pgx span %q has no db.query.text", s.Name())
			}
			if !under(s) {
				t.Errorf("pgx span %q is not under the server span", s.Name())
			}
			pgSpans++
		case strings.HasPrefix(s.Name(), "openfga "):
			if !under(s) {
				t.Errorf("OpenFGA span %q is not under the server span", s.Name())
			}
			fgaSpans++
		}
	}
	if pgSpans == 0 {
		t.Errorf("no pgx span (postgresql ...) in the /readyz trace; spans: %v", names(spans))
	}
	if fgaSpans == 0 {
		t.Errorf("no OpenFGA client span (openfga ...) in the /readyz trace; spans: %v", names(spans))
	}

	// Every span, Migrate's included, goes to whatever collects traces:
	// neither the OpenFGA key nor the database password may be in one.
	token := testenv.Env(t, "OPENFGA_API_TOKEN")
	u, err := url.Parse(cfg.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	password, _ := u.User.Password()
	if password == "" {
		t.Fatal("DATABASE_URL has no password: the check below would prove nothing")
	}
	// Started includes spans that never ended; those that did are in both.
	all := map[trace.SpanID]sdktrace.ReadOnlySpan{}
	for _, s := range rec.Started() {
		all[s.SpanContext().SpanID()] = s
	}
	for _, s := range all {
		for _, text := range spanTexts(s) {
			if strings.Contains(text, token) {
				t.Errorf("span %q holds the OpenFGA pre-shared key: %q", s.Name(), text)
			}
			if strings.Contains(text, password) {
				t.Errorf("span %q holds the database password: %q", s.Name(), text)
			}
		}
	}
}

func attr(s sdktrace.ReadOnlySpan, key string) string {
	for _, kv := range s.Attributes() {
		if string(kv.Key) == key {
			return kv.Value.Emit()
		}
	}
	return ""
}

func names(spans []sdktrace.ReadOnlySpan) []string {
	out := make([]string, len(spans))
	for i, s := range spans {
		out[i] = s.Name()
	}
	return out
}

// spanTexts is every string a span exports: name, status, attributes,
// events and links.
func spanTexts(s sdktrace.ReadOnlySpan) []string {
	out := []string{s.Name(), s.Status().Description}
	for _, kv := range s.Attributes() {
		out = append(out, string(kv.Key)+"="+kv.Value.Emit())
	}
	for _, e := range s.Events() {
		out = append(out, e.Name)
		for _, kv := range e.Attributes {
			out = append(out, string(kv.Key)+"="+kv.Value.Emit())
		}
	}
	for _, l := range s.Links() {
		for _, kv := range l.Attributes {
			out = append(out, string(kv.Key)+"="+kv.Value.Emit())
		}
	}
	for _, kv := range s.Resource().Attributes() {
		out = append(out, string(kv.Key)+"="+kv.Value.Emit())
	}
	return out
}

// slowApp wraps the app's handler with /slow, which sends its first half,
// then blocks until release is closed before sending the second: a request
// that is in flight while the server shuts down.
type slowApp struct {
	*app.App
	entered chan struct{}
	release chan struct{}
}

const slowHalf = "0123456789abcdef"

func newSlowApp(t *testing.T, shutdownTimeout time.Duration) *slowApp {
	cfg := testenv.Config(t)
	cfg.ShutdownTimeout = shutdownTimeout
	s := &slowApp{
		App:     testenv.App(t, cfg, testenv.Options{}),
		entered: make(chan struct{}, 1),
		release: make(chan struct{}),
	}
	next := s.Handler
	s.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/slow" {
			next.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(2*len(slowHalf)))
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, slowHalf)
		w.(http.Flusher).Flush()
		s.entered <- struct{}{}
		<-s.release
		_, _ = io.WriteString(w, slowHalf)
	})
	return s
}

type served struct {
	status int
	body   string
	err    error
}

// serve runs Serve on a loopback listener, starts GET /slow and returns
// once the handler holds it.
func (s *slowApp) serve(t *testing.T) (addr string, cancel context.CancelFunc, serveErr <-chan error, slow <-chan served) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	done := make(chan struct{})
	go func() {
		errc <- s.Serve(ctx, ln)
		close(done)
	}()
	// However the test ends, Serve must have returned before the cleanups
	// testenv.App registered (earlier, so run later) close the pool.
	t.Cleanup(func() {
		cancel()
		select {
		case <-s.release:
		default:
			close(s.release)
		}
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("Serve did not return within 30s of the test's end")
		}
	})

	addr = ln.Addr().String()
	slowc := make(chan served, 1)
	go func() {
		client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
		resp, err := client.Get("http://" + addr + "/slow")
		if err != nil {
			slowc <- served{err: err}
			return
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		slowc <- served{status: resp.StatusCode, body: string(body), err: err}
	}()
	select {
	case <-s.entered:
	case r := <-slowc:
		t.Fatalf("GET /slow ended before reaching the handler: %+v", r)
	case <-time.After(10 * time.Second):
		t.Fatal("GET /slow did not reach the handler within 10s")
	}
	return addr, cancel, errc, slowc
}

// refused waits (bounded) until a new connection to addr is refused.
func refused(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		switch {
		case errors.Is(err, syscall.ECONNREFUSED):
			return
		case errors.Is(err, syscall.ECONNRESET):
			// A connection caught in the listener's backlog as it closes
			// is reset, not served: try again for the settled answer.
		case err != nil:
			t.Fatalf("dial after shutdown began: %v, want connection refused", err)
		default:
			conn.Close()
		}
		if time.Now().After(deadline) {
			t.Fatal("new connections are still accepted 5s after shutdown began")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestGracefulShutdown(t *testing.T) {
	s := newSlowApp(t, 20*time.Second)
	addr, cancel, serveErr, slow := s.serve(t)

	cancel() // what SIGTERM does in `caido-cloud serve`
	refused(t, addr)
	// The in-flight request holds Serve: it has not returned.
	select {
	case err := <-serveErr:
		t.Fatalf("Serve returned (%v) while a request was still in flight", err)
	default:
	}

	close(s.release)
	select {
	case r := <-slow:
		if r.err != nil || r.status != http.StatusOK || r.body != slowHalf+slowHalf {
			t.Errorf("the in-flight request got status %d, body %q, error %v; want 200 and the whole body", r.status, r.body, r.err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the in-flight request did not complete within 10s of its release")
	}
	select {
	case err := <-serveErr:
		if err != nil {
			t.Errorf("Serve = %v, want nil after a clean shutdown", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return within 10s of the last request ending")
	}
}

func TestShutdownCutsOffSlowRequests(t *testing.T) {
	s := newSlowApp(t, 300*time.Millisecond)
	_, cancel, serveErr, slow := s.serve(t)

	cancel()
	// The handler is never released before Serve returns: the grace ends
	// with the request still running.
	select {
	case err := <-serveErr:
		if err == nil || !strings.Contains(err.Error(), "cut off") {
			t.Errorf("Serve = %v, want an error saying requests were cut off", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Serve did not return within 15s with a 300ms shutdown timeout")
	}
	select {
	case r := <-slow:
		if r.err == nil {
			t.Errorf("the cut-off request ended without error (status %d, body %q)", r.status, r.body)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the cut-off request's connection was not closed")
	}
}
