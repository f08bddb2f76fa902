package app_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/caido-cloud/caido-cloud/app"
	"github.com/caido-cloud/caido-cloud/internal/testenv"
	"github.com/caido-cloud/caido-cloud/oidc/signing"
)

const operatorToken = "operator-token-of-at-least-32-characters"

func admin(t *testing.T, a *app.App, method, path, token, body string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	w := httptest.NewRecorder()
	a.AdminHandler.ServeHTTP(w, req)
	return w
}

// TestNothingOperatorOnlyIsPublic tries every operator path on the public
// listener, with the operator's credential: none is routed there.
func TestNothingOperatorOnlyIsPublic(t *testing.T) {
	cfg := testenv.Config(t)
	cfg.AdminToken = operatorToken
	a := testenv.App(t, cfg, testenv.Options{})
	testenv.RunOutbox(t, a)
	u := testenv.User(t, a, "anne@example.test")
	for _, rt := range []struct{ method, path string }{
		{"GET", "/metrics"},
		{"GET", "/admin/v1/users?email=anne@example.test"},
		{"GET", "/admin/v1/users/" + u.ID + "/export"},
		{"DELETE", "/admin/v1/users/" + u.ID},
		{"POST", "/admin/v1/vouchers"},
		{"POST", "/admin/v1/keys/rotate"},
		{"PUT", "/admin/v1/teams/" + u.ID + "/subscription"},
	} {
		req := httptest.NewRequest(rt.method, rt.path, strings.NewReader(`{"plan":"individual","days":30}`))
		req.Header.Set("Authorization", "Bearer "+operatorToken)
		req.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		a.Handler.ServeHTTP(w, req)
		if w.Code != http.StatusNotFound && w.Code != http.StatusMethodNotAllowed {
			t.Errorf("public %s %s = %d, want 404: %s", rt.method, rt.path, w.Code, w.Body)
		}
	}
	if _, err := a.Access.Account(t.Context(), u.ID); err != nil {
		t.Fatalf("the user is gone after public attempts: %v", err)
	}
}

func TestOperatorListener(t *testing.T) {
	cfg := testenv.Config(t)
	cfg.AdminToken = operatorToken
	a := testenv.App(t, cfg, testenv.Options{})
	testenv.RunOutbox(t, a)
	anne := testenv.User(t, a, "anne@example.test")

	for _, token := range []string{"", "wrong", operatorToken + "x", operatorToken[:31]} {
		if w := admin(t, a, "GET", "/admin/v1/users?email=anne@example.test", token, ""); w.Code != http.StatusUnauthorized {
			t.Errorf("token %q: %d, want 401", token, w.Code)
		}
	}
	w := admin(t, a, "GET", "/admin/v1/users?email=ANNE@example.test", operatorToken, "")
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), anne.ID) {
		t.Fatalf("find user: %d %s", w.Code, w.Body)
	}
	if w := admin(t, a, "GET", "/admin/v1/users", operatorToken, ""); w.Code != http.StatusBadRequest {
		t.Errorf("find without email: %d", w.Code)
	}
	if w := admin(t, a, "GET", "/admin/v1/users?email=nobody@example.test", operatorToken, ""); w.Code != http.StatusNotFound {
		t.Errorf("unknown email: %d", w.Code)
	}
	w = admin(t, a, "POST", "/admin/v1/vouchers", operatorToken, `{"plan":"individual","days":30}`)
	var voucher struct{ Code string }
	if w.Code != http.StatusCreated || json.Unmarshal(w.Body.Bytes(), &voucher) != nil || !strings.HasPrefix(voucher.Code, "CVOU-") {
		t.Fatalf("voucher: %d %s", w.Code, w.Body)
	}
	for _, bad := range []string{`{"plan":"individual"}`, `{"plan":"gold","days":3}`, `nonsense`} {
		if w := admin(t, a, "POST", "/admin/v1/vouchers", operatorToken, bad); w.Code != http.StatusBadRequest {
			t.Errorf("voucher %s: %d %s, want 400", bad, w.Code, w.Body)
		}
	}
	// Without a body the keys switch at once, as they always have, with a
	// warning; {"now": false} (or ?now=false) publishes them ahead.
	var rotated struct {
		Keys      map[string]string
		SignsFrom map[string]time.Time `json:"signs_from"`
		Warning   string
	}
	w = admin(t, a, "POST", "/admin/v1/keys/rotate", operatorToken, "")
	if w.Code != http.StatusOK || json.Unmarshal(w.Body.Bytes(), &rotated) != nil || rotated.Keys["ES256"] == "" ||
		time.Until(rotated.SignsFrom["ES256"]) > time.Minute || !strings.Contains(rotated.Warning, "may reject new tokens") {
		t.Fatalf("rotate: %d %s", w.Code, w.Body)
	}
	for _, req := range [][2]string{{"/admin/v1/keys/rotate", `{"now": false}`}, {"/admin/v1/keys/rotate?now=false", ""}} {
		rotated.Warning = ""
		w = admin(t, a, "POST", req[0], operatorToken, req[1])
		if w.Code != http.StatusOK || json.Unmarshal(w.Body.Bytes(), &rotated) != nil || rotated.Warning != "" ||
			time.Until(rotated.SignsFrom["ES256"]) < signing.PublishAhead-time.Minute {
			t.Fatalf("rotate %s %s: %d %s, want keys published ahead", req[0], req[1], w.Code, w.Body)
		}
	}
	for _, req := range [][2]string{{"/admin/v1/keys/rotate", `{"now": "soon"}`}, {"/admin/v1/keys/rotate?now=soon", ""}} {
		if w := admin(t, a, "POST", req[0], operatorToken, req[1]); w.Code != http.StatusBadRequest {
			t.Errorf("rotate %s %s: %d %s, want 400", req[0], req[1], w.Code, w.Body)
		}
	}
	w = admin(t, a, "GET", "/admin/v1/users/"+anne.ID+"/export", operatorToken, "")
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "anne@example.test") {
		t.Fatalf("export: %d %s", w.Code, w.Body)
	}
	if w := admin(t, a, "DELETE", "/admin/v1/users/"+anne.ID, operatorToken, ""); w.Code != http.StatusOK {
		t.Fatalf("delete: %d %s", w.Code, w.Body)
	}
	if w := admin(t, a, "DELETE", "/admin/v1/users/"+anne.ID, operatorToken, ""); w.Code != http.StatusNotFound {
		t.Fatalf("delete again: %d %s", w.Code, w.Body)
	}
	// Without a configured token the admin API answers nobody.
	cfg2 := testenv.Config(t)
	b := testenv.App(t, cfg2, testenv.Options{})
	if w := admin(t, b, "GET", "/admin/v1/users?email=x@example.test", "", ""); w.Code != http.StatusUnauthorized {
		t.Fatalf("no token configured: %d", w.Code)
	}
	if w := admin(t, b, "GET", "/metrics", "", ""); w.Code != http.StatusOK {
		t.Fatalf("metrics on the operator listener: %d", w.Code)
	}
}
