// Package app wires the service together from its configuration: the
// composition root shared by `caido-cloud serve`, `dev run` and the tests.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/jackc/pgx/v5/pgxpool"

	caidocloud "github.com/caido-cloud/caido-cloud"
	"github.com/caido-cloud/caido-cloud/access"
	"github.com/caido-cloud/caido-cloud/accounts"
	"github.com/caido-cloud/caido-cloud/api"
	"github.com/caido-cloud/caido-cloud/api/admin"
	"github.com/caido-cloud/caido-cloud/api/httpx"
	"github.com/caido-cloud/caido-cloud/api/instance"
	"github.com/caido-cloud/caido-cloud/api/public"
	"github.com/caido-cloud/caido-cloud/api/web"
	"github.com/caido-cloud/caido-cloud/approval"
	"github.com/caido-cloud/caido-cloud/assistant"
	"github.com/caido-cloud/caido-cloud/audit"
	"github.com/caido-cloud/caido-cloud/authz"
	"github.com/caido-cloud/caido-cloud/backup"
	"github.com/caido-cloud/caido-cloud/config"
	"github.com/caido-cloud/caido-cloud/instanceapi"
	"github.com/caido-cloud/caido-cloud/limits"
	"github.com/caido-cloud/caido-cloud/mail"
	"github.com/caido-cloud/caido-cloud/oidc"
	"github.com/caido-cloud/caido-cloud/oidc/clients"
	"github.com/caido-cloud/caido-cloud/oidc/device"
	"github.com/caido-cloud/caido-cloud/oidc/signing"
	"github.com/caido-cloud/caido-cloud/pats"
	"github.com/caido-cloud/caido-cloud/regkeys"
	"github.com/caido-cloud/caido-cloud/sharing"
	"github.com/caido-cloud/caido-cloud/store"
	"github.com/caido-cloud/caido-cloud/teams"
	"github.com/caido-cloud/caido-cloud/telemetry"
)

// App is one running replica's parts.
type App struct {
	Config    config.Config
	Log       *slog.Logger
	Telemetry *telemetry.Providers
	DB        *pgxpool.Pool
	Authz     *authz.Client
	Outbox    *authz.Outbox
	Access    *access.Service
	// Sharing is sharing instances, for the dashboard and /api/v1 alike.
	Sharing *sharing.Service
	Handler http.Handler
	// AdminHandler is the operator-only listener's (api/admin).
	AdminHandler http.Handler
	// Backups takes the daily backup; nil unless CAIDO_CLOUD_BACKUP_DIR and
	// CAIDO_CLOUD_BACKUP_KEYSET are set.
	Backups *backup.Scheduler
	// Mail sends over SMTP, or writes to the log without CAIDO_CLOUD_SMTP_HOST.
	Mail mail.Sender

	// The identity side, built only when the master key is set (serve; not
	// migrate or reconcile, which need no secret).
	Keys      *signing.Keys
	Clients   *clients.Service
	Devices   *device.Service
	Sessions  *oidc.Sessions
	Provider  *oidc.Provider
	Assistant *assistant.Service
	RegKeys   *regkeys.Service
	PATs      *pats.Service
	Accounts  *accounts.Service
	Approval  *approval.Service
	Teams     *teams.Service
	// Audit reads the audit log.
	Audit *audit.Log
	// InstanceAPI is the store of what instances report and read.
	InstanceAPI *instanceapi.Store
	// Routes are the method and path of every route Handler serves, for
	// what walks them all (the input sweep of the pages' ids).
	Routes gin.RoutesInfo
	// Limits bound what one connection may hold of the HTTP servers
	// (DefaultServerLimits; tests shorten them before Serve).
	Limits ServerLimits

	// now is Options.Now, for the parts built after New's first lines.
	now func() time.Time
}

// Options are what New takes besides the configuration: what no operator
// sets.
type Options struct {
	// Now is the clock of every service with a Now option (expiries of
	// tokens, keys and codes, attempt windows, the assistant's months,
	// signing key ages); nil is time.Now. Tests move it. What keeps the
	// real clock: PostgreSQL's now(), the times the OpenID provider puts in
	// and checks on tokens, OpenFGA's current_time, and access's check that
	// a grant's end is ahead.
	Now func() time.Time
}

