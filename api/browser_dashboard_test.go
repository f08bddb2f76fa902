package api_test

import (
	"context"
	"flag"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/caido-cloud/caido-cloud/audit"

	"github.com/chromedp/chromedp"

	"github.com/caido-cloud/caido-cloud/accounts"
	"github.com/caido-cloud/caido-cloud/authz"
	"github.com/caido-cloud/caido-cloud/internal/testenv"
)

// The sign-up, device approval and claim of a new instance in a real
// browser are TestBrowserDeviceApproval's (browser_test.go); these tests
// start from a claimed instance.

// dashShotDir is where a failing browser step leaves its screenshot: the
// test's artifact directory with -artifacts, else a directory that
// outlives the test.
func dashShotDir(t *testing.T) string {
	if f := flag.Lookup("test.artifacts"); f != nil && f.Value.String() == "true" {
		return t.ArtifactDir()
	}
	dir := filepath.Join(os.TempDir(), "caido-cloud-screenshots")
	_ = os.MkdirAll(dir, 0o755)
	return dir
}

var dashUnsafeName = regexp.MustCompile(`[^A-Za-z0-9_-]+`)

// dashContext is a second browser context of the same chromium: a profile
// of its own, no cookie shared.
func dashContext(t *testing.T, browser context.Context) context.Context {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	// Its first run opens its tab and must not carry a timeout.
	testenv.Must(t, chromedp.Do(ctx, chromedp.Navigate("about:blank")))
	return ctx
}

func dashWant(t *testing.T, page, where string, wants ...string) {
	t.Helper()
	for _, want := range wants {
		if !strings.Contains(page, want) {
			t.Fatalf("%s lacks %q:\n%s", where, want, page)
		}
	}
}

