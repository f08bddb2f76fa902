package web

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/caido-cloud/caido-cloud/access"
	"github.com/caido-cloud/caido-cloud/accounts"
	"github.com/caido-cloud/caido-cloud/api/httpx"
	"github.com/caido-cloud/caido-cloud/approval"
	"github.com/caido-cloud/caido-cloud/input"
	"github.com/caido-cloud/caido-cloud/oidc"
)

// deviceView is a pending device flow as the approval page shows it.
type deviceView struct {
	approval.Request
	// Required scopes come with any approval; Optional ones are the user's
	// choice (checked by default). Which is which is approval's policy.
	Required []scopeView
	Optional []scopeView
	// What the user typed in the claim form, kept when it is shown again.
	InstanceName string
	WorkspaceID  string
}

type scopeView struct {
	Name, Description string
	Checked           bool
}

var scopeDescriptions = map[string]string{
	oidc.ScopeProfile:   "See your name and email address",
	oidc.ScopeAssistant: "Use the assistant for you (counted against your plan)",
	oidc.ScopeOffline:   "Keep you signed in (until you sign out there)",
	oidc.ScopeOpenID:    "Confirm who you are (OpenID Connect)",
}

// newDeviceView shows r, with the optional scopes checked as the user last
// left them (all of them when checked is nil: a first look).
func newDeviceView(r approval.Request, checked []string) *deviceView {
	v := &deviceView{Request: r}
	for _, sc := range r.Scopes {
		sv := scopeView{Name: sc.Name, Description: scopeDescriptions[sc.Name], Checked: checked == nil || slices.Contains(checked, sc.Name)}
		if sc.Required {
			v.Required = append(v.Required, sv)
		} else {
			v.Optional = append(v.Optional, sv)
		}
	}
	return v
}

// Workspaces are those the user may claim the instance into.
func (v *deviceView) Workspaces() []access.WorkspaceInfo { return v.ClaimInto }

// AskWho names whom to ask for access to a claimed instance.
func (v *deviceView) AskWho() string { return askWho(v.Owner()) }

func askWho(o approval.Owner) string {
	if o.Team {
		return "an admin of the team " + o.Name
	}
	return o.Name
}

// typedCode is what the user typed, cut to a sane length for showing back.
func typedCode(c *gin.Context) string {
	code := strings.TrimSpace(c.Query("user_code"))
	if c.Request.Method == http.MethodPost {
		code = strings.TrimSpace(c.PostForm("user_code"))
	}
	return input.Cut(code, 32)
}

func deviceNext(code string) string {
	if code == "" {
		return oidc.PathDevice
	}
	return oidc.PathDevice + "?user_code=" + url.QueryEscape(code)
}

// wrongCode is the one answer to a code that is not pending: never issued,
// mistyped, expired or already used all read the same.
func (h *webHandlers) wrongCode(c *gin.Context, code string) {
	h.render(c, http.StatusBadRequest, "device", webPage{Title: "Sign in an instance", UserCode: code,
		Error: "That code is not valid. Check it against the one your instance shows; codes expire after a few minutes, so you may need to start again there."})
}

func (h *webHandlers) devicePage(c *gin.Context) {
	code := typedCode(c)
	sess, ok := webSession(c)
	if !ok {
		toSignIn(c, deviceNext(code))
		return
	}
	if code == "" {
		h.render(c, http.StatusOK, "device", webPage{Title: "Sign in an instance"})
		return
	}
	att, ok := h.codeAttempt(c, sess)
	if !ok {
		return
	}
	r, err := h.approval.Inspect(c.Request.Context(), approval.Approver{UserID: sess.Account.ID}, code)
	if !h.counted(c, att, err, code) {
		return
	}
	status := http.StatusOK
	if !r.MayApprove() {
		status = http.StatusForbidden
	}
	h.renderDevice(c, status, newDeviceView(r, nil), "")
}

func (h *webHandlers) renderDevice(c *gin.Context, status int, v *deviceView, msg string) {
	sess, _ := webSession(c)
	h.render(c, status, "device", webPage{Title: "Sign in an instance", CSRF: sess.CSRF, UserCode: v.UserCode, Device: v, Error: msg})
}

// codeAttempt counts a typed code against the limits on wrong codes, per
// address and per session. When ok is false the answer has been written.
func (h *webHandlers) codeAttempt(c *gin.Context, sess accounts.Session) (accounts.Attempt, bool) {
	att, err := h.accounts.CodeAttempt(c.Request.Context(), sess, httpx.ClientIP(c.Request))
	if errors.Is(err, accounts.ErrRateLimited) {
		h.tooMany(c, err, "wrong codes from this network or this browser")
		return accounts.Attempt{}, false
	}
	if err != nil {
		h.unavailable(c, err)
		return accounts.Attempt{}, false
	}
	return att, true
}