// ServerLimits bound what a slow or hostile client may hold of an HTTP
// server: a connection that trickles its header or body, or sends a huge
// header, would otherwise hold a goroutine, a socket and memory for as long
// as it likes.
//
// There is no WriteTimeout on purpose: net/http's covers the whole
// response, and the assistant streams an answer for as long as the model
// writes (POST /instance/assistant/complete/stream), which a write bound
// would cut mid-stream. A client that stops reading is bounded by TCP
// instead (the kernel's send buffer fills, the write blocks) and by the
// assistant's own timeout (CAIDO_CLOUD_ASSISTANT_TIMEOUT); shutdown by
// CAIDO_CLOUD_SHUTDOWN_TIMEOUT.
type ServerLimits struct {
	// ReadHeaderTimeout: the request line and headers (and the TLS
	// handshake) must arrive within it.
	ReadHeaderTimeout time.Duration
	// ReadTimeout: the whole request, body included (a completion's body is
	// at most 4 MB), must arrive within it. Once the body is read, the
	// server stops counting: a stream's answer is not cut by it.
	ReadTimeout time.Duration
	// IdleTimeout: a kept-alive connection with no request is closed after it.
	IdleTimeout time.Duration
	// MaxHeaderBytes bounds the request line and headers; more is answered
	// 431. A bearer token, a session cookie and the usual headers are a few
	// kilobytes.
	MaxHeaderBytes int
}

// DefaultServerLimits are the limits of `caido-cloud serve`.
var DefaultServerLimits = ServerLimits{
	ReadHeaderTimeout: 10 * time.Second,
	ReadTimeout:       30 * time.Second,
	IdleTimeout:       120 * time.Second,
	MaxHeaderBytes:    64 << 10,
}

