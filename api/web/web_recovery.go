package web

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/caido-cloud/caido-cloud/accounts"
	"github.com/caido-cloud/caido-cloud/api/httpx"
	"github.com/caido-cloud/caido-cloud/mail"
)

// Password recovery: /forgot-password mails a link, /reset-password?token=…
// sets the new password with it (accounts.RequestPasswordReset and
// ResetPassword decide).
const (
	pathForgotPassword = "/forgot-password"
	pathResetPassword  = "/reset-password"
)

func (p *accountPages) forgotPasswordPage(c *gin.Context) {
	p.render(c, http.StatusOK, "forgot_password", webPage{Title: "Forgot your password?", CSRF: p.formToken(c)})
}

// requestPasswordReset answers alike for every address, and at once: the
// link is mailed after the answer, so that neither the page nor its time
// tells whether an account has the address.
func (p *accountPages) requestPasswordReset(c *gin.Context) {
	if !p.validFormToken(c) {
		p.forbiddenForm(c)
		return
	}
	email := strings.TrimSpace(c.PostForm("email"))
	reset, ok, err := p.accounts.RequestPasswordReset(c.Request.Context(), email, httpx.ClientIP(c.Request))
	switch {
	case errors.Is(err, accounts.ErrRateLimited):
		p.tooMany(c, err, "password reset requests from this network or for this address")
		return
	case err != nil:
		p.unavailable(c, err)
		return
	}
	if ok {
		p.sendLater(c, p.resetMail(reset))
	}
	p.message(c, http.StatusOK, "Check your mail",
		"If an account has the address "+email+", we mailed it a link that sets a new password. The link works once, for an hour.")
}

func (p *accountPages) resetMail(r accounts.PasswordReset) mail.Message {
	link := p.publicURL + pathResetPassword + "?token=" + url.QueryEscape(r.Token)
	return mail.Message{To: r.Account.Email, Subject: "Set a new caido-cloud password", Text: fmt.Sprintf(`Hello %s,

Someone, perhaps you, asked to set a new password for your caido-cloud
account (%s). Open this link to do it:

%s

The link works once, until %s UTC, and signs out every browser signed in
to the account. If you did not ask, ignore this mail: your password stays
as it is.
`, r.Account.Name, r.Account.Email, link, r.ExpiresAt.UTC().Format("2006-01-02 15:04"))}
}

// sendLater sends m after the answer, within mailTimeout; a failure is
// logged (never the message, which may hold a link).
func (p *accountPages) sendLater(c *gin.Context, m mail.Message) {
	ctx := c.Request.Context()
	go func() {
		if err := p.send(ctx, m); err != nil {
			p.log.ErrorContext(ctx, "mail not sent", "subject", m.Subject, "error", err)
		}
	}()
}

// resetPasswordPage asks for the new password when the link still works.
// The token stays out of Referer headers (webHeaders: no-referrer).
func (p *accountPages) resetPasswordPage(c *gin.Context) {
	token := c.Query("token")
	if err := p.accounts.CheckResetLink(c.Request.Context(), token); err != nil {
		p.resetRefused(c, err)
		return
	}
	p.render(c, http.StatusOK, "reset_password", webPage{Title: "Set a new password", CSRF: p.formToken(c), Token: token})
}

func (p *accountPages) resetRefused(c *gin.Context, err error) {
	if !errors.Is(err, accounts.ErrResetLink) {
		p.unavailable(c, err)
		return
	}
	p.message(c, http.StatusBadRequest, "This link no longer works",
		"The link was used already, has expired, or is not one of ours. Ask for a new one at "+pathForgotPassword+".")
}

func (p *accountPages) resetPassword(c *gin.Context) {
	if !p.validFormToken(c) {
		p.forbiddenForm(c)
		return
	}
	token := c.PostForm("token")
	acct, ended, err := p.accounts.ResetPassword(c.Request.Context(), token, c.PostForm("new_password"), c.PostForm("new_password_again"))
	var fe *accounts.FieldError
	switch {
	case errors.As(err, &fe):
		p.render(c, http.StatusBadRequest, "reset_password", webPage{Title: "Set a new password", CSRF: p.formToken(c), Token: token,
			Error: fe.Message + " Nothing was changed."})
		return
	case errors.Is(err, accounts.ErrBusy):
		p.busy(c)
		return
	case err != nil:
		p.resetRefused(c, err)
		return
	}
	// This browser's session, if any, went with the others.
	p.clearCookie(c, p.sessionCookie)
	notice := fmt.Sprintf(`Hello %s,

The password of your caido-cloud account (%s) was set with a mailed link
on %s UTC, and every browser signed in to the account was signed out.

If you did it, there is nothing to do. If you did not, someone reads your
mail: secure your mailbox, then set a new password again.
`, acct.Name, acct.Email, time.Now().UTC().Format("2006-01-02 15:04"))
	p.sendLater(c, mail.Message{To: acct.Email, Subject: "Your caido-cloud password was set", Text: notice})
	out := "No browser was signed in to it."
	if ended > 0 {
		out = fmt.Sprintf("%d signed-in browser(s) were signed out.", ended)
	}
	p.message(c, http.StatusOK, "Password set", "Your new password is set: sign in with it. "+out+" We mailed you a notice.")
}
