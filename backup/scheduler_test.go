package backup_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/caido-cloud/caido-cloud/app"
	"github.com/caido-cloud/caido-cloud/backup"
	"github.com/caido-cloud/caido-cloud/internal/testenv"
	"github.com/caido-cloud/caido-cloud/store"
	"github.com/caido-cloud/caido-cloud/telemetry"
)

// migrated is a fresh database at head, its URL and a pool on it.
func migrated(t *testing.T) (string, *pgxpool.Pool) {
	t.Helper()
	u := testenv.NewDatabase(t)
	pool := testenv.Pool(t, u)
	_, err := store.Migrate(context.Background(), pool)
	testenv.Must(t, err)
	return u, pool
}

func backupFiles(t *testing.T, dirs ...string) []string {
	t.Helper()
	var out []string
	for _, dir := range dirs {
		list, err := backup.List(dir)
		testenv.Must(t, err)
		for _, b := range list {
			out = append(out, b.Path)
		}
	}
	return out
}

// TestSchedulersBackUpOncePerPeriod: two replicas' schedulers (each its own
// pool and folder) checking at the same time, several times over, take one
// backup per day between them.
func TestSchedulersBackUpOncePerPeriod(t *testing.T) {
	ctx := context.Background()
	u, pool := migrated(t)
	clock := testenv.NewClock(time.Date(2026, time.March, 10, 9, 30, 0, 0, time.UTC))
	ks := newKeyset(t)
	dirs := []string{t.TempDir(), t.TempDir()}
	var replicas []*backup.Scheduler
	for _, dir := range dirs {
		s, err := backup.NewScheduler(testenv.Pool(t, u), backup.SchedulerOptions{DatabaseURL: u, Dir: dir, Keyset: ks, Now: clock.Now})
		testenv.Must(t, err)
		replicas = append(replicas, s)
	}
	for day := 1; day <= 2; day++ {
		var ran atomic.Int32
		var wg sync.WaitGroup
		for range 3 {
			for _, s := range replicas {
				wg.Go(func() {
					took, err := s.RunDue(ctx)
					if err != nil {
						t.Errorf("day %d: %v", day, err)
					}
					if took {
						ran.Add(1)
					}
				})
			}
		}
		wg.Wait()
		if n := ran.Load(); n != 1 {
			t.Errorf("day %d: %d calls took a backup, want 1", day, n)
		}
		if files := backupFiles(t, dirs...); len(files) != day {
			t.Errorf("day %d: %d backups in the replicas' folders, want %d: %v", day, len(files), day, files)
		}
		// Later the same day: nothing more to do.
		clock.Advance(10 * time.Hour)
		for _, s := range replicas {
			if took, err := s.RunDue(ctx); took || err != nil {
				t.Errorf("day %d, later: took %v, error %v; want nothing", day, took, err)
			}
		}
		clock.Advance(14 * time.Hour)
	}
	var runs, done int
	testenv.Must(t, pool.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE finished_at IS NOT NULL AND error IS NULL AND attempts = 1)
		FROM backup_runs`).Scan(&runs, &done))
	if runs != 2 || done != 2 {
		t.Errorf("backup_runs has %d rows, %d finished at the first attempt; want 2 and 2", runs, done)
	}
	st, err := replicas[1].Status(ctx)
	testenv.Must(t, err)
	if st.LastSuccess == nil || !strings.HasPrefix(st.LastSuccessFile, "caido-cloud-20260311T") || st.LastError != "" {
		t.Errorf("status %+v, want the second day's backup and no error", st)
	}
}

// TestWatcherReportsBackupsTakenElsewhere: a backup taken by `backup
// create` (RunNow, as from a CronJob) is recorded for its period, seen by a
// replica that takes none itself (a watcher), and makes that period's
// scheduled run unnecessary.
func TestWatcherReportsBackupsTakenElsewhere(t *testing.T) {
	ctx := context.Background()
	u, pool := migrated(t)
	clock := testenv.NewClock(time.Date(2026, time.March, 10, 3, 17, 0, 0, time.UTC))
	dir := t.TempDir()
	job, err := backup.NewScheduler(testenv.Pool(t, u), backup.SchedulerOptions{DatabaseURL: u, Dir: dir, Keyset: newKeyset(t), Now: clock.Now})
	testenv.Must(t, err)
	watcher, err := backup.NewWatcher(pool, backup.SchedulerOptions{Now: clock.Now})
	testenv.Must(t, err)
	if watcher.TakesBackups() || !job.TakesBackups() {
		t.Fatal("TakesBackups: the watcher must not, the scheduler must")
	}
	if _, err := watcher.RunNow(ctx); err == nil {
		t.Fatal("a watcher took a backup")
	}
	st, err := watcher.Status(ctx)
	testenv.Must(t, err)
	if st.LastSuccess != nil {
		t.Fatalf("a success before any backup: %+v", st)
	}
	m, err := job.RunNow(ctx)
	testenv.Must(t, err)
	st, err = watcher.Status(ctx)
	testenv.Must(t, err)
	if st.LastSuccess == nil || st.LastSuccessFile != m.File {
		t.Fatalf("the watcher reports %+v, want %s", st, m.File)
	}
	if took, err := job.RunDue(ctx); took || err != nil {
		t.Fatalf("the scheduled run after RunNow: took %v, %v; want nothing to do", took, err)
	}
	// RunNow again the same day replaces the period's record, and does not prune.
	clock.Advance(time.Hour)
	m2, err := job.RunNow(ctx)
	testenv.Must(t, err)
	var runs, attempts int
	var file string
	testenv.Must(t, pool.QueryRow(ctx, `SELECT count(*), max(attempts), max(file) FROM backup_runs`).Scan(&runs, &attempts, &file))
	if runs != 1 || attempts != 2 || file != m2.File {
		t.Fatalf("backup_runs: %d rows, %d attempts, file %s; want 1, 2, %s", runs, attempts, file, m2.File)
	}
	if files := backupFiles(t, dir); len(files) != 2 {
		t.Fatalf("backups in the folder: %v, want both", files)
	}
}

// TestSchedulerRetriesAFailure: a failed backup is recorded and shown, not
// retried before RetryAfter, and retried after it.
func TestSchedulerRetriesAFailure(t *testing.T) {
	ctx := context.Background()
	u, pool := migrated(t)
	clock := testenv.NewClock(time.Date(2026, time.March, 10, 0, 5, 0, 0, time.UTC))
	// A folder that cannot be made while a file stands in its way.
	blocker := filepath.Join(t.TempDir(), "blocker")
	testenv.Must(t, os.WriteFile(blocker, nil, 0o600))
	s, err := backup.NewScheduler(pool, backup.SchedulerOptions{DatabaseURL: u, Dir: filepath.Join(blocker, "backups"),
		Keyset: newKeyset(t), Now: clock.Now})
	testenv.Must(t, err)

	took, err := s.RunDue(ctx)
	if !took || err == nil {
		t.Fatalf("first run: took %v, error %v; want a failed attempt", took, err)
	}
	st, err := s.Status(ctx)
	testenv.Must(t, err)
	if st.LastSuccess != nil || !strings.Contains(st.LastError, "backup folder") {
		t.Errorf("status after the failure: %+v", st)
	}
	clock.Advance(30 * time.Minute) // RetryAfter is an hour
	if took, err := s.RunDue(ctx); took || err != nil {
		t.Errorf("within RetryAfter: took %v, error %v; want nothing", took, err)
	}
	testenv.Must(t, os.Remove(blocker))
	clock.Advance(30 * time.Minute)
	if took, err := s.RunDue(ctx); !took || err != nil {
		t.Fatalf("after RetryAfter: took %v, error %v; want a backup", took, err)
	}
	st, err = s.Status(ctx)
	testenv.Must(t, err)
	if st.LastSuccess == nil || st.LastError != "" {
		t.Errorf("status after the retry: %+v", st)
	}
	var attempts int
	testenv.Must(t, pool.QueryRow(ctx, `SELECT attempts FROM backup_runs`).Scan(&attempts))
	if attempts != 2 {
		t.Errorf("attempts = %d, want 2", attempts)
	}
}

// TestFailureKeepsTheSecretOut: a backup failing to connect records and
// returns an error without the password.
func TestFailureKeepsTheSecretOut(t *testing.T) {
	ctx := context.Background()
	u, pool := migrated(t)
	wrong, err := urlWithPassword(u, "Wr0ng-Pa55word-xyz")
	testenv.Must(t, err)
	s, err := backup.NewScheduler(pool, backup.SchedulerOptions{DatabaseURL: wrong, Dir: t.TempDir(), Keyset: newKeyset(t)})
	testenv.Must(t, err)
	_, err = s.RunDue(ctx)
	if err == nil || strings.Contains(err.Error(), "Wr0ng-Pa55word-xyz") {
		t.Errorf("error %v: want a failure that does not quote the password", err)
	}
	var recorded string
	testenv.Must(t, pool.QueryRow(ctx, `SELECT error FROM backup_runs`).Scan(&recorded))
	if recorded == "" || strings.Contains(recorded, "Wr0ng-Pa55word-xyz") {
		t.Errorf("recorded error %q: want one without the password", recorded)
	}
}

// TestServeBacksUp: serve with a backup folder and keyset takes the day's
// backup at start, and shows it in /readyz and /metrics; with only one of
// the two settings the app refuses to start.
func TestServeBacksUp(t *testing.T) {
	cfg := testenv.Config(t)
	cfg.BackupDir, cfg.BackupKeyset = t.TempDir(), newKeyset(t)
	a, _ := testenv.Serve(t, cfg, testenv.Options{})
	// The operator's routes (/readyz with details, /metrics), whichever
	// listener serves them.
	admin := func(path string) (int, string) {
		rec := httptest.NewRecorder()
		a.AdminHandler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		return rec.Code, rec.Body.String()
	}
	var ready struct {
		Checks map[string]struct {
			OK     bool `json:"ok"`
			Detail struct {
				Configured bool          `json:"configured"`
				Status     backup.Status `json:"status"`
				Error      string        `json:"error"`
			} `json:"detail"`
		} `json:"checks"`
	}
	deadline := time.Now().Add(time.Minute)
	for {
		_, body := admin("/readyz")
		testenv.Must(t, json.Unmarshal([]byte(body), &ready))
		if ready.Checks["backup"].Detail.Status.LastSuccess != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no backup shown in /readyz after a minute: %s", body)
		}
		time.Sleep(200 * time.Millisecond)
	}
	b := ready.Checks["backup"]
	if !b.OK || !b.Detail.Configured || b.Detail.Status.LastError != "" {
		t.Errorf("the backup check: %+v", b)
	}
	if files := backupFiles(t, cfg.BackupDir); len(files) != 1 || filepath.Base(files[0]) != b.Detail.Status.LastSuccessFile {
		t.Errorf("backups in the folder: %v; /readyz shows %s", files, b.Detail.Status.LastSuccessFile)
	}
	// The gauge follows the recorded run (at once on the replica that took
	// it, at the next refresh on the others).
	want := "caido_cloud_backup_last_success_seconds"
	for {
		status, metrics := admin("/metrics")
		if status != http.StatusOK || !strings.Contains(metrics, want) {
			t.Fatalf("/metrics lacks %s:\n%s", want, metrics)
		}
		zero := false
		for line := range strings.Lines(metrics) {
			zero = zero || strings.HasPrefix(line, want) && strings.HasSuffix(strings.TrimSpace(line), " 0")
		}
		if !zero {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the gauge still says no backup:\n%s", metrics)
		}
		time.Sleep(200 * time.Millisecond)
	}

	t.Run("half configured", func(t *testing.T) {
		ctx := context.Background()
		tel, err := telemetry.Setup(ctx, "test", telemetry.Options{})
		testenv.Must(t, err)
		defer tel.Shutdown(ctx)
		half := testenv.Config(t)
		half.BackupDir = t.TempDir()
		a, err := app.New(ctx, half, slog.New(slog.DiscardHandler), tel, app.Options{})
		if err == nil {
			a.Close()
			t.Fatal("app.New accepted a backup folder without a keyset")
		}
		if !strings.Contains(err.Error(), "CAIDO_CLOUD_BACKUP_KEYSET") {
			t.Errorf("error %v does not name the missing keyset", err)
		}
	})
}

func urlWithPassword(databaseURL, password string) (string, error) {
	u, err := url.Parse(databaseURL)
	if err != nil {
		return "", err
	}
	u.User = url.UserPassword(u.User.Username(), password)
	return u.String(), nil
}