// New connects to PostgreSQL and prepares everything; it starts nothing.
func New(ctx context.Context, cfg config.Config, log *slog.Logger, tel *telemetry.Providers, opts Options) (*App, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	db, err := store.OpenWith(ctx, cfg.DatabaseURL, tel.TracerProvider(), store.Options{
		StatementTimeout: cfg.DatabaseStatementTimeout, LockTimeout: cfg.DatabaseLockTimeout,
	})
	if err != nil {
		return nil, err
	}
	// What a request logs once its client has hung up is no failure of
	// ours: at DEBUG (api/httpx), whichever part logged it.
	log = slog.New(httpx.ClientGoneAtDebug(log.Handler()))
	a := &App{Config: cfg, Log: log, Telemetry: tel, DB: db, Limits: DefaultServerLimits, now: opts.Now}
	// zitadel's op logs through slog's default logger: make that ours, with
	// its client-error noise lowered.
	slog.SetDefault(slog.New(oidc.ClientErrorsAtDebug(log.Handler())))
	a.Authz = authz.NewClient(db, a.authzConfig())
	a.Outbox = authz.NewOutbox(db, a.Authz, log)
	a.Outbox.AwaitFor = cfg.AuthzWait
	a.Access = access.NewService(db, a.Outbox)
	policy, err := accounts.ParseSignUpPolicy(cfg.SignUp)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("CAIDO_CLOUD_SIGNUP: %w", err)
	}
	a.Accounts = accounts.New(db, a.Access, accounts.Options{
		SignUpPolicy: policy,
		SignInLimit:  cfg.SignInLimit, SignInWindow: cfg.SignInWindow,
		CodeLimit: cfg.CodeLimit, CodeWindow: cfg.CodeWindow,
		SignInAccountLimit: cfg.SignInAccountLimit, SignInSlowInterval: cfg.SignInSlowInterval,
		SignUpLimit: cfg.SignUpLimit, SignUpTotal: cfg.SignUpTotal, SignUpWindow: cfg.SignUpWindow, SignedInLimit: cfg.SignedInLimit,
		HashConcurrency: cfg.HashConcurrency, HashWait: cfg.HashWait, ResetLifetime: cfg.ResetLifetime,
		Now: opts.Now,
	})
	a.InstanceAPI = instanceapi.New(db)
	a.Audit = audit.New(db)
	// The assistant needs no secret of ours: the CLI's `model set` uses it too.
	a.Assistant = assistant.New(db, a.Authz, assistant.Options{
		BaseURL: cfg.AssistantBaseURL, APIKey: cfg.AssistantAPIKey, Timeout: cfg.AssistantTimeout,
		HTTPClient: tel.HTTPClient("assistant"), Now: opts.Now,
	})
	if a.Mail, err = mail.FromConfig(cfg, log, opts.Now); err != nil {
		db.Close()
		return nil, err
	}
	if cfg.MasterKey != nil {
		if err := a.newIdentity(); err != nil {
			db.Close()
			return nil, err
		}
	}
	// Without the identity side (commands holding no master key) there
	// are no client credentials to reset, and nothing serves the sharing.
	var resetter sharing.CredentialResetter
	if a.Clients != nil {
		resetter = a.Clients
	}
	a.Sharing = sharing.New(sharing.Deps{Access: a.Access, Authz: a.Authz, Workspaces: a.Access, Clients: resetter,
		Mail: a.Mail, Limiter: limits.New(db, opts.Now), Log: log}, sharing.Options{PublicURL: cfg.PublicURL, MailLimit: cfg.ShareMailLimit, Now: opts.Now})
	if a.Backups, err = a.newBackups(); err != nil {
		db.Close()
		return nil, err
	}
	deps := api.Deps{
		Telemetry: tel, Log: log, TrustedProxies: cfg.TrustedProxies, PublicURL: cfg.PublicURL,
		Readiness: admin.Checks{Database: store.NewProbe(db), Authz: a.Authz, Outbox: a.Outbox, Backups: a.Backups},
	}
	if a.Provider != nil {
		deps.Identity = &api.Identity{
			Provider: a.Provider, Clients: a.Clients,
			Instance: instance.Deps{Provider: a.Provider, Sessions: a.Sessions, Store: a.InstanceAPI, Assistant: a.Assistant, Log: log},
			Public: public.Deps{PATs: a.PATs, Provider: a.Provider, Approval: a.Approval, Sharing: a.Sharing, Teams: a.Teams,
				RegKeys: a.RegKeys, Access: a.Access, Audit: a.Audit, Log: log},
			Web: web.Deps{Accounts: a.Accounts, Approval: a.Approval, Sharing: a.Sharing, Teams: a.Teams, Access: a.Access,
				PATs: a.PATs, RegKeys: a.RegKeys, Assistant: a.Assistant, Profiles: a.InstanceAPI, Sessions: a.Sessions, Mail: a.Mail, Log: log,
				PublicURL: cfg.PublicURL},
		}
	}
	router, err := api.NewRouter(deps)
	if err != nil {
		db.Close()
		return nil, err
	}
	// The client address is decided here, at the edge, with the one header
	// the operator says the proxy sets; the router keeps that decision.
	a.Handler = httpx.ClientAddress(cfg.TrustedProxies, cfg.ClientIPHeader, router)
	a.Routes = router.Routes()
	a.AdminHandler, err = admin.New(admin.Deps{
		Checks: deps.Readiness,
		Token:  cfg.AdminToken, Access: a.Access, Keys: a.Keys, Telemetry: tel, Log: log,
	})
	if err != nil {
		db.Close()
		return nil, err
	}
	return a, nil
}

