package api_test

// In package api_test because the running app (internal/testenv → app)
// imports package api. ValidateResponse comes from openapi_test.go,
// compiled into package api for these tests.

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/caido-cloud/caido-cloud/api/public"
	"github.com/caido-cloud/caido-cloud/internal/openapitest"
	"github.com/caido-cloud/caido-cloud/internal/testenv"
)

// TestOpenAPILiveResponses runs the whole service and validates what it
// really answers against our document: the operational endpoints, the
// metadata and keys, instance registration, the client-credentials grant,
// introspection, revocation and userinfo, and error answers of each kind.
// Answers of reference operations are validated against the reference
// document too.
func TestOpenAPILiveResponses(t *testing.T) {
	doc, err := public.OpenAPIDocument()
	testenv.Must(t, err)
	instanceRef := loadReference(t, "instance-api.openapi.yaml")
	publicRef := loadReference(t, "public-api.openapi.yaml")
	_, base := testenv.Serve(t, testenv.Config(t), testenv.Options{})

	// check sends req, wants status and a body that validates against our
	// document (and against refs, for their operations).
	check := func(req *http.Request, status int, refs ...*openapi3.T) []byte {
		t.Helper()
		resp, err := http.DefaultClient.Do(req)
		testenv.Must(t, err)
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		testenv.Must(t, err)
		path := strings.TrimPrefix(req.URL.String(), base)
		if resp.StatusCode != status {
			t.Fatalf("%s %s: %s, want %d: %s", req.Method, path, resp.Status, status, body)
		}
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Errorf("%s %s: Content-Type %q", req.Method, path, ct)
		}
		path, _, _ = strings.Cut(path, "?")
		openapitest.ValidateResponse(t, doc, req.Method, path, resp.StatusCode, body)
		for _, ref := range refs {
			openapitest.ValidateResponse(t, ref, req.Method, path, resp.StatusCode, body)
		}
		return body
	}
	get := func(path string) *http.Request {
		req, err := http.NewRequest(http.MethodGet, base+path, nil)
		testenv.Must(t, err)
		return req
	}
	post := func(path, contentType string, body string) *http.Request {
		req, err := http.NewRequest(http.MethodPost, base+path, strings.NewReader(body))
		testenv.Must(t, err)
		req.Header.Set("Content-Type", contentType)
		return req
	}
	form := func(path string, values url.Values) *http.Request {
		return post(path, "application/x-www-form-urlencoded", values.Encode())
	}

	check(get("/healthz"), http.StatusOK)
	check(get("/readyz"), http.StatusOK)
	// /metrics is the operator listener's, not public.
	if resp, err := http.Get(base + "/metrics"); err != nil || resp.StatusCode != http.StatusNotFound {
		t.Fatalf("public /metrics: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	check(get("/.well-known/openid-configuration"), http.StatusOK)
	check(get("/.well-known/oauth-authorization-server"), http.StatusOK)
	check(get("/.well-known/jwks.json"), http.StatusOK)

	// Registration (RFC 7591), as an instance does it; then a refusal.
	body := check(post("/oauth2/register", "application/json",
		`{"scope":"","grant_types":["client_credentials"]}`), http.StatusCreated, instanceRef, publicRef)
	var inst struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	testenv.Must(t, json.Unmarshal(body, &inst))
	check(post("/oauth2/register", "application/json", `{"scope":"","grant_types":"client_credentials"}`),
		http.StatusBadRequest)

	// The client-credentials grant; then wrong credentials.
	body = check(form("/oauth2/token", url.Values{
		"grant_type": {"client_credentials"}, "client_id": {inst.ClientID}, "client_secret": {inst.ClientSecret},
	}), http.StatusOK, instanceRef, publicRef)
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	testenv.Must(t, json.Unmarshal(body, &tok))
	check(form("/oauth2/token", url.Values{
		"grant_type": {"client_credentials"}, "client_id": {inst.ClientID}, "client_secret": {"wrong"},
	}), http.StatusUnauthorized)

	// Introspection (RFC 7662): active with meta, inactive, and a caller
	// that does not say who it is.
	creds := url.Values{"client_id": {inst.ClientID}, "client_secret": {inst.ClientSecret}}
	with := func(v url.Values, k, val string) url.Values {
		out := url.Values{k: {val}}
		for k, vs := range v {
			out[k] = vs
		}
		return out
	}
	body = check(form("/oauth2/introspect", with(creds, "token", tok.AccessToken)), http.StatusOK, publicRef)
	if !bytes.Contains(body, []byte(`"active":true`)) || !bytes.Contains(body, []byte(`"meta"`)) {
		t.Errorf("introspect: %s", body)
	}
	check(form("/oauth2/introspect", with(creds, "token", "not-a-token")), http.StatusOK, publicRef)
	check(form("/oauth2/introspect", url.Values{"token": {tok.AccessToken}}), http.StatusBadRequest)

	// Userinfo refuses an instance token.
	req := get("/oauth2/userinfo")
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	check(req, http.StatusUnauthorized)

	// Revocation (RFC 7009), then the token introspects as inactive.
	check(form("/oauth2/revoke", with(creds, "token", tok.AccessToken)), http.StatusOK)
	body = check(form("/oauth2/introspect", with(creds, "token", tok.AccessToken)), http.StatusOK, publicRef)
	if !bytes.Contains(body, []byte(`"active":false`)) {
		t.Errorf("introspect after revoke: %s", body)
	}
}

// loadReference loads one published reference document.
func loadReference(t testing.TB, name string) *openapi3.T {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromFile(openapitest.Reference(t, name))
	testenv.Must(t, err)
	return doc
}
