package api_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/caido-cloud/caido-cloud/access"
	"github.com/caido-cloud/caido-cloud/api/public"
	"github.com/caido-cloud/caido-cloud/app"
	"github.com/caido-cloud/caido-cloud/assistant/assistanttest"
	"github.com/caido-cloud/caido-cloud/internal/testenv"
	"github.com/caido-cloud/caido-cloud/pats"
)

// The input sweep: every operation of our OpenAPI document that takes a
// body is sent bodies whose strings hold a NUL or bytes that are not UTF-8,
// and every operation with an id in its path or a string in its query is
// sent malformed ones. Each must be refused with a 4xx and change nothing:
// no such string reaches SQL, OpenFGA, a mail header or a page.

// sweepWorld is a running service with something for every operation to
// act on: anne owns a team (bob is a member) and a claimed instance, with a
// personal access token of her own and one of the team, and the instance's
// own and a user token for her with the assistant scope.
type sweepWorld struct {
	a         *app.App
	base      string
	anne, bob access.User
	teamID    string
	// pat is anne's token of no team; teamPAT her token of the team;
	// bobPAT bob's.
	pat, teamPAT, bobPAT string
	in                   testenv.Instance
	instanceTok          string
	userTok              string
	voucher              string
}

func newSweepWorld(t *testing.T) *sweepWorld {
	t.Helper()
	ctx := context.Background()
	up := assistanttest.New(t)
	cfg := testenv.Config(t)
	cfg.AssistantBaseURL, cfg.AssistantAPIKey = up.BaseURL(), assistanttest.APIKey
	w := &sweepWorld{}
	w.a, w.base = testenv.Serve(t, cfg, testenv.Options{})
	for _, m := range assistanttest.Models() {
		testenv.Must(t, w.a.Assistant.UpsertModel(ctx, m))
	}
	w.anne = testenv.User(t, w.a, "anne@example.test")
	w.bob = testenv.User(t, w.a, "bob@example.test")
	team, _, err := w.a.Access.CreateTeam(ctx, w.anne.ID, "Acme", "billing@acme.test")
	testenv.Must(t, err)
	w.teamID = team.ID
	_, err = w.a.Access.SetTeamMember(ctx, team.ID, w.bob.ID, access.RoleMember, false)
	testenv.Must(t, err)
	testenv.Seat(t, w.a, team.ID, w.anne.ID)
	w.pat = sweepPAT(t, w.a, w.anne.ID, "")
	w.teamPAT = sweepPAT(t, w.a, w.anne.ID, team.ID)
	w.bobPAT = sweepPAT(t, w.a, w.bob.ID, "")
	w.in = testenv.RegisterInstance(t, w.a, w.base, "profile:read assistant offline")
	_, err = w.a.Access.ClaimInstance(ctx, w.in.ID, w.anne.ID, w.anne.DefaultWorkspaceID, "laptop")
	testenv.Must(t, err)
	w.instanceTok = w.in.Token(t)
	w.userTok = w.in.SignIn(t, w.a, w.anne.ID, "assistant profile:read").AccessToken
	// Credits for the assistant, so that a good completion is answered.
	_, err = w.a.DB.Exec(ctx, `INSERT INTO plans (name, display_name, monthly_credits) VALUES ('sweep', 'Sweep', 1000000)
		ON CONFLICT (name) DO UPDATE SET monthly_credits = 1000000`)
	testenv.Must(t, err)
	_, err = w.a.DB.Exec(ctx, `UPDATE users SET plan = 'sweep' WHERE id = $1`, w.anne.ID)
	testenv.Must(t, err)
	w.voucher, err = w.a.Access.CreateVoucher(ctx, "individual", 30, 5, nil)
	testenv.Must(t, err)
	return w
}

func sweepPAT(t *testing.T, a *app.App, userID, teamID string) string {
	t.Helper()
	secret, _, err := a.PATs.Create(context.Background(), pats.NewToken{UserID: userID, TeamID: teamID, Name: "sweep", Via: pats.ViaOperator})
	testenv.Must(t, err)
	return secret
}

// sweepOp is how the sweep calls one operation: with what credentials, at
// which path, and a body it accepts (answered want), so that a refusal of a
// body with one bad string is that string's doing.
type sweepOp struct {
	auth string
	path string
	// form: the body is application/x-www-form-urlencoded, else JSON.
	form bool
	good map[string]any
	want int
}

