package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/gin-gonic/gin"
	"go.opentelemetry.io/contrib/instrumentation/github.com/gin-gonic/gin/otelgin"

	"github.com/caido-cloud/caido-cloud/access"
	"github.com/caido-cloud/caido-cloud/api/instance"
	"github.com/caido-cloud/caido-cloud/app"
	"github.com/caido-cloud/caido-cloud/assistant"
	"github.com/caido-cloud/caido-cloud/assistant/assistanttest"
	"github.com/caido-cloud/caido-cloud/internal/openapitest"
	"github.com/caido-cloud/caido-cloud/internal/testenv"
)

// assistantWorld is a running caido-cloud (tokens come from its device
// flow), the assistant routed on a server of its own on the same database
// and provider, the stand-in upstream, and a user signed in at a claimed
// instance with the assistant scope.
type assistantWorld struct {
	a     *app.App
	base  string // the identity server
	url   string // the assistant's server
	up    *assistanttest.Upstream
	svc   *assistant.Service
	in    testenv.Instance
	user  access.User
	token string
}

// assistantTimeout is the upstream timeout of these tests: short enough to
// test, long enough for a loaded machine.
const assistantTimeout = 2 * time.Second

func newAssistantWorld(t testing.TB, opts testenv.Options) *assistantWorld {
	t.Helper()
	ctx := context.Background()
	cfg := testenv.Config(t)
	cfg.DevicePollInterval = time.Second
	w := &assistantWorld{up: assistanttest.New(t)}
	w.a, w.base = testenv.Serve(t, cfg, opts)
	w.svc = assistant.New(w.a.DB, w.a.Authz, assistant.Options{BaseURL: w.up.BaseURL(), APIKey: assistanttest.APIKey,
		Timeout: assistantTimeout, HTTPClient: w.a.Telemetry.HTTPClient("assistant")})
	for _, m := range assistanttest.Models() {
		testenv.Must(t, w.svc.UpsertModel(ctx, m))
	}
	w.url = w.serveAssistant(t, w.svc)

	w.in = testenv.RegisterInstance(t, w.a, w.base, "profile:read assistant offline")
	w.user = testenv.User(t, w.a, "anne@example.test")
	_, err := w.a.Access.ClaimInstance(ctx, w.in.ID, w.user.ID, w.user.DefaultWorkspaceID, "laptop")
	testenv.Must(t, err)
	w.token = w.signIn(t, "assistant profile:read")
	return w
}

// serveAssistant routes the assistant as NewRouter will, traced like it.
func (w *assistantWorld) serveAssistant(t testing.TB, svc *assistant.Service) string {
	r := gin.New()
	r.ContextWithFallback = true
	r.Use(otelgin.Middleware("caido-cloud", otelgin.WithTracerProvider(w.a.Telemetry.TracerProvider())))
	testenv.Must(t, instance.Mount(r, instance.Deps{Provider: w.a.Provider, Sessions: w.a.Sessions, Store: w.a.InstanceAPI,
		Assistant: svc, Log: w.a.Log}))
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return srv.URL
}

// signIn runs a device flow for the user, approving it directly as the
// dashboard will, and returns the access token.
func (w *assistantWorld) signIn(t testing.TB, scope string) string {
	t.Helper()
	return w.in.SignIn(t, w.a, w.user.ID, scope).AccessToken
}

