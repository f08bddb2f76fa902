package oidc_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/caido-cloud/caido-cloud/internal/testenv"
)

// BenchmarkIdentityEndpoints loads, in one run against one live server:
// a static endpoint of the same server (the ceiling), client-credentials
// issuance, device-code polling while pending, and introspection of a valid
// token. Each one's throughput as a ratio of the ceiling's is what stays
// comparable on a shared, noisy machine; the table is logged at the end.
func BenchmarkIdentityEndpoints(b *testing.B) {
	_, base := testenv.Serve(b, testenv.Config(b), testenv.Options{})
	inst := register(b, base, "profile:read", "client_credentials", deviceGrant)
	form := func(kv ...string) string {
		v := url.Values{"client_id": {inst.ClientID}, "client_secret": {inst.ClientSecret}}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v.Encode()
	}
	_, cc := postForm(b, base+"/oauth2/token", mustValues(form("grant_type", "client_credentials")))
	token := cc["access_token"].(string)
	// Many pending codes, polled round-robin; each answer is
	// authorization_pending or slow_down, both the pending path.
	var codes []string
	for range 64 {
		_, da := postForm(b, base+"/oauth2/device/authorize", mustValues(form("scope", "profile:read")))
		codes = append(codes, da["device_code"].(string))
	}

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	do := func(method, path, body string, ok func(status int, body []byte) bool) func(int) error {
		return func(int) error {
			req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
			if body != "" {
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			}
			resp, err := client.Do(req)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			raw, _ := io.ReadAll(resp.Body)
			if !ok(resp.StatusCode, raw) {
				return fmt.Errorf("%s %s: unexpected %d %s", method, path, resp.StatusCode, raw)
			}
			return nil
		}
	}
	status200 := func(s int, _ []byte) bool { return s == 200 }
	const concurrency = 8
	results := []testenv.LoadResult{
		testenv.Load(b, "static", concurrency, do("GET", "/healthz", "", status200)),
		testenv.Load(b, "client_credentials", concurrency, do("POST", "/oauth2/token", form("grant_type", "client_credentials"), status200)),
		testenv.Load(b, "device_poll_pending", concurrency, func(i int) error {
			return do("POST", "/oauth2/token", form("grant_type", deviceGrant, "device_code", codes[i%len(codes)]), func(s int, raw []byte) bool {
				var body struct {
					Error string `json:"error"`
				}
				_ = json.Unmarshal(raw, &body)
				return s == 400 && (body.Error == "authorization_pending" || body.Error == "slow_down")
			})(i)
		}),
		testenv.Load(b, "introspect", concurrency, do("POST", "/oauth2/introspect", form("token", token), func(s int, raw []byte) bool {
			var body struct {
				Active bool `json:"active"`
			}
			_ = json.Unmarshal(raw, &body)
			return s == 200 && body.Active
		})),
	}
	b.Log(testenv.LoadTable(results...))
}

func mustValues(encoded string) url.Values {
	v, err := url.ParseQuery(encoded)
	if err != nil {
		panic(err)
	}
	return v
}
