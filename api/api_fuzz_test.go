package api_test

// Handler-level fuzz targets: request bodies and OAuth forms sent to the
// whole service (testenv.Serve: PostgreSQL, OpenFGA, the real router).
// Whatever is sent, the answer is never a 5xx, and an /api/v1 answer is
// the one its documents describe. Each run is a real request, so these
// are slow: `make test` runs their seeds, `make fuzz` a short while.

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/caido-cloud/caido-cloud/access"
	"github.com/caido-cloud/caido-cloud/internal/testenv"
)

// fuzzWorld: anne owns the team Acme (bob is a member) and a claimed
// instance in her Default workspace; her PATs (her own, and one of the
// team) and the instance's token are what the fuzzed requests carry.
type fuzzWorld struct {
	*apiWorld
	annePAT, teamPAT, instanceToken string
	instanceID, bobID, workspaceID  string
	in                              testenv.Instance
}

func newFuzzWorld(f *testing.F) *fuzzWorld {
	ctx := context.Background()
	w := &fuzzWorld{apiWorld: newAPIWorld(f)}
	anne := testenv.User(f, w.a, "anne@example.test")
	bob := testenv.User(f, w.a, "bob@example.test")
	team, _, err := w.a.Access.CreateTeam(ctx, anne.ID, "Acme", "billing@example.test")
	testenv.Must(f, err)
	_, err = w.a.Access.SetTeamMember(ctx, team.ID, bob.ID, access.RoleMember, false)
	testenv.Must(f, err)
	w.annePAT, w.teamPAT = w.pat(f, anne.ID, ""), w.pat(f, anne.ID, team.ID)
	w.in = w.register(f)
	_, err = w.a.Access.ClaimInstance(ctx, w.in.ID, anne.ID, anne.DefaultWorkspaceID, "laptop")
	testenv.Must(f, err)
	w.instanceToken = w.in.Token(f)
	w.instanceID, w.bobID, w.workspaceID = w.in.ID, bob.ID, anne.DefaultWorkspaceID
	return w
}

// send makes one request and returns the status and body.
func (w *fuzzWorld) send(t *testing.T, method, path, token, contentType string, body []byte) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, w.base+path, bytes.NewReader(body))
	testenv.Must(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", contentType)
	resp, err := http.DefaultClient.Do(req)
	testenv.Must(t, err)
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	testenv.Must(t, err)
	return resp.StatusCode, out
}