func (a *App) newIdentity() error {
	cfg := a.Config
	sealer, err := signing.NewSealer(cfg.MasterKey)
	if err != nil {
		return err
	}
	a.Keys = signing.New(a.DB, sealer, signing.Options{
		// Only access and ID tokens are signed (refresh tokens are opaque,
		// and we take no ID token hints): a retired key must outlive the
		// longest of them, plus clock skew, plus the minute a replica may
		// still sign with a key another one has just retired.
		RetainFor: cfg.AccessTokenLifetime + oidc.Leeway + time.Minute,
		Log:       a.Log,
		Now:       a.now,
	})
	a.RegKeys = regkeys.New(a.DB, a.Authz, regkeys.Options{Now: a.now})
	a.Access.OnNoLongerManager(regkeys.RevokeByCreatorTx)
	a.Clients = clients.New(a.DB, clients.Options{
		Limit: cfg.RegistrationLimit, Window: cfg.RegistrationWindow, Log: a.Log,
		RedeemKey: a.RegKeys.Redeem, Now: a.now,
		// An instance that ends its registration is deleted, as its
		// managers delete it from the dashboard.
		Deregister: func(ctx context.Context, c clients.Client) error {
			_, err := a.Access.DeleteInstance(ctx, c.InstanceID)
			return err
		},
	})
	a.Devices = device.New(a.DB, device.Options{Lifetime: cfg.DeviceCodeLifetime, Interval: cfg.DevicePollInterval,
		PendingLimit: cfg.DevicePendingLimit, Now: a.now})
	a.PATs = pats.New(a.DB, a.Authz, pats.Options{UserGuessLimit: cfg.HeadlessCodeLimit, UserGuessWindow: cfg.HeadlessCodeWindow,
		Log: a.Log, Now: a.now})
	a.Sessions = oidc.NewSessions(a.DB)
	a.Provider = oidc.NewProvider(oidc.Config{
		Issuer:               cfg.PublicURL,
		AccessTokenLifetime:  cfg.AccessTokenLifetime,
		RefreshTokenLifetime: cfg.RefreshTokenLifetime,
	}, oidc.Deps{DB: a.DB, Clients: a.Clients, Devices: a.Devices, Keys: a.Keys, Sessions: a.Sessions, Authz: a.Authz, Log: a.Log})
	a.Access.OnAccessRemoved(a.Provider.EndLostSessions)
	a.Approval, err = approval.New(approval.Deps{
		Devices: a.Devices, Clients: a.Clients, Directory: a.Access, Access: a.Access, Authz: a.Authz,
	})
	if err != nil {
		return err
	}
	a.Teams, err = teams.New(teams.Deps{
		Directory: a.Access, Audit: a.Audit, Access: a.Access, Tokens: a.PATs, Usage: a.Assistant, Authz: a.Authz,
		Mail: a.Mail, PublicURL: cfg.PublicURL, Log: a.Log,
	})
	if err != nil {
		return err
	}
	return nil
}

func (a *App) authzConfig() authz.Config {
	return authz.Config{
		APIURL:     a.Config.OpenFGAURL,
		APIToken:   a.Config.OpenFGAToken,
		StoreName:  a.Config.OpenFGAStoreName,
		HTTPClient: a.Telemetry.HTTPClient("openfga"),
		SeatsOff:   a.Config.SeatsOff,
		Timeout:    a.Config.OpenFGATimeout,
	}
}

// Migrate brings the database schema to head and OpenFGA's store and model
// to this binary's model.fga. A new store (first run, or OpenFGA lost its
// data), or a new model, gets every tuple rebuilt from PostgreSQL.
func (a *App) Migrate(ctx context.Context) error {
	applied, err := store.Migrate(ctx, a.DB)
	if err != nil {
		return err
	}
	for _, name := range applied {
		a.Log.Info("applied migration", "name", name)
	}
	res, err := authz.EnsureModel(ctx, a.DB, a.authzConfig(), caidocloud.AuthorizationModel)
	if err != nil {
		return err
	}
	if res.StoreCreated {
		a.Log.Info("created the OpenFGA store", "store_id", res.StoreID)
	}
	if res.ModelWritten {
		a.Log.Info("wrote the authorization model", "model_id", res.ModelID)
	}
	if res.StoreCreated {
		report, err := a.Reconcile(ctx, false)
		if err != nil {
			return fmt.Errorf("rebuild the tuples of the new store: %w", err)
		}
		a.Log.Info("rebuilt the tuples of the new store", "written", len(report.Written))
	} else if res.ModelWritten {
		// A new model may read tuples the old one had no use for (0017's
		// seats): derive them now rather than leave access short until
		// someone runs `fga reconcile`.
		report, err := a.Reconcile(ctx, false)
		if err != nil {
			return fmt.Errorf("derive the tuples of the new model: %w", err)
		}
		a.Log.Info("derived the tuples of the new model", "written", len(report.Written), "deleted", len(report.Deleted))
	}
	return nil
}