// ops are the calls of the operations with a body, by operation id.
func (w *sweepWorld) ops() map[string]sweepOp {
	bearer := func(tok string) string { return "Bearer " + tok }
	instanceAuth := "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(w.in.ClientID)+":"+url.QueryEscape(w.in.Secret)))
	creds := func(m map[string]any) map[string]any {
		m["client_id"], m["client_secret"] = w.in.ClientID, w.in.Secret
		return m
	}
	ask := map[string]any{"model": "test-" + assistanttest.OK, "messages": []any{map[string]any{"role": "user", "content": "hello\nthere"}}}
	return map[string]sweepOp{
		"create_invitations": {auth: bearer(w.teamPAT), path: "/api/v1/team/invitations",
			good: map[string]any{"email": "carol@example.test", "role": "member", "use_seat": false}, want: http.StatusCreated},
		"update_team_user": {auth: bearer(w.teamPAT), path: "/api/v1/team/users/" + w.bob.ID,
			good: map[string]any{"role": "admin"}, want: http.StatusOK},
		"create_voucher_claim": {auth: bearer(w.bobPAT), path: "/api/v1/user/billing/voucher-claims",
			good: map[string]any{"code": w.voucher}, want: http.StatusNoContent},
		"ping_alive": {auth: bearer(w.instanceTok), path: "/instance/alive",
			good: map[string]any{"os": map[string]any{"kind": "linux", "name": "Debian GNU/Linux", "version": "12"}}, want: http.StatusOK},
		"complete":        {auth: bearer(w.userTok), path: "/instance/assistant/complete", good: ask, want: http.StatusOK},
		"complete_stream": {auth: bearer(w.userTok), path: "/instance/assistant/complete/stream", good: ask, want: http.StatusOK},
		"register_client": {path: "/oauth2/register",
			good: map[string]any{"scope": "profile:read", "grant_types": []any{"client_credentials"}}, want: http.StatusCreated},
		"update_client": {path: "/oauth2/register/" + w.in.ClientID,
			good: creds(map[string]any{"scope": "profile:read assistant offline",
				"grant_types": []any{"client_credentials", "urn:ietf:params:oauth:grant-type:device_code", "refresh_token"}}), want: http.StatusOK},
		"update_instance": {auth: bearer(w.pat), path: "/api/v1/instances/" + w.in.ID,
			good: map[string]any{"name": "desktop"}, want: http.StatusOK},
		"create_instance_grant": {auth: bearer(w.pat), path: "/api/v1/instances/" + w.in.ID + "/grants",
			good: map[string]any{"user_email": "bob@example.test", "expires_at": "2099-01-02T03:04:05Z"}, want: http.StatusAccepted},
		"set_instance_assistant": {auth: bearer(w.pat), path: "/api/v1/instances/" + w.in.ID + "/assistant",
			good: map[string]any{"enabled": true}, want: http.StatusOK},
		"create_registration_key": {auth: bearer(w.pat), path: "/api/v1/registration-keys",
			good: map[string]any{"workspace_id": w.anne.DefaultWorkspaceID, "name_prefix": "ci", "description": "CI runners\n\tof the nightly build",
				"expires_at": "2099-01-02T03:04:05Z"}, want: http.StatusCreated},
		// A personal access token never makes another (403), whatever the body.
		"create_personal_access_token": {auth: bearer(w.pat), path: "/api/v1/personal-access-tokens",
			good: map[string]any{"name": "nightly", "team_id": w.teamID, "expires_at": "2099-01-02T03:04:05Z"}, want: http.StatusForbidden},
		"create_team": {auth: bearer(w.pat), path: "/api/v1/teams",
			good: map[string]any{"name": "Globex", "billing_email": "billing@globex.test"}, want: http.StatusCreated},
		// The OAuth endpoints' form bodies.
		"device_authorize": {form: true, path: "/oauth2/device/authorize", good: creds(map[string]any{"scope": "profile:read"}), want: http.StatusOK},
		"introspect":       {form: true, path: "/oauth2/introspect", good: creds(map[string]any{"token": w.userTok}), want: http.StatusOK},
		"token": {form: true, path: "/oauth2/token",
			good: creds(map[string]any{"grant_type": "client_credentials"}), want: http.StatusOK},
		"revoke":        {form: true, auth: instanceAuth, path: "/oauth2/revoke", good: map[string]any{"token": "not-a-token"}, want: http.StatusOK},
		"userinfo_post": {form: true, path: "/oauth2/userinfo", good: map[string]any{"access_token": w.userTok}, want: http.StatusOK},
	}
}

// sweepBad are the strings no operation may take: a NUL (valid JSON,
// "\u0000", and valid form encoding, %00) and a byte that is not UTF-8.
var sweepBad = []struct{ name, value string }{{"NUL", "\x00"}, {"invalid UTF-8", "\xff\xfe"}}

