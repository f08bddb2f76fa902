package api_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/caido-cloud/caido-cloud/internal/testenv"
	"github.com/caido-cloud/caido-cloud/pats"
)

// TestPATCannotCreatePAT: a personal access token cannot make another one,
// however it is scoped: a token that expires in an hour would otherwise
// make one that never expires and outlives its revocation, and a team token
// one of no team. The answer is 403 and says where tokens are made; no
// token is made.
func TestPATCannotCreatePAT(t *testing.T) {
	w := newManageWorld(t)
	ctx := context.Background()
	soon := time.Now().Add(time.Hour)
	shortLived, _, err := w.a.PATs.Create(ctx, pats.NewToken{UserID: w.anne.ID, Name: "an hour", ExpiresAt: &soon, Via: pats.ViaOperator})
	testenv.Must(t, err)
	teamPAT := w.pat(t, w.anne.ID, w.team.ID)
	count := func() (n int) {
		testenv.Must(t, w.a.DB.QueryRow(ctx, `SELECT count(*) FROM personal_access_tokens`).Scan(&n))
		return n
	}
	before := count()
	for name, tc := range map[string]struct {
		token string
		body  map[string]any
	}{
		"a token that expires in an hour, asking for one that never does": {shortLived, map[string]any{"name": "forever"}},
		"a team token, asking for one of no team":                         {teamPAT, map[string]any{"name": "unscoped"}},
		"a team token, asking for one of its team":                        {teamPAT, map[string]any{"name": "same team", "team_id": w.team.ID}},
		"a token of no team":                                              {w.annePAT, map[string]any{"name": "child"}},
	} {
		t.Run(name, func(t *testing.T) {
			body := w.expect(t, tc.token, "POST", "/api/v1/personal-access-tokens", tc.body, http.StatusForbidden, "FORBIDDEN")
			msg := decodeAs[map[string]any](t, body)["message"].(string)
			if !strings.Contains(msg, "dashboard") || !strings.Contains(msg, "CLI") {
				t.Errorf("the refusal does not say where tokens are made: %q", msg)
			}
		})
	}
	if n := count(); n != before {
		t.Fatalf("%d tokens after the refusals, %d before", n, before)
	}
}
