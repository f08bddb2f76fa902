package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/caido-cloud/caido-cloud/access"
	"github.com/caido-cloud/caido-cloud/app"
	"github.com/caido-cloud/caido-cloud/assistant/assistanttest"
	"github.com/caido-cloud/caido-cloud/authz"
	"github.com/caido-cloud/caido-cloud/backup"
	"github.com/caido-cloud/caido-cloud/config"
	"github.com/caido-cloud/caido-cloud/internal/testenv"
	"github.com/caido-cloud/caido-cloud/oidc"
	"github.com/caido-cloud/caido-cloud/oidc/signing"
	"github.com/caido-cloud/caido-cloud/pats"
)

// The scale-out proof: two `serve` processes (replicas A and B) on one
// PostgreSQL and one OpenFGA, one issuer, a mixed load spread over both for
// CAIDO_CLOUD_SCALE_SECONDS (30 by default). At the end: no 5xx and no
// failed request, one assistant_usage row per successful completion, no
// revoked access usable past its documented bound, a key rotated on A used
// and verified by B, one backup for the day between them, both still
// healthy.

const (
	scaleWorkers = 6 // the machine has 2 cores
	// scaleScope is what every sign-in asks for: the assistant needs its
	// scope, refresh needs offline.
	scaleScope  = "profile:read assistant offline"
	deviceGrant = "urn:ietf:params:oauth:grant-type:device_code"
	// scaleAwait bounds waiting for something the product promises
	// "eventually" (OpenFGA catching up with a pending change, the backup
	// finishing): long, because a pass does not wait for it.
	scaleAwait = 30 * time.Second
)

// scaleReplica is one `serve` process.
type scaleReplica struct {
	name, addr, admin string
	cmd               *exec.Cmd
	out               testenv.Buffer
	exited            chan struct{}
	waitErr           error // set before exited closes
}

func (r *scaleReplica) alive() bool {
	select {
	case <-r.exited:
		return false
	default:
		return true
	}
}

// startScaleReplica starts `serve` on addr, with its operator listener on
// admin; it is stopped with SIGTERM when the test ends, and must exit 0.
func startScaleReplica(t *testing.T, name string, env []string, addr, admin string) *scaleReplica {
	t.Helper()
	r := &scaleReplica{name: name, addr: addr, admin: admin, exited: make(chan struct{})}
	r.cmd = exec.Command(bin, "serve")
	r.cmd.Env = append(slices.Clone(env), "CAIDO_CLOUD_LISTEN_ADDR="+addr, "CAIDO_CLOUD_ADMIN_LISTEN_ADDR="+admin)
	r.cmd.Stdout, r.cmd.Stderr = &r.out, &r.out
	testenv.Must(t, r.cmd.Start())
	go func() {
		r.waitErr = r.cmd.Wait()
		close(r.exited)
	}()
	t.Cleanup(func() {
		if !r.alive() {
			return // reported by the health check
		}
		_ = r.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-r.exited:
			if r.waitErr != nil {
				t.Errorf("replica %s after SIGTERM: %v\n%s", name, r.waitErr, r.out.String())
			}
		case <-time.After(30 * time.Second):
			_ = r.cmd.Process.Kill()
			t.Errorf("replica %s did not stop within 30s of SIGTERM", name)
		}
	})
	return r
}

