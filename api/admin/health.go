package admin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/caido-cloud/caido-cloud/backup"

	"github.com/gin-gonic/gin"
)

// check is one readiness condition: ok, or why not and what to do.
type check struct {
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
	// Detail is informative and never fails readiness.
	Detail any `json:"detail,omitempty"`
}

// Checks are what readiness asks: the database, OpenFGA, the outbox's
// backlog and the last backups (Backups nil: none configured here).
type Checks struct {
	Database interface {
		Ping(ctx context.Context) error
		PendingMigrations(ctx context.Context) ([]string, error)
	}
	Authz interface {
		Ready(ctx context.Context) error
	}
	Outbox interface {
		Pending(ctx context.Context) (int64, error)
	}
	Backups *backup.Scheduler
}

// Validate names a check readiness cannot make.
func (c Checks) Validate() error {
	if c.Database == nil || c.Authz == nil || c.Outbox == nil {
		return errors.New("api/admin: readiness needs Database, Authz and Outbox")
	}
	return nil
}

// Readiness answers 200 only when PostgreSQL answers, the schema is at this
// binary's head, and OpenFGA answers with this binary's model written.
//
// detailed is the operator listener's answer: each check's error and detail
// (outbox backlog, the last backup). The public answer says only which
// checks pass: a load balancer needs no more, and errors name internal
// addresses and paths the public should not see. It is also cached: the
// public answer is at most PublicReadinessMaxAge old.
func Readiness(d Checks, detailed bool) gin.HandlerFunc {
	checks := map[string]func(context.Context) check{
		"postgres": func(ctx context.Context) check {
			return result(d.Database.Ping(ctx), nil)
		},
		"migrations": func(ctx context.Context) check {
			pending, err := d.Database.PendingMigrations(ctx)
			if err == nil && len(pending) > 0 {
				err = fmt.Errorf("%d migrations not applied: run `caido-cloud migrate`", len(pending))
			}
			if pending == nil {
				pending = []string{} // [] rather than null when none is
			}
			return result(err, gin.H{"pending": pending})
		},
		"openfga": func(ctx context.Context) check {
			return result(d.Authz.Ready(ctx), nil)
		},
		"authz_outbox": func(ctx context.Context) check {
			// Pending entries are normal for a moment and expected while
			// OpenFGA is down; they are shown, not failed on.
			n, err := d.Outbox.Pending(ctx)
			return check{OK: true, Detail: gin.H{"pending": n, "error": errString(err)}}
		},
		"backup": func(ctx context.Context) check {
			// Shown, never failed on: a missed backup is for an alert
			// (caido_cloud_backup_last_success_seconds), not a reason to
			// take replicas out of service.
			// configured: this replica takes them; status: the last runs of
			// whoever took them (serve, or `backup create` from a CronJob).
			if d.Backups == nil {
				return check{OK: true, Detail: gin.H{"configured": false}}
			}
			st, err := d.Backups.Status(ctx)
			return check{OK: true, Detail: gin.H{"configured": d.Backups.TakesBackups(), "status": st, "error": errString(err)}}
		},
	}
	probe := func(ctx context.Context) (int, gin.H) {
		ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		results := make(map[string]check, len(checks))
		var mu sync.Mutex
		var wg sync.WaitGroup
		for name, fn := range checks {
			wg.Go(func() {
				r := fn(ctx)
				mu.Lock()
				results[name] = r
				mu.Unlock()
			})
		}
		wg.Wait()
		status, word := http.StatusOK, "ready"
		for name, r := range results {
			if !r.OK {
				status, word = http.StatusServiceUnavailable, "not ready"
			}
			if !detailed {
				results[name] = check{OK: r.OK}
			}
		}
		return status, gin.H{"status": word, "checks": results}
	}
	if detailed {
		// The operator asks now and wants now's answer.
		return func(c *gin.Context) {
			status, body := probe(c.Request.Context())
			c.JSON(status, body)
		}
	}
	// The public /readyz is anyone's to call, as often as they like: each
	// call would cost a PostgreSQL and an OpenFGA round trip (and a query of
	// the schema), so a flood of them would load both for everyone. It
	// answers from a result at most PublicReadinessMaxAge old instead, and
	// the callers that arrive while one probe runs wait for that one. A load
	// balancer probing every few seconds still sees every change within a
	// second.
	var cached cachedReadiness
	return func(c *gin.Context) {
		status, body, err := cached.get(c.Request.Context(), probe)
		if err != nil {
			return // the caller hung up while waiting
		}
		c.JSON(status, body)
	}
}

// PublicReadinessMaxAge is how old the public /readyz's answer may be.
const PublicReadinessMaxAge = time.Second

// cachedReadiness is the public readiness answer and when its probe began.
type cachedReadiness struct {
	mu      sync.Mutex
	status  int
	body    gin.H
	at      time.Time     // when the probe of status and body began
	running chan struct{} // closed when the probe under way ends; nil: none runs
}

func (r *cachedReadiness) get(ctx context.Context, probe func(context.Context) (int, gin.H)) (int, gin.H, error) {
	r.mu.Lock()
	if r.body != nil && time.Since(r.at) < PublicReadinessMaxAge {
		defer r.mu.Unlock()
		return r.status, r.body, nil
	}
	running := r.running
	if running == nil {
		running = make(chan struct{})
		r.running = running
		go func() {
			// Not the caller's context: others wait for this probe, and
			// one caller hanging up must not fail theirs.
			started := time.Now()
			status, body := probe(context.WithoutCancel(ctx))
			r.mu.Lock()
			r.status, r.body, r.at, r.running = status, body, started, nil
			r.mu.Unlock()
			close(running)
		}()
	}
	r.mu.Unlock()
	select {
	case <-running:
	case <-ctx.Done():
		return 0, nil, ctx.Err()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.status, r.body, nil
}

func result(err error, detail any) check {
	return check{OK: err == nil, Error: errString(err), Detail: detail}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
