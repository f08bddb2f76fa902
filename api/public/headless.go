package public

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/caido-cloud/caido-cloud/api/httpx"
	"github.com/caido-cloud/caido-cloud/approval"
	"github.com/caido-cloud/caido-cloud/pats"
)

// Headless device approval: the public API's /oauth2/device/information,
// /approve and /deny, called with a personal access token (caido_…) by
// scripts such as @caido/server-auth's PATApprover, so that an instance
// started in CI signs in with no browser.

// mountHeadless routes the three device calls behind a personal access
// token (auth).
func mountHeadless(r gin.IRouter, auth gin.HandlerFunc, d Deps) {
	h := headlessHandlers{approval: d.Approval, pats: d.PATs, log: d.Log}
	r.GET("/oauth2/device/information", auth, h.information)
	r.POST("/oauth2/device/approve", auth, h.approve)
	r.POST("/oauth2/device/deny", auth, h.deny)
}

// headlessAbort answers an error with a body that is both the public API's
// ErrorResponse (code, error, message) and the OAuth form (error,
// error_description) PATApprover reads.
func headlessAbort(c *gin.Context, status int, code, description string) {
	c.AbortWithStatusJSON(status, headlessError{Status: status, Code: code, Description: description, Message: description})
}

type headlessError struct {
	Status      int    `json:"code"`
	Code        string `json:"error"`
	Description string `json:"error_description"`
	Message     string `json:"message"`
	// Ask says who can give access, on a 403 for a claimed instance.
	Ask *workspaceOwner `json:"ask,omitempty"`
}

type headlessHandlers struct {
	approval *approval.Service
	pats     *pats.Service
	log      *slog.Logger
}

// unknownCode is the one answer to a code that is not pending, whatever the
// reason, so that nobody learns whether a code ever existed.
const unknownCode = "the user code is unknown, expired or already used; start a new sign-in at the instance"

// fail answers an approval's error: the use case's typed errors with what
// they mean to a script, anything else as a retryable 503.
func (h headlessHandlers) fail(c *gin.Context, err error) {
	var notAllowed *approval.NotAllowedError
	var scope *approval.ScopeError
	var claim *approval.ClaimError
	switch {
	case errors.Is(err, approval.ErrUnknownCode):
		headlessAbort(c, http.StatusNotFound, "invalid_user_code", unknownCode)
	case errors.As(err, &scope):
		headlessAbort(c, http.StatusBadRequest, "invalid_scope", scope.Error())
	case errors.As(err, &notAllowed):
		owner := ownerJSON(notAllowed.Owner)
		ask := "an admin of team " + strconv.Quote(owner.Name)
		if !notAllowed.Owner.Team {
			ask = owner.Name
			if owner.Email != "" {
				ask += " <" + owner.Email + ">"
			}
		}
		msg := fmt.Sprintf("you may not use instance %q: it belongs to workspace %q; ask %s to share it with you", notAllowed.Instance, owner.Workspace, ask)
		if notAllowed.NeedsSeat {
			msg = fmt.Sprintf("you may not use instance %q of team %q's workspace %q without a seat of the team's subscription; ask %s for a seat",
				notAllowed.Instance, owner.Name, owner.Workspace, ask)
		}
		c.AbortWithStatusJSON(http.StatusForbidden, headlessError{
			Status: http.StatusForbidden, Code: "access_denied", Description: msg, Message: msg, Ask: &owner,
		})
	case errors.Is(err, approval.ErrOutsideTeam):
		headlessAbort(c, http.StatusForbidden, "access_denied",
			"this personal access token was created for one team and acts only within it, and the instance is not that team's: use a token of that team, or one of no team")
	case errors.Is(err, approval.ErrClaimedMeanwhile):
		headlessAbort(c, http.StatusConflict, "claimed_meanwhile",
			"someone else claimed this instance meanwhile; call again to approve it as it stands now")
	case errors.Is(err, approval.ErrClaimPending):
		c.Header("Retry-After", "5")
		headlessAbort(c, http.StatusServiceUnavailable, "temporarily_unavailable",
			"the instance is claimed, but its access is still being set up; retry the approval in a few seconds")
	case errors.As(err, &claim):
		headlessAbort(c, http.StatusForbidden, "access_denied", claim.Message)
	default:
		h.log.ErrorContext(c.Request.Context(), "headless device approval", "err", err)
		c.Header("Retry-After", "5")
		headlessAbort(c, http.StatusServiceUnavailable, "temporarily_unavailable", "could not answer now; retry")
	}
}

// guess reads the request's user code and counts it against the guess
// limits of the token, its user and the client address; refund gives the
// guess back once the code proved live. When ok is false the answer has
// been written.
func (h headlessHandlers) guess(c *gin.Context) (code string, refund func(), ok bool) {
	ctx := c.Request.Context()
	code = c.Query("user_code")
	if strings.TrimSpace(code) == "" {
		headlessAbort(c, http.StatusBadRequest, "invalid_request", "the user_code query parameter is required")
		return "", nil, false
	}
	tok := *principalFrom(c).PAT
	g, err := h.pats.ReserveGuess(ctx, tok, httpx.ClientIP(c.Request))
	var limited *pats.GuessLimitError
	if errors.As(err, &limited) {
		whose := "for your account or from your network, whatever the token"
		if limited.Token {
			whose = "with this token"
		}
		c.Header("Retry-After", strconv.Itoa(int(limited.RetryAfter/time.Second)))
		headlessAbort(c, http.StatusTooManyRequests, "rate_limited",
			fmt.Sprintf("too many wrong user codes %s; retry in %d seconds", whose, int(limited.RetryAfter/time.Second)))
		return "", nil, false
	}
	if err != nil {
		h.fail(c, fmt.Errorf("count guess: %w", err))
		return "", nil, false
	}
	refund = func() {
		if err := h.pats.RefundGuess(ctx, g); err != nil {
			h.log.WarnContext(ctx, "refund user code guess", "err", err)
		}
	}
	return code, refund, true
}

