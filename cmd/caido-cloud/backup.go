package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/caido-cloud/caido-cloud/backup"
	"github.com/caido-cloud/caido-cloud/store"
)

// The backup commands need PostgreSQL and the backup settings only, not
// OpenFGA or the master key: a restore must work before anything else does.

func backupKeygen(_ context.Context, args []string) error {
	if len(args) > 0 {
		return fmt.Errorf("backup keygen takes no arguments: %w", errUsage)
	}
	ks, err := backup.NewKeyset()
	if err != nil {
		return err
	}
	fmt.Println(ks) // stdout only, for the operator's secret store
	fmt.Fprintln(os.Stderr, "Set it as CAIDO_CLOUD_BACKUP_KEYSET, keep it secret, and keep a copy apart from the backups: without it they cannot be read.")
	return nil
}

func backupCreate(ctx context.Context, args []string) error {
	cfg, rest, err := loadConfig("backup create", args, []string{"DATABASE_URL", "CAIDO_CLOUD_BACKUP_DIR", "CAIDO_CLOUD_BACKUP_KEYSET"}, nil)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return fmt.Errorf("backup create takes no arguments: %w", errUsage)
	}
	// Recorded in backup_runs like serve's own, so that every replica's
	// /readyz and metric report backups taken by a CronJob too.
	db, err := store.Open(ctx, cfg.DatabaseURL, tracenoop.NewTracerProvider())
	if err != nil {
		return err
	}
	defer db.Close()
	s, err := backup.NewScheduler(db, backup.SchedulerOptions{
		DatabaseURL: cfg.DatabaseURL, Dir: cfg.BackupDir, Keyset: cfg.BackupKeyset,
		Interval: cfg.BackupInterval, Retention: cfg.BackupRetention, Log: cfg.Logger(),
	})
	if err != nil {
		return err
	}
	m, err := s.RunNow(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("%s  %d bytes  key %d  sha256 %s\n", filepath.Join(cfg.BackupDir, m.File), m.Size, m.KeyID, m.SHA256)
	return nil
}

func backupList(_ context.Context, args []string) error {
	cfg, rest, err := loadConfig("backup list", args, []string{"CAIDO_CLOUD_BACKUP_DIR"}, nil)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return fmt.Errorf("backup list takes no arguments: %w", errUsage)
	}
	list, err := backup.List(cfg.BackupDir)
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "FILE\tTIME\tBYTES\tKEY\tSCHEMA\tNOTE")
	for _, b := range list {
		note := b.Problem
		if note == "" {
			note = "ok"
		}
		fmt.Fprintf(w, "%s\t%s\t%d\t%d\t%d\t%s\n", b.Name, b.Time.Format(time.RFC3339), b.Size, b.Manifest.KeyID, b.Manifest.SchemaVersion, note)
	}
	return w.Flush()
}

func backupRestore(ctx context.Context, args []string) error {
	// FILE may come before the flags (`backup restore FILE --force`), where
	// the flag package would stop parsing.
	var file string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		file, args = args[0], args[1:]
	}
	var force *bool
	flags := func(fs *flag.FlagSet) {
		force = fs.Bool("force", false, "replace the contents of a database that is not empty (stop every replica first)")
	}
	cfg, rest, err := loadConfig("backup restore", args, []string{"DATABASE_URL", "CAIDO_CLOUD_BACKUP_KEYSET"}, flags)
	if err != nil {
		return err
	}
	if file == "" && len(rest) == 1 {
		file, rest = rest[0], nil
	}
	if file == "" || len(rest) > 0 {
		return fmt.Errorf("usage: caido-cloud backup restore FILE [--force]: %w", errUsage)
	}
	// A bare name is looked for in the backup folder too, as `backup list`
	// prints names.
	if _, err := os.Stat(file); errors.Is(err, os.ErrNotExist) && cfg.BackupDir != "" && !strings.ContainsRune(file, os.PathSeparator) {
		file = filepath.Join(cfg.BackupDir, file)
	}
	m, err := backup.Restore(ctx, file, cfg.DatabaseURL, cfg.BackupKeyset, *force)
	if err != nil {
		return err
	}
	fmt.Printf("restored %s (taken %s, schema version %d)\n", m.File, m.CreatedAt.Format(time.RFC3339), m.SchemaVersion)
	fmt.Println("Next: `caido-cloud migrate`, then `caido-cloud fga reconcile`: OpenFGA's tuples are not in backups and are rebuilt from the restored rows.")
	fmt.Println("The restored signing keys open only with the CAIDO_CLOUD_MASTER_KEY they were sealed under.")
	return nil
}

func backupPrune(_ context.Context, args []string) error {
	var olderThan *time.Duration
	flags := func(fs *flag.FlagSet) {
		olderThan = fs.Duration("older-than", 0, "delete backups older than this (default: CAIDO_CLOUD_BACKUP_RETENTION, 720h); the newest is always kept")
	}
	cfg, rest, err := loadConfig("backup prune", args, []string{"CAIDO_CLOUD_BACKUP_DIR"}, flags)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return fmt.Errorf("backup prune takes no arguments: %w", errUsage)
	}
	age := cfg.BackupRetention
	if *olderThan != 0 {
		age = *olderThan
	}
	if age <= 0 {
		return fmt.Errorf("--older-than must be positive: %w", errUsage)
	}
	removed, err := backup.Prune(cfg.BackupDir, age)
	for _, name := range removed {
		fmt.Printf("deleted %s\n", name)
	}
	if err != nil {
		return err
	}
	fmt.Printf("prune: %d files deleted (older than %s)\n", len(removed), age)
	return nil
}
