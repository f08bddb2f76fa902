package assistant_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/caido-cloud/caido-cloud/assistant"
	"github.com/caido-cloud/caido-cloud/internal/testenv"
)

// TestMonthRollover: credits are per UTC calendar month; a month that ran
// out gets the plan's allowance again at midnight UTC on the 1st.
func TestMonthRollover(t *testing.T) {
	w := newWorld(t)
	w.plan(t, w.who.UserID, "tiny", 50)
	if got := w.balance(t); got != 50 {
		t.Fatalf("a fresh month's balance is %d, want 50", got)
	}
	// Admitted with 50 left; its cost (60) is within its reservation, so
	// the month overshoots by 10 and ends at zero, not below.
	done, err := w.complete("test-ok")
	testenv.Must(t, err)
	if done.Credits != perCall || done.Balance != 0 {
		t.Fatalf("first call: %+v", done)
	}
	if _, err := w.complete("test-ok"); !errors.Is(err, assistant.ErrQuotaExceeded) {
		t.Fatalf("a call with the month spent: %v, want ErrQuotaExceeded", err)
	}
	w.clock.Advance(2 * time.Hour) // 2026-04-01T00:00Z
	if got := w.balance(t); got != 50 {
		t.Fatalf("balance on April 1st is %d, want 50", got)
	}
	done, err = w.complete("test-ok")
	testenv.Must(t, err)
	if done.Balance != 0 {
		t.Fatalf("April's first call: %+v", done)
	}
	var months int
	testenv.Must(t, w.a.DB.QueryRow(context.Background(),
		`SELECT count(*) FROM assistant_credit_months WHERE user_id = $1 AND spent = $2`, w.who.UserID, perCall).Scan(&months))
	if months != 2 {
		t.Fatalf("%d month rows with one call each, want 2 (March and April)", months)
	}
}

// TestPlanChange: the current month's balance follows the plan at once:
// allowance of the new plan less what was spent this month, floor 0.
func TestPlanChange(t *testing.T) {
	w := newWorld(t)
	if got := w.balance(t); got != 0 {
		t.Fatalf("Basic's balance is %d, want 0", got)
	}
	if _, err := w.complete("test-ok"); !errors.Is(err, assistant.ErrQuotaExceeded) {
		t.Fatalf("a Basic user's call: %v, want ErrQuotaExceeded", err)
	}
	_, err := w.a.DB.Exec(context.Background(), `UPDATE users SET plan = 'individual' WHERE id = $1`, w.who.UserID)
	testenv.Must(t, err)
	done, err := w.complete("test-ok")
	testenv.Must(t, err)
	if done.Balance != 500000-perCall {
		t.Fatalf("after the upgrade and one call the balance is %d, want %d", done.Balance, 500000-perCall)
	}
	w.plan(t, w.who.UserID, "small", 100)
	if got := w.balance(t); got != 100-perCall {
		t.Fatalf("after a downgrade to 100 the balance is %d, want %d", got, 100-perCall)
	}
	w.plan(t, w.who.UserID, "smaller", perCall/2)
	if got := w.balance(t); got != 0 {
		t.Fatalf("after a downgrade below what was spent the balance is %d, want 0", got)
	}
	if _, err := w.complete("test-ok"); !errors.Is(err, assistant.ErrQuotaExceeded) {
		t.Fatalf("a call after the downgrade: %v, want ErrQuotaExceeded", err)
	}
}

// TestStaleReservationIsReleased: a reservation left by a replica that died
// mid-call stops holding credits once it is older than any call can last.
func TestStaleReservationIsReleased(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	w.plan(t, w.who.UserID, "tiny", 1000)
	_, err := w.complete("test-ok") // creates the month row
	testenv.Must(t, err)
	month := time.Date(2026, time.March, 1, 0, 0, 0, 0, time.UTC)
	_, err = w.a.DB.Exec(ctx, `INSERT INTO assistant_reservations (user_id, month, credits, created_at) VALUES ($1, $2, 5000, $3)`,
		w.who.UserID, month, w.clock.Now().Add(-time.Minute))
	testenv.Must(t, err)
	_, err = w.a.DB.Exec(ctx, `UPDATE assistant_credit_months SET reserved = reserved + 5000 WHERE user_id = $1`, w.who.UserID)
	testenv.Must(t, err)
	if _, err := w.complete("test-ok"); !errors.Is(err, assistant.ErrQuotaExceeded) {
		t.Fatalf("with a recent reservation holding the month: %v, want ErrQuotaExceeded", err)
	}
	w.clock.Advance(time.Hour) // 10×2s + 1m is long past; still March
	done, err := w.complete("test-ok")
	testenv.Must(t, err)
	if done.Balance != 1000-2*perCall {
		t.Fatalf("after the stale reservation went, balance %d, want %d", done.Balance, 1000-2*perCall)
	}
}

// TestUsageByDay sums usage rows per UTC day and model.
func TestUsageByDay(t *testing.T) {
	w := newWorld(t)
	w.plan(t, w.who.UserID, "big", 1_000_000)
	for range 2 {
		_, err := w.complete("test-ok")
		testenv.Must(t, err)
	}
	w.clock.Advance(3 * time.Hour) // April 1st, 01:00Z
	_, err := w.complete("test-ok")
	testenv.Must(t, err)
	days, err := w.svc.UsageByDay(context.Background(), w.who.UserID,
		time.Date(2026, time.March, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, time.May, 1, 0, 0, 0, 0, time.UTC))
	testenv.Must(t, err)
	want := []assistant.DayUsage{
		{Day: time.Date(2026, time.March, 31, 0, 0, 0, 0, time.UTC), ModelID: "test-ok", Calls: 2, PromptTokens: 20, CompletionTokens: 40, Credits: 2 * perCall},
		{Day: time.Date(2026, time.April, 1, 0, 0, 0, 0, time.UTC), ModelID: "test-ok", Calls: 1, PromptTokens: 10, CompletionTokens: 20, Credits: perCall},
	}
	if len(days) != len(want) {
		t.Fatalf("usage by day: %+v, want %+v", days, want)
	}
	for i := range want {
		if !days[i].Day.Equal(want[i].Day) || days[i].ModelID != want[i].ModelID || days[i].Calls != want[i].Calls ||
			days[i].Credits != want[i].Credits || days[i].PromptTokens != want[i].PromptTokens {
			t.Fatalf("day %d: %+v, want %+v", i, days[i], want[i])
		}
	}
}