// decided gives a guess back unless the code proved unknown.
func decided(err error, refund func()) {
	if !errors.Is(err, approval.ErrUnknownCode) {
		refund()
	}
}

func approver(c *gin.Context) approval.Approver {
	tok := *principalFrom(c).PAT
	return approval.Approver{UserID: tok.UserID, TeamID: tok.TeamID}
}

// workspaceOwner is who to ask for access to a claimed instance.
type workspaceOwner struct {
	// Kind is "user" (a personal workspace) or "team".
	Kind  string `json:"kind"`
	Name  string `json:"name"`
	Email string `json:"email,omitempty"`
	// Workspace is the workspace's name.
	Workspace string `json:"workspace"`
}

func ownerJSON(o approval.Owner) workspaceOwner {
	if o.Team {
		return workspaceOwner{Kind: "team", Name: o.Name, Workspace: o.Workspace}
	}
	return workspaceOwner{Kind: "user", Name: o.Name, Email: o.Email, Workspace: o.Workspace}
}

// deviceInformation is the reference's DeviceInformationPayload; the
// instance's workspace is ours, beyond it.
type deviceInformation struct {
	// Scope is the deprecated space-separated form of Scopes.
	Scope  string        `json:"scope"`
	Scopes []deviceScope `json:"scopes"`
	Client deviceClient  `json:"client"`
}

type deviceScope struct {
	Name string `json:"name"`
	// Requirement is "required" or "optional" (approval's scope policy).
	Requirement string `json:"requirement"`
}

type deviceClient struct {
	ID           string          `json:"id"`
	RegisteredAt int64           `json:"registered_at"`
	Instance     *deviceInstance `json:"instance,omitempty"`
}

// deviceInstance is present once the instance is claimed (it has a name).
type deviceInstance struct {
	ID           string           `json:"id"`
	Name         string           `json:"name"`
	RegisteredAt int64            `json:"registered_at"`
	Workspace    *deviceWorkspace `json:"workspace,omitempty"`
}

type deviceWorkspace struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

func informationJSON(r approval.Request) deviceInformation {
	out := deviceInformation{
		Scopes: make([]deviceScope, 0, len(r.Scopes)),
		Client: deviceClient{ID: r.Client.ID, RegisteredAt: r.Client.IssuedAt.Unix()},
	}
	names := make([]string, 0, len(r.Scopes))
	for _, sc := range r.Scopes {
		req := "optional"
		if sc.Required {
			req = "required"
		}
		out.Scopes = append(out.Scopes, deviceScope{Name: sc.Name, Requirement: req})
		names = append(names, sc.Name)
	}
	out.Scope = strings.Join(names, " ")
	if in := r.Instance; in.Claimed {
		out.Client.Instance = &deviceInstance{ID: in.ID, Name: in.Name, RegisteredAt: in.RegisteredAt.Unix(),
			Workspace: &deviceWorkspace{ID: in.Workspace.ID, Name: in.Workspace.Name}}
	}
	return out
}

// information says which instance asks and for what.
func (h headlessHandlers) information(c *gin.Context) {
	code, refund, ok := h.guess(c)
	if !ok {
		return
	}
	r, err := h.approval.Inspect(c.Request.Context(), approver(c), code)
	decided(err, refund)
	if err != nil {
		h.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, informationJSON(r))
}

// grantedScopes reads the approval's scope parameters: comma-separated as
// PATApprover sends them (spaces are accepted too; no scope token holds
// either), repeats dropped.
func grantedScopes(c *gin.Context) []string {
	var out []string
	for _, v := range c.QueryArray("scope") {
		for _, sc := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' }) {
			if !slices.Contains(out, sc) {
				out = append(out, sc)
			}
		}
	}
	return out
}

// approve grants the scopes named (and the required ones) on the token
// owner's behalf; an unclaimed instance is claimed by the default rule.
func (h headlessHandlers) approve(c *gin.Context) {
	code, refund, ok := h.guess(c)
	if !ok {
		return
	}
	tok := *principalFrom(c).PAT
	_, err := h.approval.Approve(httpx.ActorContext(c, tok.UserID), approver(c), code, approval.Decision{Scopes: grantedScopes(c)})
	decided(err, refund)
	if err != nil {
		h.fail(c, err)
		return
	}
	c.Status(http.StatusOK)
}

// deny refuses the flow; the device's next poll gets access_denied.
func (h headlessHandlers) deny(c *gin.Context) {
	code, refund, ok := h.guess(c)
	if !ok {
		return
	}
	err := h.approval.Deny(c.Request.Context(), approver(c), code)
	decided(err, refund)
	if err != nil {
		h.fail(c, err)
		return
	}
	c.Status(http.StatusOK)
}
