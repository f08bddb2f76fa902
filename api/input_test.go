package api_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/caido-cloud/caido-cloud/app"
	"github.com/caido-cloud/caido-cloud/internal/testenv"
)

// The findings of input hygiene against the running system, each held:
// what was a 5xx, a value cut inside a character or a name that breaks a
// mail header is refused (400, naming the field) or kept whole.

// inputBrowser is a webBrowser that tells its answers by status and posts
// the signed-in forms with its session's token.
type inputBrowser struct {
	*webBrowser
	csrf string // the session's token, once signed up
}

func newInputBrowser(t *testing.T, base string) *inputBrowser {
	return &inputBrowser{webBrowser: (&webWorld{base: base}).browser(t)}
}

func (b *inputBrowser) do(method, path string, form url.Values) (int, string) {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.base+path, body)
	testenv.Must(b.t, err)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, page := b.webBrowser.do(req)
	return resp.StatusCode, page
}

// signUp posts the sign-up form and returns the answer; once it is taken,
// it signs in as a person then does, and returns the sign-in's answer.
func (b *inputBrowser) signUp(name, email string) (int, string) {
	b.t.Helper()
	status, page := b.do(http.MethodPost, "/signup", url.Values{"csrf": {b.webBrowser.csrf("/signup")}, "name": {name}, "email": {email},
		"password": {webPassword}})
	if status != http.StatusOK {
		return status, page
	}
	return b.do(http.MethodPost, "/signin", url.Values{"csrf": {b.webBrowser.csrf("/signin")}, "email": {email}, "password": {webPassword}})
}

// form posts a signed-in form with the session's token.
func (b *inputBrowser) form(path string, form url.Values) (int, string) {
	b.t.Helper()
	form.Set("csrf", b.csrf)
	return b.do(http.MethodPost, path, form)
}

func inputCount(t *testing.T, a *app.App, table string) int {
	t.Helper()
	var n int
	testenv.Must(t, a.DB.QueryRow(context.Background(), `SELECT count(*) FROM `+table).Scan(&n))
	return n
}

// expectRefused wants a 400 page that names field, with tables as they
// were.
func expectRefused(t *testing.T, a *app.App, what, field string, do func() (int, string)) {
	t.Helper()
	before := sweepChecksum(t, a.DB)
	status, page := do()
	if status != http.StatusBadRequest || !strings.Contains(page, field) {
		t.Errorf("%s: %d, want 400 naming %q:\n%s", what, status, field, inputPageText(page))
	}
	if after := sweepChecksum(t, a.DB); after != before {
		t.Errorf("%s changed tables:\n%s", what, sweepDiff(before, after))
	}
}

var inputTags = regexp.MustCompile(`(?s)<[^>]*>`)

func inputPageText(page string) string {
	text := strings.Join(strings.Fields(inputTags.ReplaceAllString(page, " ")), " ")
	if len(text) > 600 {
		text = text[len(text)-600:]
	}
	return text
}

// TestInputForms: the pages' forms refuse, before any handler reads them,
// a value that is not UTF-8 (%FF in the sign-up name was a 503 once its
// password hash was computed), a NUL, and a line break in a one-line field
// (a team's name goes into mail headers); a description takes line
// breaks; a malformed team id on the developer page (a 503) is a 400.
func TestInputForms(t *testing.T) {
	a, base := testenv.Serve(t, testenv.Config(t), testenv.Options{})
	stranger := newInputBrowser(t, base)
	expectRefused(t, a, "sign-up with %FF in the name", "“name”", func() (int, string) { return stranger.signUp("An\xffne", "anne@example.test") })
	expectRefused(t, a, "sign-up with a NUL in the email", "“email”", func() (int, string) { return stranger.signUp("Anne", "anne@example.test\x00") })
	if n := inputCount(t, a, "users"); n != 0 {
		t.Fatalf("%d users after refused sign-ups", n)
	}

	anne := newInputBrowser(t, base)
	if status, page := anne.signUp("Anne", "anne@example.test"); status != http.StatusSeeOther {
		t.Fatalf("sign up: %d %s", status, inputPageText(page))
	}
	anne.csrf = anne.webBrowser.csrf("/")
	expectRefused(t, a, "a team named over two lines", "“name”", func() (int, string) {
		return anne.form("/teams", url.Values{"name": {"Acme\r\nBcc: everyone@example.test"}, "billing_email": {"anne@example.test"}})
	})
	expectRefused(t, a, "a token of team \"x y\"", "team", func() (int, string) {
		return anne.form("/developer/tokens", url.Values{"name": {"ci"}, "team_id": {"x y"}})
	})
	expectRefused(t, a, "a token named with a NUL", "“name”", func() (int, string) {
		return anne.form("/developer/tokens", url.Values{"name": {"ci\x00"}})
	})

	// Free text keeps its line breaks.
	var ws string
	testenv.Must(t, a.DB.QueryRow(context.Background(), `SELECT id::text FROM workspaces WHERE is_default AND owner_user_id =
		(SELECT id FROM users WHERE email = 'anne@example.test')`).Scan(&ws))
	status, page := anne.form("/keys", url.Values{"workspace_id": {ws}, "name_prefix": {"ci"}, "description": {"nightly\r\n\tand weekly"}})
	if status != http.StatusOK && status != http.StatusSeeOther {
		t.Fatalf("a key described over two lines: %d %s", status, inputPageText(page))
	}
	var description string
	testenv.Must(t, a.DB.QueryRow(context.Background(), `SELECT description FROM registration_keys`).Scan(&description))
	if description != "nightly\r\n\tand weekly" {
		t.Fatalf("description %q", description)
	}
	expectRefused(t, a, "a key described with a bell", "“description”", func() (int, string) {
		return anne.form("/keys", url.Values{"workspace_id": {ws}, "name_prefix": {"ci"}, "description": {"ding\a"}})
	})
	expectRefused(t, a, "a key's name prefix over two lines", "“name_prefix”", func() (int, string) {
		return anne.form("/keys", url.Values{"workspace_id": {ws}, "name_prefix": {"c\ni"}})
	})
}