// FuzzAPIBodies: the JSON bodies of the instance API (POST
// /instance/alive), of /api/v1's writes and of registration (POST
// /oauth2/register), each to its real handler.
func FuzzAPIBodies(f *testing.F) {
	w := newFuzzWorld(f)
	type endpoint struct{ method, path, token string }
	endpoints := []endpoint{
		{"POST", "/instance/alive", w.instanceToken},
		{"PATCH", "/api/v1/instances/" + w.instanceID, w.annePAT},
		{"POST", "/api/v1/instances/" + w.instanceID + "/grants", w.annePAT},
		{"PUT", "/api/v1/instances/" + w.instanceID + "/assistant", w.annePAT},
		{"POST", "/api/v1/registration-keys", w.annePAT},
		{"POST", "/api/v1/personal-access-tokens", w.annePAT},
		{"PATCH", "/api/v1/team/users/" + w.bobID, w.teamPAT},
		{"POST", "/api/v1/teams", w.annePAT},
		{"POST", "/api/v1/team/invitations", w.teamPAT},
		{"POST", "/api/v1/user/billing/voucher-claims", w.annePAT},
		{"POST", "/oauth2/register", ""},
	}
	seeds := map[int][]string{
		0: {`{"os":{"kind":"linux","name":"Debian","version":"12"}}`, ``, `null`, `{"os":null}`, `{"os":"x"}`, `[`,
			`{"os":{"kind":"\u0000"}}`, `{"os":{"name":"` + strings.Repeat("€", 100) + `"}}`},
		1: {`{"name":"renamed"}`, `{"name":""}`, `{"name":"  "}`, `{"workspace_id":"` + w.workspaceID + `"}`,
			`{"workspace_id":"not-a-uuid"}`, `{"name":1}`, `{"other":true}`, `{"name":"a\u0000b"}`},
		2: {`{"user_email":"bob@example.test"}`, `{"user_email":"bob@example.test","expires_at":"2099-01-01T00:00:00Z"}`,
			`{"user_email":"x","expires_at":1e10}`, `{"team_id":"00000000-0000-0000-0000-000000000000"}`, `{"expires_at":-1}`},
		3: {`{"enabled":true}`, `{"enabled":false}`, `{"enabled":"yes"}`, `{}`},
		4: {`{"workspace_id":"` + w.workspaceID + `","name_prefix":"ci","reusable":true,"expires_at":4102444800}`,
			`{"workspace_id":"` + w.workspaceID + `","name_prefix":"` + strings.Repeat("n", 300) + `"}`, `{"name_prefix":"x"}`},
		5: {`{"name":"ci"}`, `{"name":"ci","expires_at":"2099-01-01T00:00:00Z"}`, `{"name":""}`, `{"name":"ci","team_id":"x"}`},
		6: {`{"role":"admin"}`, `{"role":"member","use_seat":true}`, `{"role":"owner"}`, `{"role":""}`},
		7: {`{"name":"Team"}`, `{"name":"Team","billing_email":"b@example.test"}`, `{"name":"","billing_email":"x"}`},
		8: {`{"email":"new@example.test","role":"member","use_seat":false}`, `{"email":"x","role":"admin","use_seat":true}`, `{}`},
		9: {`{"code":"CVOU-AAAA-BBBB-CCCC-DDDD"}`, `{"code":""}`, `{"code":null}`, `{}`},
		10: {`{"grant_types":["client_credentials"],"scope":"profile:read"}`, `{"grant_types":[]}`,
			`{"grant_types":["client_credentials"],"instance_registration_key":"rk_x"}`, `{"scope":1}`},
	}
	for i, bodies := range seeds {
		for _, b := range bodies {
			f.Add(uint8(i), []byte(b))
		}
	}
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		e := endpoints[int(which)%len(endpoints)]
		status, out := w.send(t, e.method, e.path, e.token, "application/json", body)
		if status >= 500 {
			t.Fatalf("%s %s %q: %d %s", e.method, e.path, body, status, out)
		}
		if strings.HasPrefix(e.path, "/api/v1/") {
			w.validate(t, e.method, e.path, status, out)
		} else if status >= 400 && !json.Valid(out) {
			t.Fatalf("%s %s %q: %d with a body that is not JSON: %q", e.method, e.path, body, status, out)
		}
	})
}

// FuzzOAuthForms: the OAuth endpoints' forms as an instance sends them,
// with its real credentials and a fuzzed scope and code or token: device
// authorization, the device-code and refresh grants, introspection and
// revocation. Never a 5xx; always an OAuth error body on a 4xx.
func FuzzOAuthForms(f *testing.F) {
	w := newFuzzWorld(f)
	forms := []func(scope, code string) (string, url.Values){
		func(scope, _ string) (string, url.Values) {
			return "/oauth2/device/authorize", url.Values{"scope": {scope}}
		},
		func(_, code string) (string, url.Values) {
			return "/oauth2/token", url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:device_code"}, "device_code": {code}}
		},
		func(scope, code string) (string, url.Values) {
			return "/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {code}, "scope": {scope}}
		},
		func(scope, _ string) (string, url.Values) {
			return "/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "scope": {scope}}
		},
		func(_, code string) (string, url.Values) { return "/oauth2/introspect", url.Values{"token": {code}} },
		func(_, code string) (string, url.Values) { return "/oauth2/revoke", url.Values{"token": {code}} },
	}
	for i := range forms {
		for _, s := range []struct{ scope, code string }{
			{"profile:read offline", "x"}, {"", ""}, {" ", "a b"}, {"openid", w.instanceToken}, {"profile:read profile:read", "\x00"},
			{"assistant\tprofile:read", strings.Repeat("é", 40)}, {"unknown", "\xff"}, {"profile:read,offline", "%00"},
		} {
			f.Add(uint8(i), s.scope, s.code)
		}
	}
	f.Fuzz(func(t *testing.T, which uint8, scope, code string) {
		path, form := forms[int(which)%len(forms)](scope, code)
		form.Set("client_id", w.in.ClientID)
		form.Set("client_secret", w.in.Secret)
		status, out := w.send(t, "POST", path, "", "application/x-www-form-urlencoded", []byte(form.Encode()))
		if status >= 500 {
			t.Fatalf("POST %s %v: %d %s", path, form, status, out)
		}
		var e struct {
			Error string `json:"error"`
		}
		if status >= 400 && (json.Unmarshal(out, &e) != nil || e.Error == "") {
			t.Fatalf("POST %s %v: %d without an OAuth error: %s", path, form, status, out)
		}
	})
}
