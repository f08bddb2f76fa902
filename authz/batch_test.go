package authz_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/caido-cloud/caido-cloud/access"
	"github.com/caido-cloud/caido-cloud/authz"
	"github.com/caido-cloud/caido-cloud/internal/testenv"
)

// TestBatchCheckAgreesWithCheck: a batch of more than one request's worth
// (50) of mixed questions, an expired grant among them, answers each as
// its own Check does, in the order asked.
func TestBatchCheckAgreesWithCheck(t *testing.T) {
	ctx := context.Background()
	a := testenv.App(t, testenv.Config(t), testenv.Options{})
	testenv.RunOutbox(t, a)

	anne := testenv.User(t, a, "anne@example.test")
	bob := testenv.User(t, a, "bob@example.test")
	var items []authz.CheckItem
	for i := range 30 {
		box := testenv.ClaimedInstance(t, a, anne.ID, anne.DefaultWorkspaceID, fmt.Sprintf("box %d", i))
		switch i % 3 {
		case 1:
			_, err := a.Access.Grant(ctx, box.ID, access.Grantee{UserID: bob.ID}, nil, anne.ID)
			testenv.Must(t, err)
		case 2: // a grant that ends a moment from now: expired by the checks
			end := time.Now().Add(1500 * time.Millisecond)
			_, err := a.Access.Grant(ctx, box.ID, access.Grantee{UserID: bob.ID}, &end, anne.ID)
			testenv.Must(t, err)
		}
		for _, user := range []string{anne.ID, bob.ID} {
			items = append(items, authz.CheckItem{User: authz.UserObject(user), Relation: "can_use", Object: authz.InstanceObject(box.ID)})
		}
	}
	time.Sleep(1600 * time.Millisecond)
	got, err := a.Authz.BatchCheck(ctx, items)
	testenv.Must(t, err)
	if len(got) != len(items) {
		t.Fatalf("%d answers to %d questions", len(got), len(items))
	}
	allowed := 0
	for i, it := range items {
		want, err := a.Authz.Check(ctx, it.User, it.Relation, it.Object)
		testenv.Must(t, err)
		if got[i] != want {
			t.Fatalf("item %d (%s %s %s): batch says %v, Check says %v", i, it.User, it.Relation, it.Object, got[i], want)
		}
		if want {
			allowed++
		}
	}
	// Anne everywhere, Bob on the ten unexpired grants.
	if allowed != 40 {
		t.Fatalf("%d allowed, want 40", allowed)
	}
	if none, err := a.Authz.BatchCheck(ctx, nil); err != nil || none != nil {
		t.Fatalf("an empty batch: %v %v", none, err)
	}
}