// Reconcile makes OpenFGA hold exactly the tuples PostgreSQL implies.
func (a *App) Reconcile(ctx context.Context, dryRun bool) (authz.ReconcileReport, error) {
	return a.Outbox.Reconcile(ctx, func(ctx context.Context) ([]authz.Tuple, error) {
		return access.DesiredTuples(ctx, a.DB)
	}, dryRun)
}

// Serve runs the HTTP server on ln (with TLS when the configuration has a
// certificate), the operator listener on admin when given, and the
// background workers until ctx ends, then shuts down gracefully: stop
// accepting, let in-flight requests finish within the configured bound, stop
// the workers, close the pool.
func (a *App) Serve(ctx context.Context, ln net.Listener, admin ...net.Listener) error {
	workers, stopWorkers := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Go(func() { a.Outbox.Run(workers) })
	if a.Backups != nil {
		wg.Go(func() { a.Backups.Run(workers) })
	}
	if a.Keys != nil {
		// A replica can sign from its first request on.
		if err := a.Keys.Ensure(ctx); err != nil {
			stopWorkers()
			wg.Wait()
			ln.Close()
			if ctx.Err() != nil {
				return nil // asked to stop before we started serving
			}
			return fmt.Errorf("signing keys: %w", err)
		}
		wg.Go(func() { a.Keys.RunRotation(workers, a.Config.KeyRotation) })
	}

	newServer := func(h http.Handler) *http.Server {
		return &http.Server{
			Handler:           h,
			ReadHeaderTimeout: a.Limits.ReadHeaderTimeout,
			ReadTimeout:       a.Limits.ReadTimeout,
			IdleTimeout:       a.Limits.IdleTimeout,
			MaxHeaderBytes:    a.Limits.MaxHeaderBytes,
			ErrorLog:          slog.NewLogLogger(a.Log.Handler(), slog.LevelWarn),
		}
	}
	srv := newServer(a.Handler)
	serveErr := make(chan error, 1)
	if a.Config.TLSCertFile != "" {
		certs, err := NewCertReloader(a.Config.TLSCertFile, a.Config.TLSKeyFile, a.Log)
		if err != nil {
			stopWorkers()
			wg.Wait()
			ln.Close()
			return err
		}
		wg.Go(func() { certs.Run(workers) })
		srv.TLSConfig = TLSConfig(certs)
		go func() { serveErr <- srv.ServeTLS(ln, "", "") }()
	} else {
		go func() { serveErr <- srv.Serve(ln) }()
	}
	// The operator listener ends with the workers; it holds no request
	// that shutdown must wait for.
	for _, l := range admin {
		adminSrv := newServer(a.AdminHandler)
		go adminSrv.Serve(l)
		wg.Go(func() {
			<-workers.Done()
			adminSrv.Close()
		})
	}

	var err error
	select {
	case err = <-serveErr:
	case <-ctx.Done():
		a.Log.Info("shutting down", "grace", a.Config.ShutdownTimeout)
		shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.Config.ShutdownTimeout)
		err = srv.Shutdown(shutdownCtx)
		cancel()
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("requests still running after %s were cut off", a.Config.ShutdownTimeout)
			srv.Close()
		}
		if serveErr := <-serveErr; !errors.Is(serveErr, http.ErrServerClosed) {
			err = errors.Join(err, serveErr)
		}
	}
	stopWorkers()
	wg.Wait()
	return err
}

// Close releases the pool.
func (a *App) Close() { a.DB.Close() }
