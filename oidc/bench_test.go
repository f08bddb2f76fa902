package oidc_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caido-cloud/caido-cloud/internal/testenv"
)

// BenchmarkIdentityEndpoints loads, in one run against one live server:
// a static endpoint of the same server (the ceiling), client-credentials
// issuance, device-code polling while pending, and introspection of a valid
// token. It reports requests/s, p50 and p99 for each and, at the end, each
// one's throughput as a ratio of the ceiling's, which is what stays
// comparable on a shared, noisy machine.
func BenchmarkIdentityEndpoints(b *testing.B) {
	_, base := testenv.Serve(b, testenv.Config(b), testenv.Options{})
	inst := register(b, base, "profile:read", "client_credentials", deviceGrant)
	creds := url.Values{"client_id": {inst.ClientID}, "client_secret": {inst.ClientSecret}}
	form := func(kv ...string) string {
		v := url.Values{}
		for k, vs := range creds {
			v[k] = vs
		}
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
	type result struct{ rps, p50, p99 float64 }
	results := map[string]result{}
	run := func(name string, req func(i int) (*http.Request, func(*http.Response) bool)) {
		b.Run(name, func(b *testing.B) {
			var mu sync.Mutex
			var all []time.Duration
			var n int
			var counter sync.Mutex
			b.SetParallelism(4)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				var mine []time.Duration
				for pb.Next() {
					counter.Lock()
					i := n
					n++
					counter.Unlock()
					r, ok := req(i)
					start := time.Now()
					resp, err := client.Do(r)
					if err != nil {
						b.Error(err)
						return
					}
					good := ok(resp)
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					mine = append(mine, time.Since(start))
					if !good {
						b.Errorf("%s: unexpected answer %s", name, resp.Status)
						return
					}
				}
				mu.Lock()
				all = append(all, mine...)
				mu.Unlock()
			})
			slices.Sort(all)
			if len(all) == 0 {
				return
			}
			r := result{
				rps: float64(len(all)) / b.Elapsed().Seconds(),
				p50: float64(all[len(all)/2].Microseconds()) / 1000,
				p99: float64(all[len(all)*99/100].Microseconds()) / 1000,
			}
			b.ReportMetric(r.rps, "req/s")
			b.ReportMetric(r.p50, "p50-ms")
			b.ReportMetric(r.p99, "p99-ms")
			results[name] = r
		})
	}
	status := func(code int) func(*http.Response) bool {
		return func(r *http.Response) bool { return r.StatusCode == code }
	}
	post := func(path, body string) *http.Request {
		r, _ := http.NewRequest(http.MethodPost, base+path, strings.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		return r
	}
	run("static", func(int) (*http.Request, func(*http.Response) bool) {
		r, _ := http.NewRequest(http.MethodGet, base+"/healthz", nil)
		return r, status(200)
	})
	run("client_credentials", func(int) (*http.Request, func(*http.Response) bool) {
		return post("/oauth2/token", form("grant_type", "client_credentials")), status(200)
	})
	run("device_poll_pending", func(i int) (*http.Request, func(*http.Response) bool) {
		return post("/oauth2/token", form("grant_type", deviceGrant, "device_code", codes[i%len(codes)])), func(r *http.Response) bool {
			var body struct {
				Error string `json:"error"`
			}
			_ = json.NewDecoder(r.Body).Decode(&body)
			return r.StatusCode == 400 && (body.Error == "authorization_pending" || body.Error == "slow_down")
		}
	})
	run("introspect", func(int) (*http.Request, func(*http.Response) bool) {
		return post("/oauth2/introspect", form("token", token)), func(r *http.Response) bool {
			var body struct {
				Active bool `json:"active"`
			}
			_ = json.NewDecoder(r.Body).Decode(&body)
			return r.StatusCode == 200 && body.Active
		}
	})
	ceiling := results["static"].rps
	var table strings.Builder
	fmt.Fprintf(&table, "\n%-22s %10s %8s %8s %8s\n", "endpoint", "req/s", "p50 ms", "p99 ms", "ratio")
	for _, name := range []string{"static", "client_credentials", "device_poll_pending", "introspect"} {
		r := results[name]
		fmt.Fprintf(&table, "%-22s %10.0f %8.2f %8.2f %8.2f\n", name, r.rps, r.p50, r.p99, r.rps/ceiling)
	}
	b.Log(table.String())
}

func mustValues(encoded string) url.Values {
	v, err := url.ParseQuery(encoded)
	if err != nil {
		panic(err)
	}
	return v
}