// TestInputSweepBodies: for every operation of the OpenAPI document with a
// request body, the body with every string of its schema bad at once, then
// the accepted body with each string in turn made bad, each with a NUL and
// with invalid UTF-8: every one of a JSON body is a 4xx, and the service's
// tables are as they were; the accepted body is then accepted, so the
// refusals were the bad strings' doing. The OAuth endpoints' form bodies
// are held to no 5xx and no change only: RFC 6749 §3.2 has them ignore
// parameters a request does not use, and RFC 7662 §2.2 and RFC 7009 §2.2
// answer 200 for a token that is no token (inactive; nothing to revoke).
func TestInputSweepBodies(t *testing.T) {
	doc, err := public.OpenAPIDocument()
	testenv.Must(t, err)
	w := newSweepWorld(t)
	ops := w.ops()
	counts := map[string]int{}
	for _, op := range sweepOperations(doc) {
		if op.op.RequestBody == nil {
			continue
		}
		call, ok := ops[op.op.OperationID]
		if !ok {
			t.Errorf("%s %s (%s) takes a body the sweep has no call for: add one to sweepWorld.ops", op.method, op.path, op.op.OperationID)
			continue
		}
		schema, form := bodySchema(op.op)
		if schema == nil {
			t.Errorf("%s %s: no JSON or form schema for the body", op.method, op.path)
			continue
		}
		leaves := stringLeaves(schema, nil)
		if len(leaves) == 0 {
			t.Logf("%s %s: no string in the body; nothing to sweep", op.method, op.path)
			continue
		}
		call.form = form
		before := sweepChecksum(t, w.a.DB)
		for _, bad := range sweepBad {
			bodies := []map[string]any{{}}
			for _, l := range leaves {
				bodies[0] = setPath(bodies[0], l, bad.value).(map[string]any)
			}
			for _, l := range leaves {
				bodies = append(bodies, setPath(cloneJSON(call.good), l, bad.value).(map[string]any))
			}
			for i, body := range bodies {
				what := "every string"
				if i > 0 {
					what = pathString(leaves[i-1])
				}
				status, answer := w.send(t, op.method, call, body)
				counts[op.method+" "+op.path]++
				if status >= 500 || status < 400 && !form {
					t.Errorf("%s %s with %s in %s: %d, want a 4xx: %s", op.method, op.path, bad.name, what, status, answer)
				}
			}
		}
		if after := sweepChecksum(t, w.a.DB); after != before {
			t.Errorf("%s %s: refused bodies changed tables:\n%s", op.method, op.path, sweepDiff(before, after))
		}
		if status, answer := w.send(t, op.method, call, call.good); status != call.want {
			t.Errorf("%s %s with the good body: %d, want %d: %s", op.method, op.path, status, call.want, answer)
		}
	}
	reportCounts(t, counts)
}

// TestInputSweepParameters: every operation with an id in its path gets
// malformed ones there, and every string of a query gets a NUL, invalid
// UTF-8 and a space: never a 5xx, and nothing changes.
func TestInputSweepParameters(t *testing.T) {
	doc, err := public.OpenAPIDocument()
	testenv.Must(t, err)
	w := newSweepWorld(t)
	ops := w.ops()
	counts := map[string]int{}
	malformed := []string{"not-a-uuid", "x y", "\x00", "\xff", w.in.ID + "0"}
	for _, op := range sweepOperations(doc) {
		before := sweepChecksum(t, w.a.DB)
		auth := w.authFor(op.path)
		call := ops[op.op.OperationID]
		if call.auth != "" {
			auth = call.auth
		}
		body := call.good
		_, form := bodySchema(op.op)
		for _, p := range op.params {
			switch p.In {
			case "path":
				for _, m := range malformed {
					path := op.path
					for _, q := range op.params {
						if q.In == "path" {
							v := w.goodParam(q.Name)
							if q.Name == p.Name {
								v = m
							}
							path = strings.ReplaceAll(path, "{"+q.Name+"}", url.PathEscape(v))
						}
					}
					status, answer := w.send(t, op.method, sweepOp{auth: auth, path: path, form: form}, body)
					counts[op.method+" "+op.path]++
					if status >= 500 {
						t.Errorf("%s %s with %s %q: %d: %s", op.method, op.path, p.Name, m, status, answer)
					}
				}
			case "query":
				if p.Schema == nil || p.Schema.Value == nil || !p.Schema.Value.Type.Includes("string") {
					continue
				}
				path := op.path
				for _, q := range op.params {
					if q.In == "path" {
						path = strings.ReplaceAll(path, "{"+q.Name+"}", url.PathEscape(w.goodParam(q.Name)))
					}
				}
				for _, m := range []string{"\x00", "\xff", "x y"} {
					status, answer := w.send(t, op.method, sweepOp{auth: auth, path: path + "?" + url.Values{p.Name: {m}}.Encode(), form: form}, body)
					counts[op.method+" "+op.path]++
					if status >= 500 {
						t.Errorf("%s %s with the query's %s %q: %d: %s", op.method, op.path, p.Name, m, status, answer)
					}
				}
			}
		}
		after := sweepChecksum(t, w.a.DB)
		if strings.HasPrefix(op.path, "/oauth2/device/") {
			// A wrong user code is counted against the guesser, by design.
			before, after = withoutTable(before, "attempt_windows"), withoutTable(after, "attempt_windows")
		}
		if after != before {
			t.Errorf("%s %s: malformed parameters changed tables:\n%s", op.method, op.path, sweepDiff(before, after))
		}
	}
	reportCounts(t, counts)
}

