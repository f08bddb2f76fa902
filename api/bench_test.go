package api_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"testing"

	"github.com/caido-cloud/caido-cloud/authz"
	"github.com/caido-cloud/caido-cloud/internal/testenv"
)

// BenchmarkUserSession loads, in one run, GET /instance/user/session with a
// valid user token (token check, one PostgreSQL query, the cached OpenFGA
// decision, the hourly ping), a raw OpenFGA Check of the same relation, and
// the static /healthz of the same server, at 32 concurrent clients. The
// session endpoint against the raw Check shows whether the decision cache
// earns its keep.
func BenchmarkUserSession(b *testing.B) {
	w := newWorld(b)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	get := func(path, token string) func(int) error {
		return func(int) error {
			req, _ := http.NewRequest(http.MethodGet, w.base+path, nil)
			if token != "" {
				req.Header.Set("Authorization", "Bearer "+token)
			}
			resp, err := client.Do(req)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			_, _ = io.Copy(io.Discard, resp.Body)
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("GET %s: %s", path, resp.Status)
			}
			return nil
		}
	}
	ctx := context.Background()
	check := func(int) error {
		ok, err := w.a.Authz.Check(ctx, authz.UserObject(w.owner.ID), "can_use", authz.InstanceObject(w.in.ID))
		if err == nil && !ok {
			err = fmt.Errorf("check denied")
		}
		return err
	}
	const connections = 32
	results := []testenv.LoadResult{
		testenv.Load(b, "raw OpenFGA check", connections, check),
		testenv.Load(b, "GET /instance/user/session", connections, get("/instance/user/session", w.userToken)),
		testenv.Load(b, "static /healthz", connections, get("/healthz", "")),
	}
	b.Log(testenv.LoadTable(results...))
}
