package app

import (
	"errors"

	"github.com/caido-cloud/caido-cloud/backup"
)

// newBackups builds the daily backup when both its folder and its keyset
// are set, and a watcher of the backups taken elsewhere when neither is. One without the other is a mistake worth stopping for: an
// operator who set one believes backups are being taken.
func (a *App) newBackups() (*backup.Scheduler, error) {
	cfg := a.Config
	switch {
	case cfg.BackupDir == "" && cfg.BackupKeyset == nil:
		// Backups are taken elsewhere (a CronJob running `backup create`),
		// or not at all: this replica still reports backup_runs.
		return backup.NewWatcher(a.DB, backup.SchedulerOptions{
			Interval: cfg.BackupInterval, Log: a.Log, Meter: a.Telemetry.MeterProvider(), Now: a.now,
		})
	case cfg.BackupKeyset == nil:
		return nil, errors.New("CAIDO_CLOUD_BACKUP_DIR is set but CAIDO_CLOUD_BACKUP_KEYSET is not: set both for daily backups (generate a keyset with `caido-cloud backup keygen`), or neither")
	case cfg.BackupDir == "":
		return nil, errors.New("CAIDO_CLOUD_BACKUP_KEYSET is set but CAIDO_CLOUD_BACKUP_DIR is not: set both for daily backups, or neither")
	}
	return backup.NewScheduler(a.DB, backup.SchedulerOptions{
		DatabaseURL: cfg.DatabaseURL,
		Dir:         cfg.BackupDir,
		Keyset:      cfg.BackupKeyset,
		Interval:    cfg.BackupInterval,
		Retention:   cfg.BackupRetention,
		Log:         a.Log,
		Meter:       a.Telemetry.MeterProvider(),
		Now:         a.now,
	})
}
