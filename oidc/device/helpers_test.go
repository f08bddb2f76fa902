package device_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/caido-cloud/caido-cloud/internal/testenv"
	"github.com/caido-cloud/caido-cloud/oidc/device"
)

// fixture is one replica's Service on a fresh database, with its clock.
type fixture struct {
	db    *pgxpool.Pool
	clock *testenv.Clock
	svc   *device.Service
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{db: testenv.MigratedPool(t), clock: testenv.NewClock(time.Now().Truncate(time.Second))}
	// These tests start many flows for one client; the bound on its
	// pending ones has a test of its own (pending_test.go).
	f.svc = device.New(f.db, device.Options{Now: f.clock.Now, PendingLimit: 1 << 20})
	return f
}

// user inserts a user and returns its id.
func (f *fixture) user(t *testing.T) string {
	t.Helper()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	var id string
	err := f.db.QueryRow(context.Background(),
		`INSERT INTO users (email, name) VALUES ($1, 'Device Tester') RETURNING id::text`,
		hex.EncodeToString(b)+"@example.com").Scan(&id)
	testenv.Must(t, err)
	return id
}

// start begins a flow for client "instance-a" asking for openid and
// profile:read.
func (f *fixture) start(t *testing.T) device.Authorization {
	t.Helper()
	a, err := f.svc.Start(context.Background(), "instance-a", []string{"openid", "profile:read"})
	testenv.Must(t, err)
	return a
}

// approved starts a flow and approves it for a new user with every scope.
func (f *fixture) approved(t *testing.T) (device.Authorization, string) {
	t.Helper()
	a := f.start(t)
	userID := f.user(t)
	testenv.Must(t, f.svc.Approve(context.Background(), a.UserCode, userID, []string{"openid", "profile:read"}))
	return a, userID
}

// column reads one column of the flow of userCode (as shown), for checks
// that the API does not expose.
func (f *fixture) column(t *testing.T, userCode, column string) any {
	t.Helper()
	var v any
	code := userCode[:4] + userCode[5:]
	testenv.Must(t, f.db.QueryRow(context.Background(),
		`SELECT `+column+` FROM device_authorizations WHERE user_code = $1`, code).Scan(&v))
	return v
}