// counted settles a code attempt by the approval's outcome: an unknown code
// is a wrong guess, answered here; any other outcome proves the code live.
// ok is false when the answer has been written.
func (h *webHandlers) counted(c *gin.Context, att accounts.Attempt, err error, code string) bool {
	if errors.Is(err, approval.ErrUnknownCode) {
		h.wrongCode(c, code)
		return false
	}
	if rerr := att.Right(c.Request.Context()); rerr != nil && err == nil {
		err = rerr
	}
	var scope *approval.ScopeError
	var claim *approval.ClaimError
	var notAllowed *approval.NotAllowedError
	if err == nil || errors.As(err, &scope) || errors.As(err, &claim) || errors.As(err, &notAllowed) ||
		errors.Is(err, approval.ErrClaimedMeanwhile) || errors.Is(err, approval.ErrClaimPending) {
		return true
	}
	h.unavailable(c, err)
	return false
}

// decision checks what approve and deny share: a signed-in session and its
// CSRF token. When ok is false the answer has been written.
func (h *webHandlers) decision(c *gin.Context) (accounts.Session, string, bool) {
	code := typedCode(c)
	sess, ok := webSession(c)
	if !ok {
		toSignIn(c, deviceNext(code))
		return sess, code, false
	}
	if !accounts.SameToken(sess.CSRF, c.PostForm("csrf")) {
		h.forbiddenForm(c)
		return sess, code, false
	}
	if code == "" {
		h.wrongCode(c, code)
		return sess, code, false
	}
	return sess, code, true
}

func (h *webHandlers) approve(c *gin.Context) {
	sess, code, ok := h.decision(c)
	if !ok {
		return
	}
	att, ok := h.codeAttempt(c, sess)
	if !ok {
		return
	}
	checked := c.PostFormArray("scope")
	if checked == nil {
		checked = []string{} // none kept: not a first look
	}
	// The page always names the claim: its default rule is for scripts.
	name, workspace := c.PostForm("instance_name"), c.PostForm("workspace_id")
	d := approval.Decision{Scopes: checked, Claim: &approval.Claim{Name: name, WorkspaceID: workspace}}
	r, err := h.approval.Approve(httpx.ActorContext(c, sess.Account.ID), approval.Approver{UserID: sess.Account.ID}, code, d)
	if !h.counted(c, att, err, code) {
		return
	}
	v := newDeviceView(r, checked)
	v.InstanceName, v.WorkspaceID = strings.TrimSpace(name), workspace
	var scope *approval.ScopeError
	var claim *approval.ClaimError
	switch {
	case errors.As(err, &scope):
		h.renderDevice(c, http.StatusBadRequest, v, "The instance did not ask for "+strings.Join(scope.NotAsked, ", ")+".")
	case errors.As(err, &claim) && claim.Field == "workspace":
		h.renderDevice(c, http.StatusBadRequest, v, "Pick the workspace the instance goes into.")
	case errors.As(err, &claim):
		h.renderDevice(c, http.StatusBadRequest, v, "Name the instance (up to 200 characters), so that you can tell it from others.")
	case errors.Is(err, approval.ErrClaimedMeanwhile):
		h.renderDevice(c, http.StatusConflict, v, "Someone else has just claimed this instance. Here it is as it stands now.")
	case errors.Is(err, approval.ErrClaimPending):
		// Approving now would have the device's poll refused: the provider
		// checks can_use, which OpenFGA does not answer yet.
		c.Header("Retry-After", "5")
		h.message(c, http.StatusServiceUnavailable, "Almost there",
			fmt.Sprintf("%s is now yours, but its access is still being set up. Open the code again in a few seconds to approve the sign-in.", r.Instance.Name))
	case err != nil: // *approval.NotAllowedError: the page says whom to ask
		h.renderDevice(c, http.StatusForbidden, v, "")
	default:
		h.message(c, http.StatusOK, "Signed in",
			fmt.Sprintf("You approved the sign-in of %s. Go back to it: it signs you in within a few seconds. You can close this page.", r.Instance.Name))
	}
}

func (h *webHandlers) deny(c *gin.Context) {
	sess, code, ok := h.decision(c)
	if !ok {
		return
	}
	// Counted like a lookup: denying random codes would refuse strangers'
	// sign-ins.
	att, ok := h.codeAttempt(c, sess)
	if !ok {
		return
	}
	err := h.approval.Deny(c.Request.Context(), approval.Approver{UserID: sess.Account.ID}, code)
	if !h.counted(c, att, err, code) {
		return
	}
	h.message(c, http.StatusOK, "Sign-in refused",
		"You refused the sign-in. The instance is told so and signs nobody in with this code.")
}
