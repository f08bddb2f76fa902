package web

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/caido-cloud/caido-cloud/accounts"
	"github.com/caido-cloud/caido-cloud/api/httpx"
	"github.com/caido-cloud/caido-cloud/mail"
)

// The account's own pages beyond signing up and in: email verification and
// the password change, and the mail they send.
//
// Unverified accounts: nothing is refused to them for now; the home page
// says the address is not verified and links to a new mail.
const (
	pathVerifyEmail      = "/verify-email"
	pathVerifyEmailSend  = "/verify-email/send"
	pathPasswordSettings = "/settings/password"
)

// mailTimeout bounds the sending of one mail while a page waits for it.
const mailTimeout = 15 * time.Second

// accountPages serve the account's pages with the web pages' handlers.
type accountPages struct {
	*webHandlers
	mail      mail.Sender
	publicURL string
}

// mountAccountPages routes the account pages; Mount calls it, and keeps
// what it returns for the sign-up's verification mail.
func mountAccountPages(web *gin.RouterGroup, d Deps, h *webHandlers) *accountPages {
	p := &accountPages{webHandlers: h, mail: d.Mail, publicURL: strings.TrimRight(d.PublicURL, "/")}
	web.GET(pathVerifyEmail, p.verifyEmail)
	web.POST(pathVerifyEmailSend, p.requestVerification)
	web.GET(pathPasswordSettings, p.passwordPage)
	web.POST(pathPasswordSettings, p.changePassword)
	web.GET(pathForgotPassword, p.forgotPasswordPage)
	web.POST(pathForgotPassword, p.requestPasswordReset)
	web.GET(pathResetPassword, p.resetPasswordPage)
	web.POST(pathResetPassword, p.resetPassword)
	return p
}

// The account pages' templates join webTemplates here rather than in its
// list, so that pages added elsewhere do not edit the same line.
func init() {
	for _, name := range []string{"verify_email", "settings_password", "forgot_password", "reset_password"} {
		webTemplates[name] = template.Must(template.New(name).ParseFS(webTemplateFS, "templates/layout.html", "templates/"+name+".html"))
	}
}

// sendMail sends m within mailTimeout, even when the browser leaves
// meanwhile: a change already made should have its mail.
func (p *accountPages) sendMail(c *gin.Context, m mail.Message) error {
	return p.send(c.Request.Context(), m)
}

// send sends m within mailTimeout, whatever becomes of ctx's request.
func (p *accountPages) send(ctx context.Context, m mail.Message) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), mailTimeout)
	defer cancel()
	return p.mail.Send(ctx, m)
}

// sendVerification mails a verification link. The token is in the link
// only: neither logged (but by the LogSender of development) nor kept.
func (p *accountPages) sendVerification(c *gin.Context, name string, v accounts.Verification) error {
	link := p.publicURL + pathVerifyEmail + "?token=" + url.QueryEscape(v.Token)
	text := fmt.Sprintf(`Hello %s,

Open this link to verify the email address of your caido-cloud account:

%s

The link works once, until %s UTC. If you did not sign up for caido-cloud,
ignore this mail: nothing happens without the link.
`, name, link, v.ExpiresAt.UTC().Format("2006-01-02 15:04"))
	return p.sendMail(c, mail.Message{To: v.Email, Subject: "Verify your email address for caido-cloud", Text: text})
}

// afterSignUp mails the new account its verification link. A failure does
// not undo the sign-up: it is logged, and the home page offers a new link.
func (p *accountPages) afterSignUp(c *gin.Context, acct accounts.Account) {
	ctx := c.Request.Context()
	v, err := p.accounts.NewVerification(ctx, acct.ID)
	if err == nil {
		err = p.sendVerification(c, acct.Name, v)
	}
	if err != nil {
		p.log.ErrorContext(ctx, "verification mail after sign-up not sent", "user_id", acct.ID, "error", err)
	}
}

// mailTaken tells the owner of an address that someone signed up with it:
// the sign-up page answers as for a new address, so this mail is the only
// place that says the account exists. A failure is logged.
func (p *accountPages) mailTaken(c *gin.Context, email string) {
	text := fmt.Sprintf(`Hello,

Someone, perhaps you, tried to create a caido-cloud account with this
address (%s), which has one already. Nothing was changed.

If it was you, sign in instead:

%s

Forgot your password? Set a new one here:

%s

If it was not you, you may ignore this mail.
`, email, p.publicURL+"/signin", p.publicURL+pathForgotPassword)
	if err := p.sendMail(c, mail.Message{To: email, Subject: "Someone tried to sign up to caido-cloud with your address", Text: text}); err != nil {
		p.log.ErrorContext(c.Request.Context(), "sign-up notice to an existing account not sent", "error", err)
	}
}