// withoutTable is a checksum without the line of table.
func withoutTable(sum, table string) string {
	lines := strings.Split(sum, "\n")
	return strings.Join(slices.DeleteFunc(lines, func(l string) bool { return strings.HasPrefix(l, table+" ") }), "\n")
}

// authFor is the credential an operation's path takes.
func (w *sweepWorld) authFor(path string) string {
	switch {
	case strings.HasPrefix(path, "/api/v1/team"):
		return "Bearer " + w.teamPAT
	case strings.HasPrefix(path, "/api/v1/"), strings.HasPrefix(path, "/oauth2/device/"):
		return "Bearer " + w.pat
	case strings.HasPrefix(path, "/instance/user"), strings.HasPrefix(path, "/instance/assistant"):
		return "Bearer " + w.userTok
	case strings.HasPrefix(path, "/instance/"):
		return "Bearer " + w.instanceTok
	case strings.HasPrefix(path, "/oauth2/register/"):
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(w.in.ClientID)+":"+url.QueryEscape(w.in.Secret)))
	}
	return ""
}

// goodParam is a path parameter's value that names something that exists.
func (w *sweepWorld) goodParam(name string) string {
	switch name {
	case "user_id":
		return w.bob.ID
	case "workspace_id":
		return w.anne.DefaultWorkspaceID
	case "id":
		return w.in.ID
	}
	return "00000000-0000-4000-8000-000000000000"
}

// send calls the operation with body (nil: none) and returns the status
// and the answer.
func (w *sweepWorld) send(t *testing.T, method string, op sweepOp, body map[string]any) (int, string) {
	t.Helper()
	var rd io.Reader
	contentType := ""
	if body != nil && op.form {
		vs := url.Values{}
		for k, v := range body {
			vs.Set(k, fmt.Sprint(v))
		}
		rd, contentType = strings.NewReader(vs.Encode()), "application/x-www-form-urlencoded"
	} else if body != nil {
		raw, err := json.Marshal(body)
		testenv.Must(t, err)
		// encoding/json writes invalid UTF-8 as U+FFFD: put the bytes back.
		raw = bytes.ReplaceAll(raw, []byte(`\ufffd\ufffd`), []byte("\xff\xfe"))
		raw = bytes.ReplaceAll(raw, []byte("\uFFFD\uFFFD"), []byte("\xff\xfe"))
		rd, contentType = bytes.NewReader(raw), "application/json"
	}
	req, err := http.NewRequest(method, w.base+op.path, rd)
	testenv.Must(t, err)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if op.auth != "" {
		req.Header.Set("Authorization", op.auth)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	testenv.Must(t, err)
	defer resp.Body.Close()
	answer, _ := io.ReadAll(resp.Body)
	if len(answer) > 300 {
		answer = answer[:300]
	}
	return resp.StatusCode, string(answer)
}

type sweptOperation struct {
	method, path string
	op           *openapi3.Operation
	params       []*openapi3.Parameter
}

// sweepOperations are the document's operations, in a stable order.
func sweepOperations(doc *openapi3.T) []sweptOperation {
	var out []sweptOperation
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			var params []*openapi3.Parameter
			for _, p := range append(append(openapi3.Parameters{}, item.Parameters...), op.Parameters...) {
				params = append(params, p.Value)
			}
			out = append(out, sweptOperation{method: method, path: path, op: op, params: params})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].path+out[i].method < out[j].path+out[j].method })
	return out
}

