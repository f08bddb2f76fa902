// Package web is the browser's surface: every HTML page, one template set,
// the session cookie and its CSRF token.
package web

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/caido-cloud/caido-cloud/access"
	"github.com/caido-cloud/caido-cloud/accounts"
	"github.com/caido-cloud/caido-cloud/api/httpx"
	"github.com/caido-cloud/caido-cloud/approval"
	"github.com/caido-cloud/caido-cloud/assistant"
	"github.com/caido-cloud/caido-cloud/instanceapi"
	"github.com/caido-cloud/caido-cloud/mail"
	"github.com/caido-cloud/caido-cloud/oidc"
	"github.com/caido-cloud/caido-cloud/pats"
	"github.com/caido-cloud/caido-cloud/regkeys"
	"github.com/caido-cloud/caido-cloud/sharing"
	"github.com/caido-cloud/caido-cloud/teams"
)

// Deps are what the pages call, all required.
type Deps struct {
	Accounts  *accounts.Service
	Approval  *approval.Service
	Sharing   *sharing.Service
	Teams     *teams.Service
	Access    *access.Service
	PATs      *pats.Service
	RegKeys   *regkeys.Service
	Assistant *assistant.Service
	// Sessions lists and ends the user's own sessions at instances.
	Sessions *oidc.Sessions
	// Profiles gives the home page the plan as instances see it.
	Profiles *instanceapi.Store
	// Mail sends the verification mails.
	Mail mail.Sender
	Log  *slog.Logger
	// PublicURL is where the pages are served; https makes their cookies
	// Secure and __Host- prefixed.
	PublicURL string
}

func (d Deps) validate() error {
	for name, v := range map[string]any{"Accounts": d.Accounts, "Approval": d.Approval, "Sharing": d.Sharing, "Teams": d.Teams,
		"Access": d.Access, "Sessions": d.Sessions, "PATs": d.PATs, "RegKeys": d.RegKeys, "Assistant": d.Assistant, "Profiles": d.Profiles,
		"Mail": d.Mail, "Log": d.Log} {
		if v == nil || reflect.ValueOf(v).Kind() == reflect.Pointer && reflect.ValueOf(v).IsNil() {
			return fmt.Errorf("api/web: %s is required", name)
		}
	}
	if d.PublicURL == "" {
		return errors.New("api/web: PublicURL is required")
	}
	return nil
}

// Mount routes the server-rendered pages: accounts (sign-up, sign-in,
// sign-out, verification, password), the device approval page, where a
// user enters an instance's code, claims the instance if nobody has, and
// approves or denies its sign-in, the usage page and the dashboard. Plain
// HTML forms: no script anywhere.
func Mount(r gin.IRouter, d Deps) error {
	if err := d.validate(); err != nil {
		return err
	}
	h := &webHandlers{
		accounts: d.Accounts, approval: d.Approval, access: d.Access, log: d.Log,
		secure: strings.HasPrefix(d.PublicURL, "https://"),
	}
	h.sessionCookie, h.formCookie, h.deviceCookie = "cc_session", "cc_form", "cc_device"
	if h.secure {
		// __Host-: only ever set by this origin over https, for every path.
		h.sessionCookie, h.formCookie, h.deviceCookie = "__Host-cc_session", "__Host-cc_form", "__Host-cc_device"
	}
	web := r.Group("", webHeaders, h.loadSession, h.checkForm)
	web.GET("/signup", h.signUpPage)
	web.POST("/signup", h.signUp)
	web.GET("/signin", h.signInPage)
	web.POST("/signin", h.signIn)
	web.GET("/signout", h.signOutPage)
	web.POST("/signout", h.signOut)
	web.GET(oidc.PathDevice, h.devicePage)
	web.POST(oidc.PathDevice+"/approve", h.approve)
	web.POST(oidc.PathDevice+"/deny", h.deny)
	h.account = mountAccountPages(web, d, h)
	mountUsagePages(web, d, h)
	mountDashboard(web, h, d) // dashboard.go: "/" (home.html) and the signed-in pages
	return nil
}