// TestBrowserDashboardInvite: an admin creates a team on the home page,
// the team gets seats, the admin invites a member by email; the mail
// arrives at the SMTP server; the invitee, in a browser context of their
// own, follows the link, signs up with that address, comes back and
// accepts. The member is on the team's page, with a seat.
func TestBrowserDashboardInvite(t *testing.T) {
	webChromium(t)
	ctx := context.Background()
	w := newDashWorld(t)
	admin := webBrowserContext(t)

	steps := append([]chromedp.Action[chromedp.Void]{
		chromedp.Navigate(w.base + "/"),
		chromedp.WaitVisible(chromedp.ID("to-signup")),
		chromedp.Click(chromedp.ID("to-signup")),
	}, webSignUp("Anne", "anne@example.test")...)
	steps = append(steps, chromedp.WaitVisible(chromedp.ID("create-team")))
	webRun(t, admin, "the admin signs up", steps...)
	dashWant(t, webText(t, admin, "main"), "the home page", "Your plan: Basic", "You are in no team yet")

	webRun(t, admin, "create a team on the home page",
		chromedp.SendKeys(chromedp.ID("team_name"), "Red Team"),
		chromedp.Click(chromedp.ID("create-team-button")),
		chromedp.WaitVisible(chromedp.ID("invite-form")),
	)
	loc, err := chromedp.Run(admin, chromedp.Location())
	testenv.Must(t, err)
	u, err := url.Parse(loc)
	testenv.Must(t, err)
	teamPage := u.Path
	team := strings.TrimPrefix(teamPage, "/teams/")
	dashWant(t, webText(t, admin, "main"), "the new team's page", "The team is created", "Your role in this team: owner", "No subscription")

	// The operator sells the team three seats.
	_, err = w.a.Access.SetTeamSubscription(ctx, team, "team", 3, false, nil)
	testenv.Must(t, err)
	webRun(t, admin, "invite Bob with a seat",
		chromedp.Navigate(w.base+teamPage),
		chromedp.WaitVisible(chromedp.ID("invite-form")),
		chromedp.SendKeys(chromedp.ID("invite_email"), "bob@example.test"),
		chromedp.Click(chromedp.ID("invite_seat")),
		chromedp.Click(chromedp.ID("invite")),
		chromedp.WaitVisible(chromedp.ID("invitations")),
	)
	dashWant(t, webText(t, admin, "main"), "the team's page after inviting", "The invitation is sent", "bob@example.test", "0 of 3 seats used")

	link := w.invitationLink(t, "bob@example.test")
	if !strings.HasPrefix(link, w.base+"/invitations/accept?token=") {
		t.Fatalf("the mail's link %s is not to the pages at %s", link, w.base)
	}
	bob := dashContext(t, admin)
	webRun(t, bob, "Bob follows the link",
		chromedp.Navigate(link),
		chromedp.WaitVisible(chromedp.ID("signed-out")),
	)
	dashWant(t, webText(t, bob, "main"), "the invitation page", "Red Team", "member", "bob@example.test", "Link works until")
	steps = append([]chromedp.Action[chromedp.Void]{chromedp.Click(chromedp.ID("to-signup"))},
		webSignUp("Bob", "bob@example.test")...)
	steps = append(steps, chromedp.WaitVisible(chromedp.ID("accept")))
	webRun(t, bob, "Bob signs up and comes back to the invitation", steps...)
	webRun(t, bob, "Bob accepts",
		chromedp.Click(chromedp.ID("accept")),
		chromedp.WaitVisible(chromedp.ID("notice")),
	)
	dashWant(t, webText(t, bob, "main"), "Bob's team page", "Welcome: you are now a member of the team", "Your role in this team: member",
		"Anne", "Bob", "1 of 3 seats used")
	var bobID string
	testenv.Must(t, w.a.DB.QueryRow(ctx, `SELECT id::text FROM users WHERE email = 'bob@example.test'`).Scan(&bobID))
	markVerified(t, w.a, bobID) // a share by email reaches only a verified address
	testenv.AssertCheck(t, w.a, bobID, "member", authz.TeamObject(team), true)

	webRun(t, admin, "the admin reloads the team's page",
		chromedp.Navigate(w.base+teamPage),
		chromedp.WaitVisible(chromedp.ID("members")),
	)
	dashWant(t, webText(t, admin, "#members"), "the members", "Anne", "anne@example.test", "Bob", "bob@example.test")
	dashWant(t, webText(t, admin, "main"), "the team's page", "1 of 3 seats used", "No open invitation")
	seat, err := chromedp.Run(admin, chromedp.Evaluate[bool](
		`document.querySelector('tr[data-email="bob@example.test"] input[name=use_seat]').checked`))
	testenv.Must(t, err)
	if !seat {
		t.Fatal("Bob has no seat on the admin's page")
	}
}

