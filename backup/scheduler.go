package backup

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/tink-crypto/tink-go/v2/keyset"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"

	"github.com/caido-cloud/caido-cloud/input"
	"github.com/caido-cloud/caido-cloud/store"
)

// backupLock serialises replicas deciding on and taking the period's
// backup. (7_414_001..003 are migrate, model and outbox; 7_414_010 the
// signing keys.)
const backupLock = 7_414_020

// SchedulerOptions configure the daily backup of `serve`.
type SchedulerOptions struct {
	// DatabaseURL is what pg_dump connects to: the pool's database.
	DatabaseURL string
	Dir         string
	Keyset      *keyset.Handle
	// Interval is the period backed up once (24h: once per UTC day).
	Interval time.Duration
	// Retention is the age past which Prune deletes backups (30 days).
	Retention time.Duration
	// CheckEvery is how often each replica looks whether the period has its
	// backup (a minute, or a quarter of Interval if that is shorter).
	CheckEvery time.Duration
	// RetryAfter is how long after a failed attempt the next one may start
	// (Interval/24: an hour a day).
	RetryAfter time.Duration
	Log        *slog.Logger
	// Meter gets the gauge of the last success; nil: no metric.
	Meter metric.MeterProvider
	// Now is the clock (tests); nil: time.Now.
	Now func() time.Time
}

// Scheduler takes one backup per period across every replica that runs it,
// then prunes the folder.
type Scheduler struct {
	db   *pgxpool.Pool
	opts SchedulerOptions
	// watchOnly: this replica takes no backup (no folder or keyset here:
	// a CronJob or another host does); it only reports backup_runs.
	watchOnly bool
	// lastSuccess is the unix time of the last successful backup of any
	// replica, as last read from backup_runs; 0 when there is none.
	lastSuccess atomic.Int64
}

// NewScheduler checks the options and registers the metric; it starts
// nothing (Run does).
func NewScheduler(db *pgxpool.Pool, opts SchedulerOptions) (*Scheduler, error) {
	if opts.DatabaseURL == "" || opts.Dir == "" || opts.Keyset == nil {
		return nil, errors.New("backup scheduler: the database URL, folder and keyset are all needed")
	}
	if _, _, err := primitive(opts.Keyset); err != nil {
		return nil, err
	}
	if _, err := parseConn(opts.DatabaseURL); err != nil {
		return nil, err
	}
	return newScheduler(db, opts, false)
}

// NewWatcher is a Scheduler that takes no backup: for replicas where
// backups are taken elsewhere (`backup create` from a CronJob), it reports
// the runs recorded in backup_runs in /readyz and the metric all the same.
func NewWatcher(db *pgxpool.Pool, opts SchedulerOptions) (*Scheduler, error) {
	return newScheduler(db, opts, true)
}

func newScheduler(db *pgxpool.Pool, opts SchedulerOptions, watchOnly bool) (*Scheduler, error) {
	if opts.Interval <= 0 {
		opts.Interval = 24 * time.Hour
	}
	if opts.Retention <= 0 {
		opts.Retention = DefaultPrune
	}
	if opts.CheckEvery <= 0 {
		opts.CheckEvery = min(time.Minute, opts.Interval/4)
	}
	if opts.RetryAfter <= 0 {
		opts.RetryAfter = opts.Interval / 24
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Meter == nil {
		opts.Meter = noop.NewMeterProvider()
	}
	s := &Scheduler{db: db, opts: opts, watchOnly: watchOnly}
	meter := opts.Meter.Meter("github.com/caido-cloud/caido-cloud/backup")
	gauge, err := meter.Int64ObservableGauge("caido_cloud.backup.last_success",
		metric.WithUnit("s"),
		metric.WithDescription("Unix time of the last successful encrypted backup (0: none yet); alert when it is older than a day and a bit"))
	if err != nil {
		return nil, err
	}
	if _, err := meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		o.ObserveInt64(gauge, s.lastSuccess.Load())
		return nil
	}, gauge); err != nil {
		return nil, err
	}
	return s, nil
}