// bodySchema is the schema of the operation's JSON body, or else of its
// form body (form true).
func bodySchema(op *openapi3.Operation) (*openapi3.Schema, bool) {
	if op.RequestBody == nil || op.RequestBody.Value == nil {
		return nil, false
	}
	if mt := op.RequestBody.Value.Content.Get("application/json"); mt != nil && mt.Schema != nil {
		return mt.Schema.Value, false
	}
	if mt := op.RequestBody.Value.Content.Get("application/x-www-form-urlencoded"); mt != nil && mt.Schema != nil {
		return mt.Schema.Value, true
	}
	return nil, false
}

// stringLeaves are the paths (object keys and array indexes) of every
// string a body of schema can hold; of alternatives (oneOf, anyOf), those
// of each.
func stringLeaves(s *openapi3.Schema, at []any) [][]any {
	if s == nil {
		return nil
	}
	var out [][]any
	seen := map[string]bool{}
	add := func(ls [][]any) {
		for _, l := range ls {
			if k := pathString(l); !seen[k] {
				seen[k] = true
				out = append(out, l)
			}
		}
	}
	for _, alt := range append(append([]*openapi3.SchemaRef{}, s.OneOf...), s.AnyOf...) {
		add(stringLeaves(alt.Value, at))
	}
	switch {
	case s.Type.Includes("string") && len(at) > 0:
		add([][]any{slices.Clone(at)})
	case s.Type.Includes("array") && s.Items != nil:
		add(stringLeaves(s.Items.Value, append(slices.Clone(at), 0)))
	}
	keys := make([]string, 0, len(s.Properties))
	for k := range s.Properties {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		add(stringLeaves(s.Properties[k].Value, append(slices.Clone(at), k)))
	}
	return out
}

func pathString(p []any) string {
	var b strings.Builder
	for _, step := range p {
		switch s := step.(type) {
		case string:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(s)
		case int:
			fmt.Fprintf(&b, "[%d]", s)
		}
	}
	return b.String()
}

// setPath sets the value at path in v (a JSON object or array, or nil),
// making the objects and arrays on the way, and returns v.
func setPath(v any, path []any, value any) any {
	if len(path) == 0 {
		return value
	}
	switch step := path[0].(type) {
	case string:
		m, ok := v.(map[string]any)
		if !ok {
			m = map[string]any{}
		}
		m[step] = setPath(m[step], path[1:], value)
		return m
	case int:
		a, ok := v.([]any)
		if !ok {
			a = nil
		}
		for len(a) <= step {
			a = append(a, nil)
		}
		a[step] = setPath(a[step], path[1:], value)
		return a
	}
	return v
}

func cloneJSON(m map[string]any) map[string]any {
	raw, _ := json.Marshal(m)
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	return out
}

// sweepChecksum sums every row of every table, but for when a personal
// access token was last used (written by authentication itself, a minute
// apart at most) and the signing keys (the service makes its first and
// rotates them on its own).
func sweepChecksum(t *testing.T, db *pgxpool.Pool) string {
	t.Helper()
	ctx := context.Background()
	rows, err := db.Query(ctx, `SELECT table_name::text, string_agg(quote_ident(column_name), ', ' ORDER BY ordinal_position)
		FROM information_schema.columns
		WHERE table_schema = 'public' AND NOT (table_name = 'personal_access_tokens' AND column_name = 'last_used_at')
		  AND table_name <> 'signing_keys'
		  AND table_name IN (SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE')
		GROUP BY table_name ORDER BY table_name`)
	testenv.Must(t, err)
	type table struct{ name, columns string }
	tables, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (table, error) {
		var tb table
		return tb, r.Scan(&tb.name, &tb.columns)
	})
	testenv.Must(t, err)
	var b strings.Builder
	for _, tb := range tables {
		var n int
		var sum string
		testenv.Must(t, db.QueryRow(ctx, fmt.Sprintf(`SELECT count(*), md5(coalesce(string_agg(r::text, ',' ORDER BY r::text), ''))
			FROM (SELECT %s FROM %s) r`, tb.columns, pgx.Identifier{tb.name}.Sanitize())).Scan(&n, &sum))
		fmt.Fprintf(&b, "%s %d %s\n", tb.name, n, sum)
	}
	return b.String()
}

// sweepDiff is the lines of after that are not in before.
func sweepDiff(before, after string) string {
	was := strings.Split(before, "\n")
	var out []string
	for _, l := range strings.Split(after, "\n") {
		if !slices.Contains(was, l) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func reportCounts(t *testing.T, counts map[string]int) {
	keys := make([]string, 0, len(counts))
	total := 0
	for k, n := range counts {
		keys = append(keys, k)
		total += n
	}
	sort.Strings(keys)
	for _, k := range keys {
		t.Logf("%4d requests: %s", counts[k], k)
	}
	t.Logf("%d requests over %d operations", total, len(keys))
}