// TestBrowserDashboardSharing: an admin shares an instance with a user by
// email until a date; the user sees it on their instances page. The admin
// revokes the share; the user no longer sees it, and OpenFGA says they may
// not use it.
func TestBrowserDashboardSharing(t *testing.T) {
	webChromium(t)
	ctx := context.Background()
	w := newDashWorld(t)
	_, err := w.a.Accounts.SignUp(ctx, accounts.SignUp{Name: "Bob", Email: "bob@example.test", Password: webPassword})
	testenv.Must(t, err)

	admin := webBrowserContext(t)
	steps := append([]chromedp.Action[chromedp.Void]{
		chromedp.Navigate(w.base + "/instances"),
		chromedp.WaitVisible(chromedp.ID("to-signup")),
		chromedp.Click(chromedp.ID("to-signup")),
	}, webSignUp("Anne", "anne@example.test")...)
	steps = append(steps, chromedp.WaitVisible(chromedp.ID("no-instances")))
	webRun(t, admin, "Anne signs up and opens her instances", steps...)
	var anneID, anneWS, bobID string
	testenv.Must(t, w.a.DB.QueryRow(ctx, `SELECT u.id::text, w.id::text FROM users u JOIN workspaces w ON w.owner_user_id = u.id
		WHERE u.email = 'anne@example.test'`).Scan(&anneID, &anneWS))
	testenv.Must(t, w.a.DB.QueryRow(ctx, `SELECT id::text FROM users WHERE email = 'bob@example.test'`).Scan(&bobID))
	markVerified(t, w.a, bobID) // a share by email reaches only a verified address
	in := testenv.ClaimedInstance(t, w.a, anneID, anneWS, "shared box")

	bob := dashContext(t, admin)
	webRun(t, bob, "Bob signs in to his instances",
		chromedp.Navigate(w.base+"/instances"),
		chromedp.WaitVisible(chromedp.ID("signin")),
		chromedp.SendKeys(chromedp.ID("email"), "bob@example.test"),
		chromedp.SendKeys(chromedp.ID("password"), webPassword),
		chromedp.Click(chromedp.ID("signin")),
		chromedp.WaitVisible(chromedp.ID("no-instances")),
	)

	until := time.Now().AddDate(0, 1, 0).UTC()
	webRun(t, admin, "Anne opens the instance and shares it with Bob until a date",
		chromedp.Reload(),
		chromedp.WaitVisible(chromedp.ID("instances")),
		chromedp.Click(chromedp.CSS(`a[href="/instances/`+in.ID+`"]`)),
		chromedp.WaitVisible(chromedp.ID("grant-form")),
		chromedp.SendKeys(chromedp.ID("grant_email"), "bob@example.test"),
		chromedp.SetValue(chromedp.ID("grant_until"), until.Format(time.DateOnly)),
		chromedp.Click(chromedp.ID("grant")),
		chromedp.WaitVisible(chromedp.ID("grants")),
	)
	dashWant(t, webText(t, admin, "#grants"), "the shares", "bob@example.test", until.AddDate(0, 0, 1).Format("2 January 2006")+", 00:00 UTC")
	testenv.AssertCheck(t, w.a, bobID, "can_use", authz.InstanceObject(in.ID), true)
	grants, err := w.a.Access.Grants(ctx, in.ID)
	testenv.Must(t, err)
	if len(grants) != 1 || grants[0].ExpiresAt == nil || grants[0].ExpiresAt.UTC().Format(time.DateOnly) != until.AddDate(0, 0, 1).Format(time.DateOnly) {
		t.Fatalf("grants: %+v", grants)
	}

	webRun(t, bob, "Bob reloads his instances",
		chromedp.Reload(),
		chromedp.WaitVisible(chromedp.ID("instances")),
	)
	dashWant(t, webText(t, bob, "#instances"), "Bob's instances", "shared box (shared with you)", "Default", "anne@example.test")
	webRun(t, bob, "Bob opens it",
		chromedp.Click(chromedp.CSS(`a[href="/instances/`+in.ID+`"]`)),
		chromedp.WaitVisible(chromedp.ID("not-manager")),
	)

	webRun(t, admin, "Anne revokes the share",
		chromedp.Navigate(w.base+"/instances/"+in.ID),
		chromedp.WaitVisible(chromedp.ID("grants")),
		chromedp.Click(chromedp.CSS(`button.revoke-grant[data-email="bob@example.test"]`)),
		chromedp.WaitVisible(chromedp.ID("no-grants")),
	)
	dashWant(t, webText(t, admin, "#notice"), "the notice", "The share is revoked")
	testenv.AssertCheck(t, w.a, bobID, "can_use", authz.InstanceObject(in.ID), false)

	webRun(t, bob, "Bob's instances no longer list it",
		chromedp.Navigate(w.base+"/instances"),
		chromedp.WaitVisible(chromedp.ID("no-instances")),
	)
	webRun(t, bob, "its page is not found for him",
		chromedp.Navigate(w.base+"/instances/"+in.ID),
		chromedp.WaitVisible(chromedp.ID("message")),
	)
	dashWant(t, webText(t, bob, "main"), "the instance's page", "No such instance")

	// Bob sees who shared and revoked, not from where: the address is
	// for the actor and the admins of the entry's team.
	entries, err := w.a.Audit.Entries(ctx, audit.Filter{UserID: bobID, ViewerID: bobID})
	testenv.Must(t, err)
	if len(entries) < 2 || entries[0].Action != audit.Revoke || entries[1].Action != audit.Grant ||
		entries[0].ActorLabel != "anne@example.test" || entries[0].IP != nil {
		t.Fatalf("Bob's audit log: %+v", entries)
	}
}
