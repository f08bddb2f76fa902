package clients_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/caido-cloud/caido-cloud/oidc/clients"
)

// TestRegisterRefusesBadInput: every RFC 7591 §3.2.2 error that applies is a
// 4xx with its code and a description naming the problem, and changes
// nothing in the database.
func TestRegisterRefusesBadInput(t *testing.T) {
	f := newFixture(t, clients.Options{})
	f.register(t, instanceBody) // so that "unchanged" is measured against real rows
	tests := []struct {
		name        string
		contentType string
		body        string
		status      int
		code        string
		description string // a part of error_description
	}{
		{"unknown grant type", "application/json", `{"scope":"","grant_types":["authorization_code"]}`,
			400, "invalid_client_metadata", `"authorization_code"`},
		{"one unknown grant type among known ones", "application/json", `{"scope":"","grant_types":["client_credentials","password"]}`,
			400, "invalid_client_metadata", `"password"`},
		{"unknown scope", "application/json", `{"scope":"profile:read admin","grant_types":["client_credentials"]}`,
			400, "invalid_client_metadata", `"admin"`},
		{"scope of another API", "application/json", `{"scope":"billing:write","grant_types":["client_credentials"]}`,
			400, "invalid_client_metadata", `"billing:write"`},
		{"empty grant_types", "application/json", `{"scope":"","grant_types":[]}`,
			400, "invalid_client_metadata", "grant_types"},
		{"missing grant_types", "application/json", `{"scope":"profile:read"}`,
			400, "invalid_client_metadata", "grant_types"},
		{"grant_types of the wrong type", "application/json", `{"scope":"","grant_types":"client_credentials"}`,
			400, "invalid_client_metadata", "grant_types"},
		{"scope of the wrong type", "application/json", `{"scope":["openid"],"grant_types":["client_credentials"]}`,
			400, "invalid_client_metadata", "scope"},
		{"a registration key", "application/json", `{"scope":"","grant_types":["client_credentials"],"instance_registration_key":"ckey_0123456789"}`,
			400, "invalid_client_metadata", "instance_registration_key is not valid"},
		{"an empty registration key", "application/json", `{"scope":"","grant_types":["client_credentials"],"instance_registration_key":""}`,
			400, "invalid_client_metadata", "instance_registration_key is not valid"},
		{"malformed JSON", "application/json", `{"scope":"","grant_types":["client_credentials"]`,
			400, "invalid_request", "JSON"},
		{"two JSON objects", "application/json", `{"grant_types":["client_credentials"]} {}`,
			400, "invalid_request", "JSON"},
		{"a JSON array", "application/json", `[{"grant_types":["client_credentials"]}]`,
			400, "invalid_request", "JSON"},
		{"empty body", "application/json", ``,
			400, "invalid_request", "JSON"},
		{"wrong content type", "application/x-www-form-urlencoded", `scope=&grant_types=client_credentials`,
			400, "invalid_request", "application/json"},
		{"JSON without a content type", "", `{"scope":"","grant_types":["client_credentials"]}`,
			400, "invalid_request", "application/json"},
		{"body over 64 KiB", "application/json", `{"scope":"` + strings.Repeat("openid ", 10_000) + `","grant_types":["client_credentials"]}`,
			413, "invalid_request", "KiB"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := rowCounts(t, f.db)
			x := f.do(t, http.MethodPost, "/oauth2/register", tc.contentType, tc.body)
			refused(t, x, tc.status, tc.code, tc.description)
			sameCounts(t, before, rowCounts(t, f.db))
		})
	}
}

// refused fails the test unless x is an error answer with status, code and
// a description containing description.
func refused(t *testing.T, x exchange, status int, code, description string) {
	t.Helper()
	if x.resp.StatusCode != status {
		t.Fatalf("status %d %s, want %d", x.resp.StatusCode, x.body, status)
	}
	if ct := x.resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	e := decode[errorBody](t, x)
	if e.Error != code || !strings.Contains(e.Description, description) {
		t.Errorf("error %q (%q), want %q with %q", e.Error, e.Description, code, description)
	}
}

// TestOtherMethods: a wrong method is a JSON 405, not a plain-text one.
func TestOtherMethods(t *testing.T) {
	f := newFixture(t, clients.Options{})
	for _, tc := range []struct{ method, path, allow string }{
		{http.MethodGet, "/oauth2/register", "POST"},
		{http.MethodPut, "/oauth2/register", "POST"},
		{http.MethodPost, "/oauth2/register/abc", "GET, PUT"},
		{http.MethodDelete, "/oauth2/register/abc", "GET, PUT"}, // no Deregister in this fixture
	} {
		x := f.do(t, tc.method, tc.path, "application/json", `{}`)
		refused(t, x, http.StatusMethodNotAllowed, "method_not_allowed", tc.method)
		if got := x.resp.Header.Get("Allow"); got != tc.allow {
			t.Errorf("%s %s: Allow %q, want %q", tc.method, tc.path, got, tc.allow)
		}
	}
}
