package testenv

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/caido-cloud/caido-cloud/app"
)

// Instance is an instance registered as an instance registers itself
// (POST /oauth2/register): its OAuth client's credentials and the instance
// that client stands for, on the server at Base.
type Instance struct {
	// Base is the server the instance registered with; its forms go there.
	Base             string
	ClientID, Secret string
	// ID is the instance's id.
	ID string
}

// instanceGrants are the grants an instance registers for unless told
// others.
var instanceGrants = []string{"client_credentials", "urn:ietf:params:oauth:grant-type:device_code", "refresh_token"}

// RegisterInstance registers an instance at base, the address a serves,
// asking for scope and grantTypes (when none are given: the
// client-credentials, device-code and refresh-token grants).
func RegisterInstance(t testing.TB, a *app.App, base, scope string, grantTypes ...string) Instance {
	t.Helper()
	if len(grantTypes) == 0 {
		grantTypes = instanceGrants
	}
	body, err := json.Marshal(struct {
		Scope      string   `json:"scope"`
		GrantTypes []string `json:"grant_types"`
	}{scope, grantTypes})
	Must(t, err)
	status, raw := post(t, base+"/oauth2/register", "application/json", bytes.NewReader(body))
	if status != http.StatusCreated {
		t.Fatalf("register an instance: %d %s", status, raw)
	}
	var reg struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	Must(t, json.Unmarshal(raw, &reg))
	c, err := a.Clients.Get(context.Background(), reg.ClientID)
	Must(t, err)
	return Instance{Base: base, ClientID: reg.ClientID, Secret: reg.ClientSecret, ID: c.InstanceID}
}

// form posts form to path with the instance's client credentials; form
// itself is left as it is.
func (in Instance) form(t testing.TB, path string, form url.Values) (int, []byte) {
	t.Helper()
	with := url.Values{}
	for k, vs := range form {
		with[k] = vs
	}
	with.Set("client_id", in.ClientID)
	with.Set("client_secret", in.Secret)
	return post(t, in.Base+path, "application/x-www-form-urlencoded", strings.NewReader(with.Encode()))
}

// PostForm posts form to an OAuth endpoint with the instance's client
// credentials and returns the status and the answer read as a JSON object
// (nil when it is not one).
func (in Instance) PostForm(t testing.TB, path string, form url.Values) (int, map[string]any) {
	t.Helper()
	status, body := in.form(t, path, form)
	var out map[string]any
	_ = json.Unmarshal(body, &out)
	return status, out
}

// Token is the instance's own access token (the client-credentials grant);
// the test fails unless it gets one.
func (in Instance) Token(t testing.TB) string {
	t.Helper()
	status, body := in.form(t, "/oauth2/token", url.Values{"grant_type": {"client_credentials"}})
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	_ = json.Unmarshal(body, &tok)
	if status != http.StatusOK || tok.AccessToken == "" {
		t.Fatalf("instance token: %d %s", status, body)
	}
	return tok.AccessToken
}

// DeviceAuthorization is the answer to POST /oauth2/device/authorize.
type DeviceAuthorization struct {
	DeviceCode              string `json:"device_code"`
	UserCode                string `json:"user_code"`
	VerificationURIComplete string `json:"verification_uri_complete"`
}

// StartDeviceFlow starts a device flow at the instance asking for scope;
// the test fails unless it starts.
func (in Instance) StartDeviceFlow(t testing.TB, scope string) DeviceAuthorization {
	t.Helper()
	status, body := in.form(t, "/oauth2/device/authorize", url.Values{"scope": {scope}})
	var da DeviceAuthorization
	_ = json.Unmarshal(body, &da)
	if status != http.StatusOK || da.UserCode == "" || da.DeviceCode == "" {
		t.Fatalf("device authorize: %d %s", status, body)
	}
	return da
}

// PollDevice redeems the device code once at the token endpoint, as the
// instance polls: the status, the answer read as a JSON object (nil when it
// is not one) and the answer itself.
func (in Instance) PollDevice(t testing.TB, deviceCode string) (int, map[string]any, []byte) {
	t.Helper()
	status, body := in.form(t, "/oauth2/token", url.Values{
		"grant_type": {"urn:ietf:params:oauth:grant-type:device_code"}, "device_code": {deviceCode}})
	var out map[string]any
	_ = json.Unmarshal(body, &out)
	return status, out, body
}

// Tokens are the tokens a device flow ends with.
type Tokens struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
}

// SignIn runs a device flow at the instance for userID asking for scope,
// approving it directly (a.Devices, as a page or headless approval does
// once it has decided), and returns the tokens; the test fails unless it
// gets them.
func (in Instance) SignIn(t testing.TB, a *app.App, userID, scope string) Tokens {
	t.Helper()
	da := in.StartDeviceFlow(t, scope)
	Must(t, a.Devices.Approve(context.Background(), da.UserCode, userID, strings.Fields(scope)))
	status, _, body := in.PollDevice(t, da.DeviceCode)
	var tok Tokens
	_ = json.Unmarshal(body, &tok)
	if status != http.StatusOK || tok.AccessToken == "" {
		t.Fatalf("device token: %d %s", status, body)
	}
	return tok
}

// post sends body to u and returns the status and the answer.
func post(t testing.TB, u, contentType string, body io.Reader) (int, []byte) {
	t.Helper()
	resp, err := http.Post(u, contentType, body)
	Must(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	Must(t, err)
	return resp.StatusCode, raw
}