type webHandlers struct {
	accounts *accounts.Service
	approval *approval.Service
	// access is the dashboard's (dashboard.go), which embeds these
	// handlers.
	access        *access.Service
	log           *slog.Logger
	secure        bool
	sessionCookie string
	formCookie    string
	deviceCookie  string
	account       *accountPages // web_account.go: verification, password change
}

//go:embed templates/*.html
var webTemplateFS embed.FS

// webTemplates holds one template per page, each with the layout.
var webTemplates = func() map[string]*template.Template {
	funcs := template.FuncMap{
		"when": func(t time.Time) string { return t.UTC().Format("2 January 2006, 15:04 UTC") },
	}
	pages := map[string]*template.Template{}
	for _, name := range []string{"signup", "signedup", "signin", "signout", "home", "device", "message"} {
		pages[name] = template.Must(template.New(name).Funcs(funcs).ParseFS(webTemplateFS, "templates/layout.html", "templates/"+name+".html"))
	}
	return pages
}()

// webPage is what every template gets; each page uses the fields it needs.
type webPage struct {
	Title   string
	Account *accounts.Account
	// CSRF goes in every state-changing form: the session's token, or the
	// signed-out form cookie's.
	CSRF string
	// Error says what went wrong, at the top of the page.
	Error string
	// Sign-up and sign-in.
	Next, Name, Email string
	// The device page: the code typed, and the flow found by it.
	UserCode string
	Device   *deviceView
	// The message page.
	Heading, Message string
	// Token is a password reset link's, carried by its form.
	Token string
}

// webHeaders keep the pages out of frames and caches and their URLs (which
// carry user codes) out of Referer headers.
func webHeaders(c *gin.Context) {
	hd := c.Writer.Header()
	hd.Set("Cache-Control", "no-store")
	hd.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("X-Content-Type-Options", "nosniff")
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, 64<<10)
}

const webSessionKey = "web.session"

// loadSession finds the signed-in session of the cookie, if any.
func (h *webHandlers) loadSession(c *gin.Context) {
	ck, err := c.Request.Cookie(h.sessionCookie)
	if err != nil {
		return
	}
	sess, err := h.accounts.Session(c.Request.Context(), ck.Value)
	if errors.Is(err, accounts.ErrNoSession) {
		h.clearCookie(c, h.sessionCookie)
		return
	}
	if err != nil {
		h.unavailable(c, err)
		c.Abort()
		return
	}
	c.Set(webSessionKey, sess)
}

func webSession(c *gin.Context) (accounts.Session, bool) {
	v, ok := c.Get(webSessionKey)
	if !ok {
		return accounts.Session{}, false
	}
	return v.(accounts.Session), true
}

func (h *webHandlers) render(c *gin.Context, status int, name string, p webPage) {
	if sess, ok := webSession(c); ok && p.Account == nil {
		p.Account = &sess.Account
	}
	var buf bytes.Buffer
	if err := webTemplates[name].ExecuteTemplate(&buf, "layout", p); err != nil {
		h.log.ErrorContext(c.Request.Context(), "render page", "page", name, "error", err)
		c.Data(http.StatusInternalServerError, "text/plain; charset=utf-8", []byte("internal error"))
		return
	}
	c.Data(status, "text/html; charset=utf-8", buf.Bytes())
}

func (h *webHandlers) message(c *gin.Context, status int, heading, msg string) {
	h.render(c, status, "message", webPage{Title: heading, Heading: heading, Message: msg})
}

// unavailable answers a failure of ours (the database, OpenFGA) with a 503
// page; the cause is logged, not shown.
func (h *webHandlers) unavailable(c *gin.Context, err error) {
	h.log.ErrorContext(c.Request.Context(), "web page", "route", c.FullPath(), "error", err)
	c.Header("Retry-After", "5")
	h.message(c, http.StatusServiceUnavailable, "Try again in a moment",
		"Something went wrong on our side and nothing was changed. Reload the page in a moment.")
}

func (h *webHandlers) forbiddenForm(c *gin.Context) {
	h.message(c, http.StatusForbidden, "This form has expired",
		"The form was not sent from this site's page, or it is too old. Go back, reload the page and try again.")
}

