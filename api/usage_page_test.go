package api_test

import (
	"context"
	"encoding/xml"
	"net/http"
	"net/http/cookiejar"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caido-cloud/caido-cloud/access"
	"github.com/caido-cloud/caido-cloud/app"
	"github.com/caido-cloud/caido-cloud/internal/testenv"
)

// usageRow inserts a settled call's usage as the assistant writes it.
func usageRow(t *testing.T, a *app.App, userID, teamID, instanceID, model string, at time.Time, prompt, completion, credits int64) {
	t.Helper()
	_, err := a.DB.Exec(context.Background(), `INSERT INTO assistant_usage
		(user_id, team_id, instance_id, model_id, prompt_tokens, completion_tokens, credits, month, created_at)
		VALUES ($1, nullif($2, '')::uuid, $3, $4, $5, $6, $7, date_trunc('month', $8::timestamptz AT TIME ZONE 'UTC'), $8)`,
		userID, teamID, instanceID, model, prompt, completion, credits, at)
	testenv.Must(t, err)
}

// chartBars parses the page's SVG (it must be well-formed XML) and returns
// the credits of each series on each day ("series/2026-11-03").
func chartBars(t *testing.T, body string) map[string]int64 {
	t.Helper()
	m := regexp.MustCompile(`(?s)<svg.*?</svg>`).FindString(body)
	if m == "" {
		t.Fatalf("no chart on the page:\n%s", body)
	}
	dec := xml.NewDecoder(strings.NewReader(m))
	bars := map[string]int64{}
	for {
		tok, err := dec.Token()
		if err != nil {
			if err.Error() == "EOF" {
				return bars
			}
			t.Fatalf("the chart is not well-formed SVG: %v\n%s", err, m)
		}
		el, ok := tok.(xml.StartElement)
		if !ok || el.Name.Local != "rect" {
			continue
		}
		attrs := map[string]string{}
		for _, a := range el.Attr {
			attrs[a.Name.Local] = a.Value
		}
		if attrs["class"] != "bar" {
			continue
		}
		v, err := strconv.ParseInt(attrs["data-value"], 10, 64)
		testenv.Must(t, err)
		if h, _ := strconv.ParseFloat(attrs["height"], 64); h <= 0 {
			t.Errorf("bar %v has height %q", attrs, attrs["height"])
		}
		bars[attrs["data-series"]+"/"+attrs["data-day"]] += v
	}
}

func TestUsagePage(t *testing.T) {
	ctx := context.Background()
	a, base := testenv.Serve(t, testenv.Config(t), testenv.Options{})
	browser := func() *webBrowser {
		jar, err := cookiejar.New(nil)
		testenv.Must(t, err)
		return &webBrowser{t: t, base: base, c: &http.Client{Jar: jar,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	}
	anneB, bobB, ginaB := browser(), browser(), browser()
	anneB.signUp("Anne", "anne@acme.test")
	bobB.signUp("Bob", "bob@acme.test")
	ginaB.signUp("Gina", "gina@globex.test")
	anne, err := a.Access.AccountByEmail(ctx, "anne@acme.test")
	testenv.Must(t, err)
	bob, err := a.Access.AccountByEmail(ctx, "bob@acme.test")
	testenv.Must(t, err)
	acme, _, err := a.Access.CreateTeam(ctx, anne.ID, "Acme", "billing@acme.test")
	testenv.Must(t, err)
	_, err = a.Access.SetTeamMember(ctx, acme.ID, bob.ID, access.RoleMember, false)
	testenv.Must(t, err)
	box := testenv.ClaimedInstance(t, a, anne.ID, acme.DefaultWorkspaceID, "ci")

	day := func(d, h int) time.Time { return time.Date(2026, 10, d, h, 0, 0, 0, time.UTC) }
	usageRow(t, a, anne.ID, acme.ID, box.ID, "gpt-small", day(3, 1), 100, 20, 120)
	usageRow(t, a, anne.ID, acme.ID, box.ID, "gpt-small", day(3, 23), 50, 10, 60)
	usageRow(t, a, anne.ID, acme.ID, box.ID, "gpt-large", day(3, 12), 10, 10, 200)
	usageRow(t, a, bob.ID, acme.ID, box.ID, "gpt-small", day(17, 9), 5, 5, 10)
	usageRow(t, a, anne.ID, "", box.ID, "gpt-small", day(31, 23), 1, 1, 2)
	usageRow(t, a, anne.ID, "", box.ID, "gpt-small", time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), 7, 7, 7) // next month

	// Anne's own month, by model.
	resp, body := anneB.get("/usage?month=2026-10")
	webExpect(t, resp, body, http.StatusOK, "2026-10", "gpt-small", "gpt-large")
	bars := chartBars(t, body)
	want := map[string]int64{"gpt-small/2026-10-03": 180, "gpt-large/2026-10-03": 200, "gpt-small/2026-10-31": 2}
	if len(bars) != len(want) {
		t.Fatalf("bars %v, want %v", bars, want)
	}
	for k, v := range want {
		if bars[k] != v {
			t.Errorf("bar %s = %d, want %d", k, bars[k], v)
		}
	}
	if !strings.Contains(body, "<td>gpt-small</td><td>3</td><td>151</td><td>31</td><td>182</td>") {
		t.Errorf("totals row for gpt-small missing:\n%s", body)
	}

	// The team's month, by member: Anne is its owner.
	resp, body = anneB.get("/usage?month=2026-10&team=" + acme.ID + "&by=member")
	webExpect(t, resp, body, http.StatusOK, "bob@acme.test", "anne@acme.test")
	bars = chartBars(t, body)
	if bars["anne@acme.test/2026-10-03"] != 380 || bars["bob@acme.test/2026-10-17"] != 10 || len(bars) != 2 {
		t.Fatalf("team bars by member: %v", bars)
	}

	// Bob is a member, not an admin; Gina is not in the team at all.
	resp, body = bobB.get("/usage?team=" + acme.ID)
	webExpect(t, resp, body, http.StatusForbidden, "admins")
	resp, body = ginaB.get("/usage?team=" + acme.ID)
	webExpect(t, resp, body, http.StatusNotFound, "No such team")
	resp, body = ginaB.get("/usage")
	webExpect(t, resp, body, http.StatusOK, "No assistant usage")
	if len(chartBars(t, body)) != 0 {
		t.Fatal("bars for a user with no usage")
	}

	for _, bad := range []string{"/usage?month=2026-13", "/usage?month=last", "/usage?by=member", "/usage?by=instance&team=" + acme.ID} {
		resp, body = anneB.get(bad)
		webExpect(t, resp, body, http.StatusBadRequest)
	}
	resp, _ = browser().get("/usage")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/signin?next=") {
		t.Fatalf("signed out: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
}