// TestInputPageIDs: every page route with an id in its path, sent
// malformed ids by a signed-in browser with its form token: never a 5xx,
// nothing changed.
func TestInputPageIDs(t *testing.T) {
	a, base := testenv.Serve(t, testenv.Config(t), testenv.Options{})
	anne := newInputBrowser(t, base)
	if status, page := anne.signUp("Anne", "anne@example.test"); status != http.StatusSeeOther {
		t.Fatalf("sign up: %d %s", status, inputPageText(page))
	}
	anne.csrf = anne.webBrowser.csrf("/")
	param := regexp.MustCompile(`[:*][a-z_]+`)
	before := sweepChecksum(t, a.DB)
	n := 0
	for _, route := range a.Routes {
		if !strings.Contains(route.Path, ":") || strings.HasPrefix(route.Path, "/api/") || strings.HasPrefix(route.Path, "/instance/") ||
			strings.HasPrefix(route.Path, "/oauth2/") {
			continue // the OpenAPI sweep's
		}
		for _, bad := range []string{"not-a-uuid", "x y", "\x00", "\xff", "0f8fad5b-d9cb-469f-a165-70867728950e0"} {
			path := param.ReplaceAllString(route.Path, url.PathEscape(bad))
			var status int
			var page string
			if route.Method == http.MethodPost {
				status, page = anne.form(path, url.Values{"name": {"x"}, "email": {"bob@example.test"}, "role": {"member"}})
			} else {
				status, page = anne.do(route.Method, path, nil)
			}
			n++
			if status >= 500 {
				t.Errorf("%s %s (%s): %d %s", route.Method, route.Path, path, status, inputPageText(page))
			}
		}
	}
	if after := sweepChecksum(t, a.DB); after != before {
		t.Errorf("malformed ids changed tables:\n%s", sweepDiff(before, after))
	}
	t.Logf("%d requests", n)
}

// TestInputTeamNames: a team's name is one line at /api/v1/teams too, and a
// team named over two lines before that rule still sends its invitations
// (its name was in the subject, which takes no line break).
func TestInputTeamNames(t *testing.T) {
	w := newSweepWorld(t)
	_, err := w.a.DB.Exec(context.Background(), `UPDATE teams SET name = E'Acme\nCorp' WHERE id = $1`, w.teamID)
	testenv.Must(t, err)
	status, answer := w.send(t, http.MethodPost, sweepOp{auth: "Bearer " + w.teamPAT, path: "/api/v1/team/invitations"},
		map[string]any{"email": "carol@example.test", "role": "member", "use_seat": false})
	if status != http.StatusCreated {
		t.Errorf("an invitation to a team named over two lines: %d %s", status, answer)
	}
	status, answer = w.send(t, http.MethodPost, sweepOp{auth: "Bearer " + w.pat, path: "/api/v1/teams"},
		map[string]any{"name": "Acme\nCorp", "billing_email": "billing@acme.test"})
	if status != http.StatusBadRequest || !strings.Contains(answer, "name") {
		t.Errorf("a team named over two lines: %d %s", status, answer)
	}
}

// TestInputAliveCut: an OS name of 120 three-byte characters (360 bytes)
// is kept to 200 bytes between characters, not cut inside one (which
// PostgreSQL refused: a 503).
func TestInputAliveCut(t *testing.T) {
	w := newSweepWorld(t)
	name := strings.Repeat("日", 120)
	status, answer := w.send(t, http.MethodPost, sweepOp{auth: "Bearer " + w.instanceTok, path: "/instance/alive"},
		map[string]any{"os": map[string]any{"kind": "linux", "name": name, "version": "1"}})
	if status != http.StatusOK {
		t.Fatalf("alive with a long multibyte OS name: %d %s", status, answer)
	}
	var stored string
	testenv.Must(t, w.a.DB.QueryRow(context.Background(), `SELECT os_name FROM instance_last_seen WHERE instance_id = $1`, w.in.ID).Scan(&stored))
	if !utf8.ValidString(stored) || stored != strings.Repeat("日", 66) {
		t.Fatalf("stored OS name %q (%d bytes), want 66 characters (198 bytes)", stored, len(stored))
	}
}