// verifyEmail follows a mailed link (?token=…); without one, it shows the
// signed-in user whether their address is verified, with a form to mail a
// new link. The link needs no session: the mailbox is the proof.
func (p *accountPages) verifyEmail(c *gin.Context) {
	token, hasToken := c.GetQuery("token")
	if !hasToken {
		sess, ok := webSession(c)
		if !ok {
			toSignIn(c, pathVerifyEmail)
			return
		}
		p.render(c, http.StatusOK, "verify_email", webPage{Title: "Verify your email address", CSRF: sess.CSRF})
		return
	}
	v, err := p.accounts.VerifyEmail(c.Request.Context(), token)
	switch {
	case errors.Is(err, accounts.ErrVerificationUnknown):
		p.message(c, http.StatusBadRequest, "This link is not valid",
			"Nothing was verified. Check that you opened the whole link from the mail, or sign in and ask for a new mail on your account page.")
	case errors.Is(err, accounts.ErrVerificationUsed):
		p.message(c, http.StatusGone, "This link was already used",
			"Each verification link works once. If your account page still says your address is not verified, ask for a new mail there.")
	case errors.Is(err, accounts.ErrVerificationExpired):
		p.message(c, http.StatusGone, "This link has expired",
			fmt.Sprintf("Verification links work for %d hours and this one is older. Nothing was verified: sign in and ask for a new mail on your account page.",
				int(accounts.VerificationLifetime.Hours())))
	case err != nil:
		p.unavailable(c, err)
	default:
		p.message(c, http.StatusOK, "Email address verified", fmt.Sprintf("Thank you: %s is verified.", v.Email))
	}
}

// requestVerification mails a new link to the signed-in user.
func (p *accountPages) requestVerification(c *gin.Context) {
	sess, ok := webSession(c)
	if !ok {
		toSignIn(c, pathVerifyEmail)
		return
	}
	if !accounts.SameToken(sess.CSRF, c.PostForm("csrf")) {
		p.forbiddenForm(c)
		return
	}
	page := webPage{Title: "Verify your email address", CSRF: sess.CSRF}
	v, err := p.accounts.RequestVerification(c.Request.Context(), sess.Account.ID)
	switch {
	case errors.Is(err, accounts.ErrAlreadyVerified):
		// The session was read before: show the address as it is now.
		sess.Account.EmailVerified = true
		page.Account = &sess.Account
		page.Error = "Your email address is already verified: there is nothing to do."
		p.render(c, http.StatusConflict, "verify_email", page)
		return
	case errors.Is(err, accounts.ErrRateLimited):
		p.tooMany(c, err, "verification mails asked for")
		return
	case err != nil:
		p.unavailable(c, err)
		return
	}
	if err := p.sendVerification(c, sess.Account.Name, v); err != nil {
		p.log.ErrorContext(c.Request.Context(), "verification mail not sent", "user_id", sess.Account.ID, "error", err)
		p.message(c, http.StatusServiceUnavailable, "The mail could not be sent",
			"We could not hand the mail to our mail server. Try again in a few minutes.")
		return
	}
	page.Message = fmt.Sprintf("We sent a new link to %s. It works for %d hours.", v.Email, int(accounts.VerificationLifetime.Hours()))
	p.render(c, http.StatusOK, "verify_email", page)
}

func (p *accountPages) passwordPage(c *gin.Context) {
	sess, ok := webSession(c)
	if !ok {
		toSignIn(c, pathPasswordSettings)
		return
	}
	p.render(c, http.StatusOK, "settings_password", webPage{Title: "Change your password", CSRF: sess.CSRF})
}

// changePassword changes the password, signs every other browser out and
// mails the user a notice. Passwords are never shown back.
func (p *accountPages) changePassword(c *gin.Context) {
	sess, ok := webSession(c)
	if !ok {
		toSignIn(c, pathPasswordSettings)
		return
	}
	if !accounts.SameToken(sess.CSRF, c.PostForm("csrf")) {
		p.forbiddenForm(c)
		return
	}
	page := webPage{Title: "Change your password", CSRF: sess.CSRF}
	ended, err := p.accounts.ChangePassword(c.Request.Context(), sess, accounts.PasswordChange{
		Current: c.PostForm("current_password"), New: c.PostForm("new_password"), Again: c.PostForm("new_password_again"),
		IP: httpx.ClientIP(c.Request),
	})
	var fe *accounts.FieldError
	switch {
	case errors.As(err, &fe):
		page.Error = fe.Message + " Nothing was changed."
		p.render(c, http.StatusBadRequest, "settings_password", page)
		return
	case errors.Is(err, accounts.ErrBadCredentials):
		// 400, not 401: the browser is signed in; the form is what is wrong.
		page.Error = "Your current password is wrong. Nothing was changed."
		p.render(c, http.StatusBadRequest, "settings_password", page)
		return
	case errors.Is(err, accounts.ErrRateLimited):
		p.tooMany(c, err, "wrong passwords for this account or from this network")
		return
	case errors.Is(err, accounts.ErrBusy):
		p.busy(c)
		return
	case err != nil:
		p.unavailable(c, err)
		return
	}
	acct := sess.Account
	notice := fmt.Sprintf(`Hello %s,

The password of your caido-cloud account (%s) was changed on %s UTC,
and every other browser signed in to the account was signed out.

If you changed it, there is nothing to do. If you did not, someone else
knows your password: tell the administrator of this caido-cloud service
at once.
`, acct.Name, acct.Email, time.Now().UTC().Format("2006-01-02 15:04"))
	sent := "We sent a notice to " + acct.Email + "."
	if err := p.sendMail(c, mail.Message{To: acct.Email, Subject: "Your caido-cloud password was changed", Text: notice}); err != nil {
		p.log.ErrorContext(c.Request.Context(), "password change notice not sent", "user_id", acct.ID, "error", err)
		sent = "The notice mail to " + acct.Email + " could not be sent."
	}
	others := "No other browser was signed in."
	switch {
	case ended == 1:
		others = "The other browser signed in to your account was signed out."
	case ended > 1:
		others = fmt.Sprintf("The %d other browsers signed in to your account were signed out.", ended)
	}
	p.message(c, http.StatusOK, "Password changed",
		"Your password is changed and this browser stays signed in. "+others+" "+sent)
}