// waitReady waits (bounded) until the replica's /readyz answers 200.
func (r *scaleReplica) waitReady(t *testing.T, client *http.Client) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := client.Get("http://" + r.addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if !r.alive() {
			t.Fatalf("replica %s exited: %v\n%s", r.name, r.waitErr, r.out.String())
		}
		if time.Now().After(deadline) {
			t.Fatalf("replica %s not ready within 60s\n%s", r.name, r.out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// problems are the replica's log lines at WARN or above.
func (r *scaleReplica) problems() []string {
	var out []string
	for line := range strings.Lines(r.out.String()) {
		if strings.Contains(line, `"level":"WARN"`) || strings.Contains(line, `"level":"ERROR"`) {
			out = append(out, strings.TrimSpace(line))
		}
	}
	return out
}

// kindStats is what one kind of request got.
type kindStats struct {
	statuses  map[int]int
	latencies []time.Duration
}

// scaleStats records every request's kind, replica, status and latency.
type scaleStats struct {
	mu       sync.Mutex
	kinds    map[string]*kindStats
	replicas map[string]map[int]int
	statuses map[int]int
	// serverErrors are the 5xx answers and the requests that got no answer.
	serverErrors []string
	total        int
}

func (s *scaleStats) add(kind, replica string, status int, took time.Duration, detail func() string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.kinds == nil {
		s.kinds, s.replicas, s.statuses = map[string]*kindStats{}, map[string]map[int]int{}, map[int]int{}
	}
	k := s.kinds[kind]
	if k == nil {
		k = &kindStats{statuses: map[int]int{}}
		s.kinds[kind] = k
	}
	k.statuses[status]++
	k.latencies = append(k.latencies, took)
	if s.replicas[replica] == nil {
		s.replicas[replica] = map[int]int{}
	}
	s.replicas[replica][status]++
	s.statuses[status]++
	s.total++
	if status == 0 || status >= 500 {
		s.serverErrors = append(s.serverErrors, detail())
	}
}

// scaleInstance is a registered instance and its credentials.
type scaleInstance struct {
	clientID, secret, id string
}

// scaleSession is a user signed in at an instance.
type scaleSession struct {
	inst            *scaleInstance
	userID          string
	access, refresh string
	// next is the replica (0: A, 1: B) the next refresh goes to.
	next int
}

// revokedToken is access that was taken away: its tokens must never work again.
type revokedToken struct {
	why             string
	inst            *scaleInstance
	access, refresh string
}

type scaleLoad struct {
	t        *testing.T
	a        *app.App
	replicas [2]*scaleReplica
	client   *http.Client
	stats    scaleStats

	failures atomic.Int64
	// completions counts 200s of /instance/assistant/complete, by user.
	mu          sync.Mutex
	completions map[string]int
	revoked     []revokedToken
	// revocationSeen is, per grant revocation and replica, how long after
	// OpenFGA had it the replica refused the grantee's token.
	revocationSeen []time.Duration

	grants, grantRevocations, logouts atomic.Int64
	// pending counts changes whose HTTP answer came before OpenFGA had them.
	pendingClaims, pendingGrants, pendingRevocations atomic.Int64
	revokedButAnswered                               atomic.Int64
}

// failf reports a broken promise; past 40 reports only the count grows.
func (l *scaleLoad) failf(format string, args ...any) {
	if n := l.failures.Add(1); n <= 40 {
		l.t.Errorf(format, args...)
	}
}

// do sends one request and records it; status 0: no answer.
func (l *scaleLoad) do(kind string, r *scaleReplica, method, path string, header http.Header, body []byte) (int, []byte) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, "http://"+r.addr+path, rd)
	if err != nil {
		l.failf("%s: %v", kind, err)
		return 0, nil
	}
	for k, v := range header {
		req.Header[k] = v
	}
	start := time.Now()
	resp, err := l.client.Do(req)
	if err != nil {
		l.stats.add(kind, r.name, 0, time.Since(start), func() string {
			return fmt.Sprintf("%s %s %s %s on %s: no answer: %v", start.Format("15:04:05.000"), kind, method, path, r.name, err)
		})
		return 0, nil
	}
	raw, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	took := time.Since(start)
	if err != nil {
		l.stats.add(kind, r.name, 0, took, func() string {
			return fmt.Sprintf("%s %s %s %s on %s: %d, body cut: %v", start.Format("15:04:05.000"), kind, method, path, r.name, resp.StatusCode, err)
		})
		return 0, nil
	}
	l.stats.add(kind, r.name, resp.StatusCode, took, func() string {
		return fmt.Sprintf("%s %s %s %s on %s: %d %s", start.Format("15:04:05.000"), kind, method, path, r.name, resp.StatusCode, excerpt(raw))
	})
	return resp.StatusCode, raw
}

func excerpt(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

// form posts a form with the instance's credentials and decodes a JSON answer.
func (l *scaleLoad) form(kind string, r *scaleReplica, path string, inst *scaleInstance, kv ...string) (int, map[string]any) {
	v := url.Values{"client_id": {inst.clientID}, "client_secret": {inst.secret}}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	status, raw := l.do(kind, r, http.MethodPost, path,
		http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, []byte(v.Encode()))
	var body map[string]any
	_ = json.Unmarshal(raw, &body)
	return status, body
}

// bearer sends JSON (when in is not nil) with a Bearer token.
func (l *scaleLoad) bearer(kind string, r *scaleReplica, method, path, token string, in any) (int, []byte) {
	h := http.Header{}
	if token != "" {
		h.Set("Authorization", "Bearer "+token)
	}
	var body []byte
	if in != nil {
		body, _ = json.Marshal(in)
		h.Set("Content-Type", "application/json")
	}
	return l.do(kind, r, method, path, h, body)
}

func str(m map[string]any, k string) string {
	s, _ := m[k].(string)
	return s
}

// kidOf is the key id in a JWT's header.
func kidOf(token string) string {
	head, _, _ := strings.Cut(token, ".")
	raw, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil {
		return ""
	}
	var h struct {
		Kid string `json:"kid"`
	}
	_ = json.Unmarshal(raw, &h)
	return h.Kid
}

// awaitCheck waits until OpenFGA answers want for user relation object; it
// says whether it had to wait (the change was pending) and when OpenFGA was
// last seen answering want.
func (l *scaleLoad) awaitCheck(userID, relation, object string, want bool) (pending bool, at time.Time) {
	ctx := context.Background()
	deadline := time.Now().Add(scaleAwait)
	for {
		got, err := l.a.Authz.Check(ctx, authz.UserObject(userID), relation, object)
		at = time.Now()
		if err == nil && got == want {
			return pending, at
		}
		if at.After(deadline) {
			l.failf("OpenFGA still answers %s %s %s = %v (%v) %s after the change's HTTP answer", userID, relation, object, got, err, scaleAwait)
			return true, at
		}
		pending = true
		time.Sleep(50 * time.Millisecond)
	}
}

// register registers an instance on r and claims it for owner.
func (l *scaleLoad) register(r *scaleReplica, owner access.User, name string) *scaleInstance {
	ctx := context.Background()
	status, raw := l.bearer("register", r, http.MethodPost, "/oauth2/register", "", map[string]any{
		"scope":       scaleScope,
		"grant_types": []string{"client_credentials", deviceGrant, "refresh_token"},
	})
	var reg struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	if status != http.StatusCreated || json.Unmarshal(raw, &reg) != nil || reg.ClientID == "" {
		l.failf("register on %s: %d %s", r.name, status, excerpt(raw))
		return nil
	}
	c, err := l.a.Clients.Get(ctx, reg.ClientID)
	if err != nil {
		l.failf("the client %s registered on %s: %v", reg.ClientID, r.name, err)
		return nil
	}
	inst := &scaleInstance{clientID: reg.ClientID, secret: reg.ClientSecret, id: c.InstanceID}
	ch, err := l.a.Access.ClaimInstance(ctx, inst.id, owner.ID, owner.DefaultWorkspaceID, name)
	if err != nil {
		l.failf("claim %s: %v", inst.id, err)
		return nil
	}
	if ch.Pending {
		// Documented: the claim reaches OpenFGA later; sign-ins wait for it.
		l.pendingClaims.Add(1)
		l.awaitCheck(owner.ID, "can_use", authz.InstanceObject(inst.id), true)
	}
	return inst
}

// signIn runs a device flow: authorized on replica x, approved (as the
// dashboard does), redeemed on the other replica.
func (l *scaleLoad) signIn(inst *scaleInstance, userID string, x int) *scaleSession {
	from, to := l.replicas[x], l.replicas[1-x]
	status, da := l.form("device_authorize", from, "/oauth2/device/authorize", inst, "scope", scaleScope)
	if status != http.StatusOK || str(da, "user_code") == "" {
		l.failf("device authorize on %s: %d %v", from.name, status, da)
		return nil
	}
	if err := l.a.Devices.Approve(context.Background(), str(da, "user_code"), userID, strings.Fields(scaleScope)); err != nil {
		l.failf("approve %s: %v", str(da, "user_code"), err)
		return nil
	}
	status, tok := l.form("device_token", to, "/oauth2/token", inst, "grant_type", deviceGrant, "device_code", str(da, "device_code"))
	if status != http.StatusOK || str(tok, "access_token") == "" || str(tok, "refresh_token") == "" {
		l.failf("redeem on %s a device code authorized on %s: %d %v", to.name, from.name, status, tok)
		return nil
	}
	return &scaleSession{inst: inst, userID: userID, access: str(tok, "access_token"), refresh: str(tok, "refresh_token"), next: x}
}

// refresh rotates the session's refresh token, alternating replicas.
func (l *scaleLoad) refresh(s *scaleSession) bool {
	r := l.replicas[s.next]
	s.next = 1 - s.next
	status, tok := l.form("refresh", r, "/oauth2/token", s.inst, "grant_type", "refresh_token", "refresh_token", s.refresh)
	if status != http.StatusOK || str(tok, "access_token") == "" || str(tok, "refresh_token") == "" {
		l.failf("refresh on %s: %d %v", r.name, status, tok)
		return false
	}
	s.access, s.refresh = str(tok, "access_token"), str(tok, "refresh_token")
	return true
}

func (l *scaleLoad) session(s *scaleSession, r *scaleReplica) {
	if status, raw := l.bearer("session", r, http.MethodGet, "/instance/user/session", s.access, nil); status != http.StatusOK {
		l.failf("GET /instance/user/session on %s: %d %s", r.name, status, excerpt(raw))
	}
}

func (l *scaleLoad) complete(s *scaleSession, r *scaleReplica, n int) {
	status, raw := l.bearer("assistant", r, http.MethodPost, "/instance/assistant/complete", s.access, map[string]any{
		"model":    "test-" + assistanttest.OK,
		"messages": []map[string]string{{"role": "user", "content": "hello " + strconv.Itoa(n)}},
	})
	var out struct {
		Usage struct {
			Credits int64 `json:"credits"`
		} `json:"usage"`
	}
	if status != http.StatusOK || json.Unmarshal(raw, &out) != nil || out.Usage.Credits <= 0 {
		l.failf("assistant complete on %s: %d %s", r.name, status, excerpt(raw))
		return
	}
	l.mu.Lock()
	l.completions[s.userID]++
	l.mu.Unlock()
}

// expectRefused checks that the session's tokens stop working on both
// replicas: every request that starts later than bound after t0 must be
// refused (401), and its refresh token must be refused too.
func (l *scaleLoad) expectRefused(s *scaleSession, why string, t0 time.Time, bound time.Duration, record bool) {
	for _, r := range l.replicas {
		for {
			start := time.Now()
			status, raw := l.bearer("revoked_check", r, http.MethodGet, "/instance/user/session", s.access, nil)
			if status == http.StatusUnauthorized {
				if record {
					l.mu.Lock()
					l.revocationSeen = append(l.revocationSeen, max(0, start.Sub(t0)))
					l.mu.Unlock()
				}
				break
			}
			if status != http.StatusOK {
				l.failf("%s: GET /instance/user/session on %s: %d %s, want 401", why, r.name, status, excerpt(raw))
				break
			}
			if start.Sub(t0) > bound {
				l.revokedButAnswered.Add(1)
				l.failf("%s: revoked access still usable: %s accepted the token %s after the revocation reached OpenFGA (bound %s)",
					why, r.name, start.Sub(t0).Round(time.Millisecond), bound)
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	for _, r := range l.replicas {
		if status, tok := l.form("revoked_refresh", r, "/oauth2/token", s.inst, "grant_type", "refresh_token", "refresh_token", s.refresh); status != http.StatusBadRequest {
			l.failf("%s: revoked access still usable: refresh on %s answered %d %v, want 400", why, r.name, status, tok)
		}
	}
	l.mu.Lock()
	l.revoked = append(l.revoked, revokedToken{why: why, inst: s.inst, access: s.access, refresh: s.refresh})
	l.mu.Unlock()
}

// logout revokes the session's refresh token (RFC 7009): the session ends,
// and with it the access token, at once, on both replicas.
func (l *scaleLoad) logout(s *scaleSession, r *scaleReplica) {
	status, body := l.form("logout", r, "/oauth2/revoke", s.inst, "token", s.refresh, "token_type_hint", "refresh_token")
	if status != http.StatusOK {
		l.failf("revoke a refresh token on %s: %d %v", r.name, status, body)
		return
	}
	l.logouts.Add(1)
	// The session is read on every request: no delay is allowed.
	l.expectRefused(s, "logout on "+r.name, time.Now(), 0, false)
}

// grantAndRevoke shares inst with grantee through the HTTP API of replica
// x, signs the grantee in, uses the session on both replicas, then revokes
// the grant through the other replica and checks the grantee is refused
// everywhere within oidc.DecisionTTL of OpenFGA having the revocation.
func (l *scaleLoad) grantAndRevoke(inst *scaleInstance, pat string, grantee access.User, x int, n int) {
	on, off := l.replicas[x], l.replicas[1-x]
	status, raw := l.bearer("grant", on, http.MethodPost, "/api/v1/instances/"+inst.id+"/grants", pat, map[string]any{"user_email": grantee.Email})
	if status != http.StatusAccepted { // a share by email: 202 whatever the address
		l.failf("grant on %s: %d %s", on.name, status, excerpt(raw))
		return
	}
	l.grants.Add(1)
	if pending, _ := l.awaitCheck(grantee.ID, "can_use", authz.InstanceObject(inst.id), true); pending {
		l.pendingGrants.Add(1)
	}
	s := l.signIn(inst, grantee.ID, x)
	if s == nil {
		return
	}
	l.session(s, on)
	l.session(s, off)
	l.complete(s, l.replicas[n%2], n)

	status, raw = l.bearer("revoke_grant", off, http.MethodDelete, "/api/v1/instances/"+inst.id+"/grants/"+grantee.ID, pat, nil)
	answered := time.Now()
	if status != http.StatusOK {
		l.failf("revoke the grant on %s: %d %s", off.name, status, excerpt(raw))
		return
	}
	l.grantRevocations.Add(1)
	// The bound runs from when OpenFGA has the revocation: before the answer,
	// unless the change was pending (the HTTP API does not say; OpenFGA does).
	t0 := answered
	if pending, at := l.awaitCheck(grantee.ID, "can_use", authz.InstanceObject(inst.id), false); pending {
		l.pendingRevocations.Add(1)
		t0 = at
	}
	l.expectRefused(s, "grant revoked on "+off.name, t0, oidc.DecisionTTL, true)
	// The assistant is behind the same check.
	if status, raw := l.bearer("revoked_check", l.replicas[n%2], http.MethodPost, "/instance/assistant/complete", s.access, map[string]any{
		"model": "test-" + assistanttest.OK, "messages": []map[string]string{{"role": "user", "content": "still there?"}},
	}); status != http.StatusUnauthorized {
		l.failf("grant revoked: revoked access still usable: assistant on %s answered %d %s, want 401", l.replicas[n%2].name, status, excerpt(raw))
		if status == http.StatusOK {
			l.revokedButAnswered.Add(1)
			l.mu.Lock()
			l.completions[s.userID]++ // it made a usage row all the same
			l.mu.Unlock()
		}
	}
}

// scaleWorker is one goroutine of the load, with its own users, instances
// and sessions (no two workers share a refresh token).
type scaleWorker struct {
	l        *scaleLoad
	n        int
	rng      *rand.Rand
	owner    access.User
	grantee  access.User
	pat      string
	insts    []*scaleInstance
	sessions []*scaleSession
	ops      int
}

func (w *scaleWorker) replica() *scaleReplica { return w.l.replicas[w.rng.IntN(2)] }

func (w *scaleWorker) run(until time.Time) {
	for time.Now().Before(until) && w.l.failures.Load() < 200 {
		w.ops++
		switch {
		case len(w.insts) == 0:
			w.addInstance()
			continue
		case len(w.sessions) == 0:
			w.addSession()
			continue
		}
		s := w.sessions[w.rng.IntN(len(w.sessions))]
		switch op := w.rng.IntN(20); {
		case op < 6:
			w.l.session(s, w.replica())
		case op < 10:
			if !w.l.refresh(s) {
				w.drop(s)
			}
		case op < 14:
			w.l.complete(s, w.replica(), w.ops)
		case op < 16:
			if len(w.sessions) >= 6 {
				old := w.sessions[0]
				w.drop(old)
				w.l.logout(old, w.replica())
			} else {
				w.addSession()
			}
		case op < 17:
			w.addInstance()
		case op < 19:
			w.l.grantAndRevoke(w.insts[w.rng.IntN(len(w.insts))], w.pat, w.grantee, w.rng.IntN(2), w.ops)
		default:
			if len(w.sessions) > 1 {
				w.drop(s)
				w.l.logout(s, w.replica())
			}
		}
	}
}

func (w *scaleWorker) addInstance() {
	inst := w.l.register(w.replica(), w.owner, fmt.Sprintf("scale %d.%d", w.n, w.ops))
	if inst == nil {
		return
	}
	w.insts = append(w.insts, inst)
	if len(w.insts) > 4 {
		w.insts = w.insts[1:]
	}
}

func (w *scaleWorker) addSession() {
	if s := w.l.signIn(w.insts[w.rng.IntN(len(w.insts))], w.owner.ID, w.rng.IntN(2)); s != nil {
		w.sessions = append(w.sessions, s)
	}
}

func (w *scaleWorker) drop(s *scaleSession) {
	w.sessions = slices.DeleteFunc(w.sessions, func(x *scaleSession) bool { return x == s })
}

// rotation is the key rotation half-way: through A's operator API, then
// checked from B.
type rotation struct {
	kids map[string]string
	// jwksSeen: how long after A's answer B's JWKS listed both new keys.
	jwksSeen time.Duration
	// bSigns: how long after A's answer B signed with the new key.
	bSigns time.Duration
}

func (l *scaleLoad) rotate(at time.Time, adminToken string, inst *scaleInstance, s *scaleSession) rotation {
	var rot rotation
	a, b := l.replicas[0], l.replicas[1]
	time.Sleep(time.Until(at))
	instanceToken := func(r *scaleReplica) string {
		status, tok := l.form("rotation", r, "/oauth2/token", inst, "grant_type", "client_credentials")
		if status != http.StatusOK || str(tok, "access_token") == "" {
			l.failf("client_credentials on %s: %d %v", r.name, status, tok)
			return ""
		}
		return str(tok, "access_token")
	}
	oldKid := kidOf(instanceToken(b))

	status, raw := l.do("rotation", &scaleReplica{name: "A-admin", addr: a.admin}, http.MethodPost, "/admin/v1/keys/rotate",
		http.Header{"Authorization": {"Bearer " + adminToken}}, nil)
	rotated := time.Now()
	var out struct {
		Keys map[string]string `json:"keys"`
	}
	if status != http.StatusOK || json.Unmarshal(raw, &out) != nil || out.Keys["ES256"] == "" || out.Keys["RS256"] == "" {
		l.failf("POST /admin/v1/keys/rotate on A's operator listener: %d %s", status, excerpt(raw))
		return rot
	}
	rot.kids = out.Keys
	newKid := out.Keys["ES256"]
	if newKid == oldKid {
		l.failf("the rotation kept the key %s", oldKid)
	}

	// B's JWKS, found through B's discovery document, lists the new keys:
	// it is read from PostgreSQL on every request.
	status, raw = l.do("rotation", b, http.MethodGet, "/.well-known/openid-configuration", nil, nil)
	var disc struct {
		JWKSURI string `json:"jwks_uri"`
	}
	if status != http.StatusOK || json.Unmarshal(raw, &disc) != nil || disc.JWKSURI == "" {
		l.failf("discovery on B: %d %s", status, excerpt(raw))
		return rot
	}
	u, err := url.Parse(disc.JWKSURI)
	if err != nil {
		l.failf("jwks_uri %q: %v", disc.JWKSURI, err)
		return rot
	}
	const jwksBound = 2 * time.Second
	for {
		start := time.Now()
		status, raw = l.do("rotation", b, http.MethodGet, u.Path, nil, nil)
		var set struct {
			Keys []struct {
				Kid string `json:"kid"`
			} `json:"keys"`
		}
		_ = json.Unmarshal(raw, &set)
		var kids []string
		for _, k := range set.Keys {
			kids = append(kids, k.Kid)
		}
		if status == http.StatusOK && slices.Contains(kids, out.Keys["ES256"]) && slices.Contains(kids, out.Keys["RS256"]) &&
			slices.Contains(kids, oldKid) {
			rot.jwksSeen = time.Since(rotated)
			break
		}
		if start.Sub(rotated) > jwksBound {
			l.failf("B's JWKS (%s) does not list the new keys %v and the retired %s %s after the rotation on A: %d %v",
				u.Path, out.Keys, oldKid, start.Sub(rotated).Round(time.Millisecond), status, kids)
			break
		}
		time.Sleep(100 * time.Millisecond)
	}

	// A signs with the new key at once, and B verifies it.
	if tok := instanceToken(a); tok != "" {
		if k := kidOf(tok); k != newKid {
			l.failf("A signed with %s after rotating to %s", k, newKid)
		}
		if status, body := l.form("rotation", b, "/oauth2/introspect", inst, "token", tok); status != http.StatusOK || body["active"] != true {
			l.failf("B's introspection of A's token signed with the new key: %d %v", status, body)
		}
	}
	s.next = 0
	if l.refresh(s) {
		if k := kidOf(s.access); k != newKid {
			l.failf("A signed a user token with %s after rotating to %s", k, newKid)
		}
		l.session(s, b)
	}

	// B signs with the new key within signing.DefaultRefreshEvery; until
	// then its tokens, signed with the retired key, still verify on A.
	checkedOld := false
	for {
		start := time.Now()
		tok := instanceToken(b)
		if tok == "" {
			break
		}
		k := kidOf(tok)
		if k == newKid {
			rot.bSigns = time.Since(rotated)
			break
		}
		if !checkedOld {
			checkedOld = true
			if status, body := l.form("rotation", a, "/oauth2/introspect", inst, "token", tok); status != http.StatusOK || body["active"] != true {
				l.failf("A's introspection of B's token signed with the retired key %s: %d %v", k, status, body)
			}
		}
		if start.Sub(rotated) > signing.DefaultRefreshEvery {
			l.failf("B still signs with %s %s after the rotation to %s (promised: within %s)",
				k, start.Sub(rotated).Round(time.Millisecond), newKid, signing.DefaultRefreshEvery)
			break
		}
		time.Sleep(time.Second)
	}
	return rot
}

// utcDays is how many UTC days [from, to] touches.
func utcDays(from, to time.Time) int {
	d0, d1 := from.UTC().Truncate(24*time.Hour), to.UTC().Truncate(24*time.Hour)
	return int(d1.Sub(d0)/(24*time.Hour)) + 1
}

func percentile(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, len(s)*p/100)]
}

func TestScaleOut(t *testing.T) {
	ctx := context.Background()
	seconds := 30
	if v := os.Getenv("CAIDO_CLOUD_SCALE_SECONDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("CAIDO_CLOUD_SCALE_SECONDS=%q: want a whole number of seconds", v)
		}
		seconds = n
	}
	loadFor := time.Duration(seconds) * time.Second
	testenv.Env(t, "PG_BIN_DIR") // the backups need pg_dump: `dev exec` sets it

	cfg := testenv.Config(t)
	a := testenv.App(t, cfg, testenv.Options{}) // migrates, creates the OpenFGA store
	up := assistanttest.New(t)
	up.Delay = 20 * time.Millisecond // so that completions overlap
	for _, m := range assistanttest.Models() {
		testenv.Must(t, a.Assistant.UpsertModel(ctx, m))
	}
	keyset, err := backup.NewKeyset()
	testenv.Must(t, err)
	backupDir := t.TempDir()
	adminToken := config.NewMasterKey() // 44 characters
	addrs := [2]string{"127.0.0.1:" + strconv.Itoa(freePort(t)), "127.0.0.1:" + strconv.Itoa(freePort(t))}
	admins := [2]string{"127.0.0.1:" + strconv.Itoa(freePort(t)), "127.0.0.1:" + strconv.Itoa(freePort(t))}
	env := append(environ("DATABASE_URL", "OPENFGA_API_URL", "OPENFGA_API_TOKEN"),
		"DATABASE_URL="+cfg.DatabaseURL,
		"OPENFGA_API_URL="+cfg.OpenFGAURL,
		"OPENFGA_API_TOKEN="+cfg.OpenFGAToken,
		"CAIDO_CLOUD_MASTER_KEY="+base64.StdEncoding.EncodeToString(cfg.MasterKey),
		"CAIDO_CLOUD_PUBLIC_URL=http://"+addrs[0], // one issuer for both
		"CAIDO_CLOUD_ADMIN_TOKEN="+adminToken,
		"CAIDO_CLOUD_BACKUP_DIR="+backupDir,
		"CAIDO_CLOUD_BACKUP_KEYSET="+keyset,
		"CAIDO_CLOUD_BACKUP_INTERVAL=24h", // the daily job
		"CAIDO_CLOUD_ASSISTANT_BASE_URL="+up.BaseURL(),
		"CAIDO_CLOUD_ASSISTANT_API_KEY="+assistanttest.APIKey,
		"CAIDO_CLOUD_DEVICE_POLL_INTERVAL=1s",
		// Every registration comes from 127.0.0.1: the per-IP limit is not
		// what this test measures.
		"CAIDO_CLOUD_REGISTRATION_LIMIT=1000000",
		// Each worker shares by email over and over: nor is the limit on
		// mails sent on a sharer's behalf.
		"CAIDO_CLOUD_SHARE_MAIL_LIMIT=1000000",
		"CAIDO_CLOUD_LOG_LEVEL=info",
	)
	client := &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 2 * scaleWorkers, IdleConnTimeout: 30 * time.Second},
	}
	t.Cleanup(client.CloseIdleConnections)

	// Both started at once, as a deployment does: both schedulers look for
	// the day's backup at the same moment.
	started := time.Now()
	l := &scaleLoad{t: t, a: a, client: client, completions: map[string]int{}}
	l.replicas[0] = startScaleReplica(t, "A", env, addrs[0], admins[0])
	l.replicas[1] = startScaleReplica(t, "B", env, addrs[1], admins[1])
	for _, r := range l.replicas {
		r.waitReady(t, client)
	}
	t.Logf("replicas up in %s: A on %s (operator %s), B on %s (operator %s)",
		time.Since(started).Round(time.Millisecond), addrs[0], admins[0], addrs[1], admins[1])

	// Each worker: an owner (on a plan with assistant credits) with a
	// personal access token for the grants API, and a user to share with.
	newUser := func(email string) access.User {
		u := testenv.User(t, a, email)
		_, err := a.DB.Exec(ctx, `UPDATE users SET plan = 'individual' WHERE id = $1`, u.ID)
		testenv.Must(t, err)
		return u
	}
	seed := uint64(time.Now().UnixNano())
	workers := make([]*scaleWorker, scaleWorkers)
	for i := range workers {
		w := &scaleWorker{l: l, n: i, rng: rand.New(rand.NewPCG(seed, uint64(i)))}
		w.owner = newUser(fmt.Sprintf("owner%d@example.test", i))
		w.grantee = newUser(fmt.Sprintf("grantee%d@example.test", i))
		// A share by email reaches only a verified address.
		_, err = a.DB.Exec(ctx, `UPDATE users SET email_verified_at = now() WHERE id = $1`, w.grantee.ID)
		testenv.Must(t, err)
		w.pat, _, err = a.PATs.Create(ctx, pats.NewToken{UserID: w.owner.ID, Name: "scale test", Via: pats.ViaOperator})
		testenv.Must(t, err)
		workers[i] = w
	}
	keeper := newUser("keeper@example.test")
	rotInst := l.register(l.replicas[0], keeper, "rotation")
	if rotInst == nil {
		t.FailNow()
	}
	rotSession := l.signIn(rotInst, keeper.ID, 1)
	if rotSession == nil {
		t.FailNow()
	}

	t.Logf("load: %d workers for %s, seed %d", scaleWorkers, loadFor, seed)
	loadStart := time.Now()
	until := loadStart.Add(loadFor)
	var rot rotation
	rotated := make(chan struct{})
	go func() {
		defer close(rotated)
		rot = l.rotate(loadStart.Add(loadFor/2), adminToken, rotInst, rotSession)
	}()
	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Go(func() { w.run(until) })
	}
	wg.Wait()
	loadTook := time.Since(loadStart)
	l.stats.mu.Lock()
	loadRequests := l.stats.total
	l.stats.mu.Unlock()
	// B may take up to signing.DefaultRefreshEvery after the rotation to
	// sign with the new key: the check goes on past the load if need be.
	<-rotated
	rotationTook := time.Since(loadStart)

	// Every access taken away during the run is still refused, by both.
	l.mu.Lock()
	revoked := slices.Clone(l.revoked)
	l.mu.Unlock()
	for _, rv := range revoked {
		for _, r := range l.replicas {
			if status, raw := l.bearer("final_check", r, http.MethodGet, "/instance/user/session", rv.access, nil); status != http.StatusUnauthorized {
				l.failf("at the end, revoked access (%s) still usable: %s answered %d %s", rv.why, r.name, status, excerpt(raw))
			}
			if status, _ := l.form("final_check", r, "/oauth2/token", rv.inst, "grant_type", "refresh_token", "refresh_token", rv.refresh); status != http.StatusBadRequest {
				l.failf("at the end, revoked access (%s) still usable: refresh on %s answered %d", rv.why, r.name, status)
			}
		}
	}

	// One usage row per successful completion, and nothing left reserved.
	l.mu.Lock()
	completions := 0
	for _, n := range l.completions {
		completions += n
	}
	perUser := maps.Clone(l.completions)
	l.mu.Unlock()
	var usageRows, usageCredits, spent, reserved int64
	testenv.Must(t, a.DB.QueryRow(ctx, `SELECT count(*), coalesce(sum(credits), 0)::bigint FROM assistant_usage`).Scan(&usageRows, &usageCredits))
	testenv.Must(t, a.DB.QueryRow(ctx, `SELECT coalesce(sum(spent), 0)::bigint, coalesce(sum(reserved), 0)::bigint FROM assistant_credit_months`).Scan(&spent, &reserved))
	if usageRows != int64(completions) {
		t.Errorf("assistant_usage has %d rows for %d successful completions", usageRows, completions)
	}
	rows, err := a.DB.Query(ctx, `SELECT user_id::text, count(*) FROM assistant_usage GROUP BY user_id`)
	testenv.Must(t, err)
	for rows.Next() {
		var user string
		var n int
		testenv.Must(t, rows.Scan(&user, &n))
		if perUser[user] != n {
			t.Errorf("user %s: %d usage rows for %d successful completions", user, n, perUser[user])
		}
		delete(perUser, user)
	}
	testenv.Must(t, rows.Err())
	for user, n := range perUser {
		if n > 0 {
			t.Errorf("user %s: no usage rows for %d successful completions", user, n)
		}
	}
	if reserved != 0 || spent != usageCredits {
		t.Errorf("credit months: %d spent, %d still reserved; usage rows sum to %d credits", spent, reserved, usageCredits)
	}

	// The daily backup ran once between the two replicas (once per UTC day
	// the run touched, should it straddle midnight).
	days := utcDays(started, time.Now())
	var runs, good, running int
	// A new day's backup waits for a replica's next look (once a minute).
	deadline := time.Now().Add(time.Minute + scaleAwait)
	for {
		testenv.Must(t, a.DB.QueryRow(ctx, `SELECT count(*),
			count(*) FILTER (WHERE finished_at IS NOT NULL AND error IS NULL AND file IS NOT NULL AND attempts = 1),
			count(*) FILTER (WHERE finished_at IS NULL)
			FROM backup_runs`).Scan(&runs, &good, &running))
		if running == 0 && runs >= days || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	var backupRows []string
	brows, err := a.DB.Query(ctx, `SELECT period, attempts, started_at, finished_at, coalesce(file, ''), coalesce(error, '') FROM backup_runs ORDER BY period`)
	testenv.Must(t, err)
	for brows.Next() {
		var period, startedAt time.Time
		var finishedAt *time.Time
		var attempts int
		var file, failure string
		testenv.Must(t, brows.Scan(&period, &attempts, &startedAt, &finishedAt, &file, &failure))
		backupRows = append(backupRows, fmt.Sprintf("period %s attempts %d started %s finished %v file %q error %q",
			period.UTC().Format(time.DateOnly), attempts, startedAt.UTC().Format("15:04:05.000"), finishedAt, file, failure))
	}
	testenv.Must(t, brows.Err())
	files, err := backup.List(backupDir)
	testenv.Must(t, err)
	tookBackup := map[string]int{}
	for _, r := range l.replicas {
		tookBackup[r.name] = strings.Count(r.out.String(), `"msg":"backed up the database"`)
	}
	if runs != days || good != days || len(files) != days || tookBackup["A"]+tookBackup["B"] != days {
		t.Errorf("the daily backup: %d backup_runs rows (%d finished at the first attempt), %d files, taken by A %d and B %d times; want %d of each:\n%s",
			runs, good, len(files), tookBackup["A"], tookBackup["B"], days, strings.Join(backupRows, "\n"))
	}

	// Both replicas are still up, ready, and run the backup scheduler.
	for _, r := range l.replicas {
		if !r.alive() {
			t.Errorf("replica %s exited during the run: %v\n%s", r.name, r.waitErr, r.out.String())
			continue
		}
		if status, raw := l.do("health", r, http.MethodGet, "/readyz", nil, nil); status != http.StatusOK {
			t.Errorf("replica %s /readyz: %d %s", r.name, status, excerpt(raw))
		}
		status, raw := l.do("health", &scaleReplica{name: r.name + "-admin", addr: r.admin}, http.MethodGet, "/readyz", nil, nil)
		var ready struct {
			Checks map[string]struct {
				Detail struct {
					Configured bool `json:"configured"`
				} `json:"detail"`
			} `json:"checks"`
		}
		if status != http.StatusOK || json.Unmarshal(raw, &ready) != nil || !ready.Checks["backup"].Detail.Configured {
			t.Errorf("replica %s operator /readyz: %d %s; want ready with the backup configured", r.name, status, excerpt(raw))
		}
	}

	// No 5xx, no request without an answer.
	l.stats.mu.Lock()
	defer l.stats.mu.Unlock()
	if n := len(l.stats.serverErrors); n > 0 {
		show := l.stats.serverErrors[:min(n, 20)]
		t.Errorf("%d requests got a 5xx or no answer:\n%s", n, strings.Join(show, "\n"))
	}

	// The summary.
	var b strings.Builder
	fmt.Fprintf(&b, "\nscale-out: 2 replicas, %d workers, %s of load (%s asked): %d requests, %.0f req/s; %d requests in all, the rotation's checks ending %s after the load began\n",
		scaleWorkers, loadTook.Round(time.Millisecond), loadFor, loadRequests, float64(loadRequests)/loadTook.Seconds(),
		l.stats.total, rotationTook.Round(time.Millisecond))
	kinds := make([]string, 0, len(l.stats.kinds))
	for k := range l.stats.kinds {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	fmt.Fprintf(&b, "%-18s %7s %9s %9s  %s\n", "kind", "count", "p50 ms", "p99 ms", "statuses")
	for _, k := range kinds {
		ks := l.stats.kinds[k]
		fmt.Fprintf(&b, "%-18s %7d %9.1f %9.1f  %s\n", k, len(ks.latencies),
			float64(percentile(ks.latencies, 50).Microseconds())/1000, float64(percentile(ks.latencies, 99).Microseconds())/1000,
			statusLine(ks.statuses))
	}
	names := make([]string, 0, len(l.stats.replicas))
	for r := range l.stats.replicas {
		names = append(names, r)
	}
	sort.Strings(names)
	for _, r := range names {
		n := 0
		for _, c := range l.stats.replicas[r] {
			n += c
		}
		fmt.Fprintf(&b, "replica %-8s %7d  %s\n", r, n, statusLine(l.stats.replicas[r]))
	}
	fmt.Fprintf(&b, "all statuses: %s\n", statusLine(l.stats.statuses))
	fmt.Fprintf(&b, "completions %d, usage rows %d (%d credits, %d spent, %d reserved)\n", completions, usageRows, usageCredits, spent, reserved)
	fmt.Fprintf(&b, "grants %d, grant revocations %d, logouts %d; pending at the HTTP answer: claims %d, grants %d, revocations %d; revoked but answered %d\n",
		l.grants.Load(), l.grantRevocations.Load(), l.logouts.Load(), l.pendingClaims.Load(), l.pendingGrants.Load(), l.pendingRevocations.Load(), l.revokedButAnswered.Load())
	l.mu.Lock()
	fmt.Fprintf(&b, "grant revocation refused after OpenFGA had it: p50 %s, max %s (bound %s, %d checks)\n",
		percentile(l.revocationSeen, 50).Round(time.Millisecond), percentile(l.revocationSeen, 100).Round(time.Millisecond), oidc.DecisionTTL, len(l.revocationSeen))
	l.mu.Unlock()
	fmt.Fprintf(&b, "key rotation on A: new keys %v; B's JWKS listed them after %s; B signed with the new key after %s\n",
		rot.kids, rot.jwksSeen.Round(time.Millisecond), rot.bSigns.Round(time.Millisecond))
	fmt.Fprintf(&b, "backups: %d UTC day(s), taken by A %d, B %d; rows:\n  %s\n", days, tookBackup["A"], tookBackup["B"], strings.Join(backupRows, "\n  "))
	fmt.Fprintf(&b, "failures reported: %d\n", l.failures.Load())
	for _, r := range l.replicas {
		p := r.problems()
		fmt.Fprintf(&b, "replica %s logged %d lines at WARN or above\n", r.name, len(p))
		for _, line := range p[:min(len(p), 15)] {
			fmt.Fprintf(&b, "  %s\n", line)
		}
	}
	t.Log(b.String())
	if os.Getenv("CAIDO_CLOUD_SCALE_LOGS") != "" {
		for _, r := range l.replicas {
			t.Logf("replica %s's log:\n%s", r.name, r.out.String())
		}
	}
}

func statusLine(m map[int]int) string {
	codes := make([]int, 0, len(m))
	for c := range m {
		codes = append(codes, c)
	}
	sort.Ints(codes)
	parts := make([]string, 0, len(codes))
	for _, c := range codes {
		name := strconv.Itoa(c)
		if c == 0 {
			name = "no-answer"
		}
		parts = append(parts, fmt.Sprintf("%s×%d", name, m[c]))
	}
	return strings.Join(parts, " ")
}