// do calls the assistant's server.
func (w *assistantWorld) do(t testing.TB, method, path, token string, body any) (int, http.Header, []byte) {
	t.Helper()
	var rd *bytes.Reader
	if body != nil {
		raw, _ := json.Marshal(body)
		rd = bytes.NewReader(raw)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, _ := http.NewRequest(method, w.url+path, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	testenv.Must(t, err)
	defer resp.Body.Close()
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(resp.Body)
	return resp.StatusCode, resp.Header, buf.Bytes()
}

// ask is a completion request for model with one user message.
func ask(model, content string) map[string]any {
	return map[string]any{"model": model, "messages": []map[string]string{{"role": "user", "content": content}}}
}

// setPlan puts the user on a plan of credits a month.
func (w *assistantWorld) setPlan(t testing.TB, credits int64) {
	t.Helper()
	ctx := context.Background()
	_, err := w.a.DB.Exec(ctx, `INSERT INTO plans (name, display_name, monthly_credits) VALUES ('test', 'Test', $1)
		ON CONFLICT (name) DO UPDATE SET monthly_credits = $1`, credits)
	testenv.Must(t, err)
	_, err = w.a.DB.Exec(ctx, `UPDATE users SET plan = 'test' WHERE id = $1`, w.user.ID)
	testenv.Must(t, err)
}

// ledger is the user's month rows summed, and their usage rows summed.
func (w *assistantWorld) ledger(t testing.TB) (spent, reserved, usageCredits, usageRows int64) {
	t.Helper()
	ctx := context.Background()
	testenv.Must(t, w.a.DB.QueryRow(ctx, `SELECT coalesce(sum(spent), 0)::bigint, coalesce(sum(reserved), 0)::bigint
		FROM assistant_credit_months WHERE user_id = $1`, w.user.ID).Scan(&spent, &reserved))
	testenv.Must(t, w.a.DB.QueryRow(ctx, `SELECT coalesce(sum(credits), 0)::bigint, count(*)
		FROM assistant_usage WHERE user_id = $1`, w.user.ID).Scan(&usageCredits, &usageRows))
	return spent, reserved, usageCredits, usageRows
}

// TestAssistantTokens: each endpoint with a valid token, none, an
// instance's own token, a token without the assistant scope and a revoked
// one.
func TestAssistantTokens(t *testing.T) {
	w := newAssistantWorld(t, testenv.Options{})
	w.setPlan(t, 1_000_000)
	instanceToken := w.in.Token(t)
	noScope := w.signIn(t, "profile:read")
	revoked := w.signIn(t, "assistant")
	if status, body := w.in.PostForm(t, "/oauth2/revoke", url.Values{"token": {revoked}}); status != http.StatusOK {
		t.Fatalf("revoke: %d %v", status, body)
	}
	endpoints := []struct {
		method, path string
		body         any
	}{
		{"GET", "/instance/assistant/models", nil},
		{"GET", "/instance/assistant/usage", nil},
		{"POST", "/instance/assistant/complete", ask("test-ok", "hi")},
		{"POST", "/instance/assistant/complete/stream", ask("test-ok", "hi")},
	}
	for _, e := range endpoints {
		t.Run(e.method+" "+e.path, func(t *testing.T) {
			if status, _, body := w.do(t, e.method, e.path, w.token, e.body); status != http.StatusOK {
				t.Errorf("valid token: %d %s", status, body)
			}
			for _, c := range []struct {
				what, token string
				status      int
				code        string
			}{
				{"no token", "", 401, "invalid_token"},
				{"garbage", "not-a-token", 401, "invalid_token"},
				{"instance token", instanceToken, 401, "wrong_token_kind"},
				{"revoked token", revoked, 401, "session_ended"},
				{"no assistant scope", noScope, 403, "insufficient_scope"},
			} {
				status, header, body := w.do(t, e.method, e.path, c.token, e.body)
				if status != c.status || errorCode(body) != c.code {
					t.Errorf("%s: %d %s, want %d %s", c.what, status, body, c.status, c.code)
				}
				if c.status == 403 && !strings.Contains(header.Get("WWW-Authenticate"), `scope="assistant"`) {
					t.Errorf("%s: WWW-Authenticate %q names no scope", c.what, header.Get("WWW-Authenticate"))
				}
			}
		})
	}
}

// TestAssistantMatchesTheReference: models, usage and a completion validate
// against the reference's schemas, and carry what they should.
func TestAssistantMatchesTheReference(t *testing.T) {
	doc, err := openapi3.NewLoader().LoadFromFile(openapitest.Reference(t, "instance-api.openapi.yaml"))
	testenv.Must(t, err)
	validate := func(schema string, body []byte) map[string]any {
		t.Helper()
		var v map[string]any
		testenv.Must(t, json.Unmarshal(body, &v))
		if err := doc.Components.Schemas[schema].Value.VisitJSON(v); err != nil {
			t.Fatalf("%s does not match the reference: %v\n%s", schema, err, body)
		}
		return v
	}
	w := newAssistantWorld(t, testenv.Options{})
	w.setPlan(t, 10_000)

	status, _, body := w.do(t, "GET", "/instance/assistant/models", w.token, nil)
	models := validate("AssistantModelsPayload", body)["models"].([]any)
	if status != 200 || len(models) != len(assistanttest.Models()) {
		t.Fatalf("models: %d %s", status, body)
	}
	if m := models[0].(map[string]any); m["id"] == "" || m["token_credit"] != 2.0 || m["upstream_model"] != nil {
		t.Fatalf("a model entry: %v", m)
	}
	_, _, body = w.do(t, "GET", "/instance/assistant/usage", w.token, nil)
	if got := validate("AssistantUsagePayload", body)["balance"]; got != 10_000.0 {
		t.Fatalf("usage balance %v, want 10000", got)
	}
	status, _, body = w.do(t, "POST", "/instance/assistant/complete", w.token, ask("test-ok", "what is XSS?"))
	if status != 200 {
		t.Fatalf("complete: %d %s", status, body)
	}
	v := validate("AssistantCompletionPayload", body)
	msg := v["messages"].([]any)[0].(map[string]any)
	if v["model"] != "test-ok" || msg["role"] != "assistant" || msg["content"] != "You said: what is XSS?" {
		t.Fatalf("completion: %s", body)
	}
	if u := v["usage"].(map[string]any); u["balance"] != 10_000.0-60 || u["credits"] != 60.0 {
		t.Fatalf("completion usage: %v", u)
	}
}