func (h *webHandlers) tooMany(c *gin.Context, err error, what string) {
	var le *accounts.LimitError
	wait := time.Minute
	if errors.As(err, &le) {
		wait = le.RetryAfter
	}
	c.Header("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
	minutes := int(math.Ceil(wait.Minutes()))
	unit := "minutes"
	if minutes == 1 {
		unit = "minute"
	}
	h.message(c, http.StatusTooManyRequests, "Too many attempts",
		fmt.Sprintf("There were too many %s. For your account's safety, try again in %d %s.", what, minutes, unit))
}

// deviceCookieLifetime is how long a browser is remembered after its last
// sign-in: browsers keep a cookie 400 days at most.
const deviceCookieLifetime = 400 * 24 * time.Hour

// busy answers a password that could not be checked in time: too many
// sign-ins and sign-ups at once. Nothing was done.
func (h *webHandlers) busy(c *gin.Context) {
	c.Header("Retry-After", "5")
	h.message(c, http.StatusServiceUnavailable, "Busy",
		"Too many people are signing in or up right now. Nothing was done: try again in a few seconds.")
}

func (h *webHandlers) setCookie(c *gin.Context, name, value string, maxAge time.Duration) {
	http.SetCookie(c.Writer, &http.Cookie{
		Name: name, Value: value, Path: "/", MaxAge: int(maxAge.Seconds()),
		HttpOnly: true, Secure: h.secure, SameSite: http.SameSiteLaxMode,
	})
}

func (h *webHandlers) clearCookie(c *gin.Context, name string) {
	http.SetCookie(c.Writer, &http.Cookie{Name: name, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: h.secure, SameSite: http.SameSiteLaxMode})
}

// formToken is the CSRF token of the signed-out forms (sign-up, sign-in):
// there is no session yet, so it lives in a cookie of its own and the form
// must echo it (double submit).
func (h *webHandlers) formToken(c *gin.Context) string {
	if ck, err := c.Request.Cookie(h.formCookie); err == nil && len(ck.Value) == 43 {
		return ck.Value
	}
	tok := accounts.NewToken()
	h.setCookie(c, h.formCookie, tok, 24*time.Hour)
	return tok
}

func (h *webHandlers) validFormToken(c *gin.Context) bool {
	ck, err := c.Request.Cookie(h.formCookie)
	return err == nil && accounts.SameToken(ck.Value, c.PostForm("csrf"))
}

// safeNext keeps a return address on this site: a path, never a URL that
// leaves it.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") ||
		strings.ContainsFunc(next, func(r rune) bool { return r < 0x20 || r == 0x7f || r == '\\' }) {
		return "/"
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
		return "/"
	}
	return next
}

// toSignIn sends a signed-out browser to sign in, then back to next.
func toSignIn(c *gin.Context, next string) {
	c.Redirect(http.StatusSeeOther, "/signin?next="+url.QueryEscape(safeNext(next)))
}

func (h *webHandlers) home(c *gin.Context) {
	sess, ok := webSession(c)
	if !ok {
		toSignIn(c, "/")
		return
	}
	h.render(c, http.StatusOK, "home", webPage{Title: "Your account", CSRF: sess.CSRF})
}

func (h *webHandlers) signUpPage(c *gin.Context) {
	next := safeNext(c.Query("next"))
	if _, ok := webSession(c); ok {
		c.Redirect(http.StatusSeeOther, next)
		return
	}
	h.render(c, http.StatusOK, "signup", webPage{Title: "Sign up", CSRF: h.formToken(c), Next: next})
}