// Run looks every CheckEvery whether the current period has its backup and
// takes it when not, until ctx ends. Every replica may run it.
func (s *Scheduler) Run(ctx context.Context) {
	tick := time.NewTicker(s.opts.CheckEvery)
	defer tick.Stop()
	for {
		if s.watchOnly {
			s.refresh(ctx)
		} else if _, err := s.RunDue(ctx); err != nil && ctx.Err() == nil {
			s.opts.Log.ErrorContext(ctx, "backup failed; retrying later", "error", err, "retry_after", s.opts.RetryAfter)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// RunDue takes the current period's backup if it has none yet (and no
// failed attempt within RetryAfter), then prunes. It says whether this call
// took it: among replicas calling it at once, one does, under the advisory
// lock, after reading the period's row again.
func (s *Scheduler) RunDue(ctx context.Context) (ran bool, err error) {
	defer s.refresh(ctx)
	period := s.period()
	// The first look is without the lock, so that idle replicas only read.
	if due, err := s.isDue(ctx, s.db, period); err != nil || !due {
		return false, err
	}
	err = store.WithAdvisoryLock(ctx, s.db, backupLock, func(conn *pgxpool.Conn) error {
		due, err := s.isDue(ctx, conn, period)
		if err != nil || !due {
			return err
		}
		ran = true
		_, err = s.run(ctx, conn, period, true)
		return err
	})
	return ran, err
}

// TakesBackups says whether this replica backs up (false for a watcher).
func (s *Scheduler) TakesBackups() bool { return !s.watchOnly }

// RunNow takes a backup now, whatever the period's row says, and records it
// in backup_runs as the period's (`backup create`, e.g. from a CronJob), so
// that every replica's /readyz and metric report it. It does not prune.
func (s *Scheduler) RunNow(ctx context.Context) (m Manifest, err error) {
	if s.watchOnly {
		return Manifest{}, errors.New("backup: this scheduler only watches")
	}
	defer s.refresh(ctx)
	err = store.WithAdvisoryLock(ctx, s.db, backupLock, func(conn *pgxpool.Conn) error {
		m, err = s.run(ctx, conn, s.period(), false)
		return err
	})
	return m, err
}

func (s *Scheduler) period() time.Time { return s.opts.Now().UTC().Truncate(s.opts.Interval) }

type querier interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}

// isDue reads the period's row: none, or a failed attempt older than
// RetryAfter, is due. A row still running is due too: under the lock
// nobody else is running it, so its replica died (without the lock, the
// caller then waits for the lock and looks again).
func (s *Scheduler) isDue(ctx context.Context, db querier, period time.Time) (bool, error) {
	var finished *time.Time
	var failure *string
	err := db.QueryRow(ctx, `SELECT finished_at, error FROM backup_runs WHERE period = $1`, period).Scan(&finished, &failure)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return true, nil
	case err != nil:
		return false, fmt.Errorf("read backup runs: %w", err)
	case finished == nil:
		return true, nil
	case failure == nil:
		return false, nil
	default:
		return !s.opts.Now().Before(finished.Add(s.opts.RetryAfter)), nil
	}
}

// run, under the lock, records the attempt, backs up, records the outcome
// and, with andPrune, prunes.
func (s *Scheduler) run(ctx context.Context, conn *pgxpool.Conn, period time.Time, andPrune bool) (Manifest, error) {
	start := s.opts.Now()
	if _, err := conn.Exec(ctx, `INSERT INTO backup_runs (period, started_at) VALUES ($1, $2)
		ON CONFLICT (period) DO UPDATE SET attempts = backup_runs.attempts + 1, started_at = $2,
			finished_at = NULL, file = NULL, size_bytes = NULL, error = NULL`, period, start); err != nil {
		return Manifest{}, fmt.Errorf("record backup run: %w", err)
	}
	m, err := create(ctx, s.opts.DatabaseURL, s.opts.Dir, s.opts.Keyset, start)
	// The outcome is recorded even when ctx ended (shutdown) mid-backup.
	rctx := context.WithoutCancel(ctx)
	finished := s.opts.Now()
	if finished.Before(start) { // a clock stepped back: the row's check wants order
		finished = start
	}
	if err != nil {
		msg := err.Error()
		// Between characters, and as text PostgreSQL takes: pg_dump's
		// words may quote anything.
		msg = input.Cut(strings.ReplaceAll(strings.ToValidUTF8(msg, "\uFFFD"), "\x00", ""), 2000)
		if _, rerr := conn.Exec(rctx, `UPDATE backup_runs SET finished_at = $2, error = $3 WHERE period = $1`,
			period, finished, msg); rerr != nil {
			err = errors.Join(err, fmt.Errorf("record backup failure: %w", rerr))
		}
		return Manifest{}, err
	}
	if _, err := conn.Exec(rctx, `UPDATE backup_runs SET finished_at = $2, file = $3, size_bytes = $4 WHERE period = $1`,
		period, finished, m.File, m.Size); err != nil {
		return m, fmt.Errorf("record backup run: %w", err)
	}
	s.lastSuccess.Store(finished.Unix()) // the gauge need not wait for the next refresh
	s.opts.Log.InfoContext(ctx, "backed up the database", "file", m.File, "bytes", m.Size, "key_id", m.KeyID)
	if !andPrune {
		return m, nil
	}
	removed, err := prune(s.opts.Dir, s.opts.Retention, s.opts.Now())
	for _, name := range removed {
		s.opts.Log.InfoContext(ctx, "pruned an old backup", "file", name)
	}
	if err != nil {
		// The backup itself is fine; the next run prunes again.
		s.opts.Log.ErrorContext(ctx, "pruning old backups failed", "error", err)
	}
	return m, nil
}

// Status is what /readyz shows of the backups of every replica.
type Status struct {
	LastSuccess     *time.Time `json:"last_success,omitempty"`
	LastSuccessFile string     `json:"last_success_file,omitempty"`
	// LastError is the last failure's, shown while no backup succeeded
	// after it.
	LastError    string     `json:"last_error,omitempty"`
	LastErrorAt  *time.Time `json:"last_error_at,omitempty"`
	RunningSince *time.Time `json:"running_since,omitempty"`
	Interval     string     `json:"interval"`
}

// Status reads the last success, the last failure since, and a run in
// progress from backup_runs.
func (s *Scheduler) Status(ctx context.Context) (Status, error) {
	st := Status{Interval: s.opts.Interval.String()}
	var file, failure *string
	var failedAt *time.Time
	err := s.db.QueryRow(ctx, `SELECT ok.finished_at, ok.file, bad.finished_at, bad.error, running.started_at
		FROM (SELECT 1) one
		LEFT JOIN LATERAL (SELECT finished_at, file FROM backup_runs
			WHERE finished_at IS NOT NULL AND error IS NULL ORDER BY finished_at DESC LIMIT 1) ok ON true
		LEFT JOIN LATERAL (SELECT finished_at, error FROM backup_runs
			WHERE error IS NOT NULL ORDER BY finished_at DESC LIMIT 1) bad ON true
		LEFT JOIN LATERAL (SELECT started_at FROM backup_runs
			WHERE finished_at IS NULL ORDER BY started_at DESC LIMIT 1) running ON true`).
		Scan(&st.LastSuccess, &file, &failedAt, &failure, &st.RunningSince)
	if err != nil {
		return st, fmt.Errorf("read backup runs: %w", err)
	}
	if file != nil {
		st.LastSuccessFile = *file
	}
	if failure != nil && (st.LastSuccess == nil || failedAt.After(*st.LastSuccess)) {
		st.LastError, st.LastErrorAt = *failure, failedAt
	}
	if st.RunningSince != nil && st.LastSuccess != nil && st.RunningSince.Before(*st.LastSuccess) {
		st.RunningSince = nil // a run whose replica died, superseded since
	}
	return st, nil
}

// refresh updates the gauge from backup_runs, so that every replica
// reports the last success of whichever one took it.
func (s *Scheduler) refresh(ctx context.Context) {
	// Also after ctx ended (the last tick at shutdown), but bounded.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	st, err := s.Status(ctx)
	if err != nil {
		return
	}
	if st.LastSuccess != nil {
		s.lastSuccess.Store(st.LastSuccess.Unix())
	}
}