func (h *webHandlers) signUp(c *gin.Context) {
	if !h.validFormToken(c) {
		h.forbiddenForm(c)
		return
	}
	p := webPage{Title: "Sign up", CSRF: h.formToken(c), Next: safeNext(c.PostForm("next")),
		Name: c.PostForm("name"), Email: c.PostForm("email")}
	acct, err := h.accounts.SignUp(c.Request.Context(), accounts.SignUp{
		Name: p.Name, Email: p.Email, Password: c.PostForm("password"), UserAgent: c.GetHeader("User-Agent"),
		IP: httpx.ClientIP(c.Request),
	})
	var fe *accounts.FieldError
	var taken *accounts.TakenError
	switch {
	case errors.Is(err, accounts.ErrRateLimited):
		h.tooMany(c, err, "sign-ups from this network, or from everyone")
		return
	case errors.Is(err, accounts.ErrBusy):
		h.busy(c)
		return
	case errors.Is(err, accounts.ErrSignUpClosed):
		p.Error = "Sign-up here is open to invited addresses only, or to some domains: ask a team admin of this service to invite this address."
		h.render(c, http.StatusForbidden, "signup", p)
		return
	case errors.As(err, &fe):
		p.Error = fe.Message
		h.render(c, http.StatusBadRequest, "signup", p)
		return
	case errors.As(err, &taken):
		if taken.Notify {
			h.account.mailTaken(c, p.Email)
		}
	case err != nil:
		h.unavailable(c, err)
		return
	default:
		h.account.afterSignUp(c, acct)
	}
	// Alike for a new address and a taken one, so that the page does not
	// tell who has an account: the mailbox learns which it was.
	h.render(c, http.StatusOK, "signedup", webPage{Title: "Check your mail", Email: p.Email, Next: p.Next})
}

func (h *webHandlers) startSession(c *gin.Context, userID, next string) {
	sess, err := h.accounts.StartBrowserSession(c.Request.Context(), userID,
		accounts.Client{UserAgent: c.GetHeader("User-Agent"), IP: httpx.ClientIP(c.Request)})
	if err != nil {
		h.unavailable(c, err)
		return
	}
	h.setCookie(c, h.sessionCookie, sess.Token, h.accounts.SessionLifetime())
	c.Redirect(http.StatusSeeOther, next)
}

func (h *webHandlers) signInPage(c *gin.Context) {
	next := safeNext(c.Query("next"))
	if _, ok := webSession(c); ok {
		c.Redirect(http.StatusSeeOther, next)
		return
	}
	h.render(c, http.StatusOK, "signin", webPage{Title: "Sign in", CSRF: h.formToken(c), Next: next})
}

func (h *webHandlers) signIn(c *gin.Context) {
	if !h.validFormToken(c) {
		h.forbiddenForm(c)
		return
	}
	p := webPage{Title: "Sign in", CSRF: h.formToken(c), Next: safeNext(c.PostForm("next")), Email: c.PostForm("email")}
	var device string
	if ck, err := c.Request.Cookie(h.deviceCookie); err == nil {
		device = ck.Value
	}
	acct, device, err := h.accounts.SignInBrowser(c.Request.Context(), p.Email, c.PostForm("password"), httpx.ClientIP(c.Request), device)
	switch {
	case errors.Is(err, accounts.ErrRateLimited):
		h.tooMany(c, err, "sign-in attempts for this account or from this network")
		return
	case errors.Is(err, accounts.ErrBusy):
		h.busy(c)
		return
	case errors.Is(err, accounts.ErrBadCredentials):
		p.Error = "Wrong email or password."
		h.render(c, http.StatusUnauthorized, "signin", p)
		return
	case err != nil:
		h.unavailable(c, err)
		return
	}
	// Kept past sign-out: it says this browser signed in to the account
	// before, which no guessing of its password elsewhere can lock out.
	h.setCookie(c, h.deviceCookie, device, deviceCookieLifetime)
	h.startSession(c, acct.ID, p.Next)
}

func (h *webHandlers) signOutPage(c *gin.Context) {
	sess, ok := webSession(c)
	if !ok {
		c.Redirect(http.StatusSeeOther, "/signin")
		return
	}
	h.render(c, http.StatusOK, "signout", webPage{Title: "Sign out", CSRF: sess.CSRF})
}

func (h *webHandlers) signOut(c *gin.Context) {
	sess, ok := webSession(c)
	if !ok {
		c.Redirect(http.StatusSeeOther, "/signin")
		return
	}
	if !accounts.SameToken(sess.CSRF, c.PostForm("csrf")) {
		h.forbiddenForm(c)
		return
	}
	if err := h.accounts.EndSession(c.Request.Context(), sess); err != nil {
		h.unavailable(c, err)
		return
	}
	h.clearCookie(c, h.sessionCookie)
	c.Redirect(http.StatusSeeOther, "/signin")
}
