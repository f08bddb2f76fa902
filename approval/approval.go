// Package approval decides device sign-ins: a user (at the device page, or
// headlessly with a personal access token) inspects the flow of a user code,
// then approves it, claiming the instance when nobody has yet, or denies it.
//
// Every rule of that decision lives here, so that each surface only decodes,
// calls one method and maps its error: which scopes come with an approval
// (scopes.go), who may approve for a claimed instance (OpenFGA can_use; a
// team's member without a seat is told to ask for one), which workspaces an
// instance may be claimed into (can_add_instance and can_use_instances) and
// where it goes when the approver does not say. Limits on guessing codes are
// the surfaces' own (per browser and address on the page, per token
// headless): they know what a guesser is.
package approval

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/caido-cloud/caido-cloud/access"
	"github.com/caido-cloud/caido-cloud/authz"
	"github.com/caido-cloud/caido-cloud/oidc/clients"
	"github.com/caido-cloud/caido-cloud/oidc/device"
)

// Approver is who decides: a signed-in user, and the team of the personal
// access token they called with, if it is a team token (an instance claimed
// with no workspace named goes to that team).
type Approver struct {
	UserID string
	TeamID string
}

// covers says whether a may act on w: anyone may, but a team's token only
// on that team's workspaces (pats.Token.Covers).
func (a Approver) covers(w access.WorkspaceInfo) bool { return a.TeamID == "" || w.TeamID == a.TeamID }

// Request is a pending device flow as an approver sees it.
type Request struct {
	UserCode string
	Client   clients.Client
	Instance access.InstanceInfo
	// Scopes are what the instance asked for, each with the policy's
	// requirement.
	Scopes []Scope
	// Allowed: the instance is claimed and the approver may use it.
	Allowed bool
	// NeedsSeat: the instance is claimed into a team's workspace that the
	// approver sees as a member, but may not use: they hold no seat of the
	// team's subscription (or it has ended). Ask an admin for a seat, not
	// for a share.
	NeedsSeat bool
	// ClaimInto are the workspaces the approver may claim an unclaimed
	// instance into, their own first.
	ClaimInto []access.WorkspaceInfo
}

// MayApprove is whether an approval can go through as things stand.
func (r Request) MayApprove() bool {
	return r.Allowed || !r.Instance.Claimed && len(r.ClaimInto) > 0
}

// Owner is whom to ask for access to a claimed instance.
func (r Request) Owner() Owner {
	w := r.Instance.Workspace
	if w.Team() {
		return Owner{Team: true, Name: w.OwnerName, Workspace: w.Name}
	}
	return Owner{Name: w.OwnerName, Email: w.OwnerEmail, Workspace: w.Name}
}

// Owner is the owner of a claimed instance's workspace.
type Owner struct {
	// Team: a team owns the workspace (ask one of its admins); otherwise a
	// user does, whose Email is set.
	Team      bool
	Name      string
	Email     string
	Workspace string
}

// Decision is what an approver grants.
type Decision struct {
	// Scopes the approver chose among the optional ones (naming required
	// ones too is fine; naming one not asked for is a *ScopeError).
	Scopes []string
	// Claim names and places an unclaimed instance; nil takes the default
	// rule: the token's team's Default workspace when the approver may add
	// instances there, else their own Default workspace, under the name
	// "Instance " and the first 8 characters of its id.
	Claim *Claim
}

// Claim is where an unclaimed instance goes.
type Claim struct {
	Name        string
	WorkspaceID string
}

// ErrUnknownCode is the one answer to a code that is not pending: never
// issued, mistyped, expired, already decided, or its instance deleted since.
var ErrUnknownCode = errors.New("the user code is unknown, expired or already used")

// ErrClaimedMeanwhile: another user claimed the instance between the
// approver's look and their approval. Approve returns the request as it
// stands now with it.
var ErrClaimedMeanwhile = errors.New("someone else claimed the instance meanwhile")

// ErrOutsideTeam: the approver called with a team's personal access token,
// which acts only within that team, about an instance of another
// workspace. The instance's owner is nobody the token may ask.
var ErrOutsideTeam = errors.New("this personal access token acts only within its team, and the instance is not the team's")

// ErrClaimPending: the approver claimed the instance, but OpenFGA does not
// know it yet, so the device's poll would be refused. Nothing is approved;
// the same approval a few seconds later goes through.
var ErrClaimPending = errors.New("the instance is claimed but its access is still being set up")

// NotAllowedError: the instance is claimed and the approver may not use it.
type NotAllowedError struct {
	Instance string
	Owner    Owner
	// NeedsSeat: the approver is a member of the owning team without a seat
	// (Request.NeedsSeat).
	NeedsSeat bool
}

func (e *NotAllowedError) Error() string {
	if e.NeedsSeat {
		return fmt.Sprintf("you may not use instance %q of workspace %q without a seat of team %q", e.Instance, e.Owner.Workspace, e.Owner.Name)
	}
	return fmt.Sprintf("you may not use instance %q of workspace %q", e.Instance, e.Owner.Workspace)
}

// ScopeError: the approver granted scopes the instance did not ask for.
type ScopeError struct {
	NotAsked []string
	Asked    []string
}

func (e *ScopeError) Error() string {
	return "the instance did not ask for " + strings.Join(e.NotAsked, ", ") + "; it asked for " + strings.Join(e.Asked, ", ")
}

// ClaimError: the claim's name or workspace will not do.
type ClaimError struct {
	// Field is "name" or "workspace".
	Field   string
	Message string
}

func (e *ClaimError) Error() string { return e.Message }

// badName refuses a name access.InstanceName does not take.
var badName = &ClaimError{Field: "name", Message: fmt.Sprintf(
	"name the instance (up to %d characters, none of them control characters), so that you can tell it from others", access.MaxInstanceName)}

// What the service calls, each declared by what it needs.
type (
	devices interface {
		Lookup(ctx context.Context, userCode string) (device.Pending, error)
		Approve(ctx context.Context, userCode, userID string, grantedScopes []string) error
		Deny(ctx context.Context, userCode string) error
	}
	clientDirectory interface {
		Get(ctx context.Context, clientID string) (clients.Client, error)
	}
	directory interface {
		InstanceInfo(ctx context.Context, instanceID string) (access.InstanceInfo, error)
		Workspaces(ctx context.Context, userID string) ([]access.WorkspaceInfo, error)
	}
	claims interface {
		ClaimInstance(ctx context.Context, instanceID, userID, workspaceID, name string) (access.Change, error)
		DefaultWorkspace(ctx context.Context, userID string) (string, error)
		TeamDefaultWorkspace(ctx context.Context, teamID string) (string, error)
	}
	checker interface {
		BatchCheck(ctx context.Context, items []authz.CheckItem) ([]bool, error)
	}
)

// Deps are the service's dependencies, all required.
type Deps struct {
	Devices   devices
	Clients   clientDirectory
	Directory directory
	Access    claims
	Authz     checker
}

// Service decides device approvals.
type Service struct{ d Deps }

// New returns a Service, or an error naming a missing dependency.
func New(d Deps) (*Service, error) {
	for name, v := range map[string]any{"Devices": d.Devices, "Clients": d.Clients, "Directory": d.Directory, "Access": d.Access, "Authz": d.Authz} {
		if v == nil {
			return nil, fmt.Errorf("approval: %s is required", name)
		}
	}
	return &Service{d: d}, nil
}

// Inspect finds the pending flow of userCode and what a looks at: the
// instance, the scopes with their requirement, and whether a may approve.
func (s *Service) Inspect(ctx context.Context, a Approver, userCode string) (Request, error) {
	p, err := s.d.Devices.Lookup(ctx, userCode)
	if errors.Is(err, device.ErrUnknownUserCode) {
		return Request{}, ErrUnknownCode
	}
	if err != nil {
		return Request{}, err
	}
	cl, err := s.d.Clients.Get(ctx, p.ClientID)
	if errors.Is(err, clients.ErrNotFound) {
		return Request{}, ErrUnknownCode
	}
	if err != nil {
		return Request{}, err
	}
	in, err := s.d.Directory.InstanceInfo(ctx, cl.InstanceID)
	if errors.Is(err, access.ErrNotFound) {
		return Request{}, ErrUnknownCode
	}
	if err != nil {
		return Request{}, err
	}
	r := Request{UserCode: p.UserCode, Client: cl, Instance: in, Scopes: scopesOf(p.Scopes)}
	user := authz.UserObject(a.UserID)
	if in.Claimed {
		if !a.covers(in.Workspace) {
			return r, nil // not Allowed; Approve says why
		}
		// Seeing a team's workspace is being its member; using its
		// instances takes a seat besides (NeedsSeat).
		ok, err := s.d.Authz.BatchCheck(ctx, []authz.CheckItem{
			{User: user, Relation: "can_use", Object: authz.InstanceObject(in.ID)},
			{User: user, Relation: "can_view", Object: authz.WorkspaceObject(in.Workspace.ID)},
		})
		if err != nil {
			return r, err
		}
		r.Allowed = ok[0]
		r.NeedsSeat = !ok[0] && ok[1] && in.Workspace.Team()
		return r, nil
	}
	all, err := s.d.Directory.Workspaces(ctx, a.UserID)
	if err != nil {
		return Request{}, err
	}
	var mine []access.WorkspaceInfo
	var items []authz.CheckItem
	for _, w := range all {
		if !a.covers(w) {
			continue
		}
		// An approval claims the instance for the approver to use at once:
		// only where they may both add it and use it (a team admin without
		// a seat may add instances for others, through registration keys).
		mine = append(mine, w)
		items = append(items,
			authz.CheckItem{User: user, Relation: "can_add_instance", Object: authz.WorkspaceObject(w.ID)},
			authz.CheckItem{User: user, Relation: "can_use_instances", Object: authz.WorkspaceObject(w.ID)})
	}
	ok, err := s.d.Authz.BatchCheck(ctx, items)
	if err != nil {
		return Request{}, err
	}
	for i, w := range mine {
		if ok[2*i] && ok[2*i+1] {
			r.ClaimInto = append(r.ClaimInto, w)
		}
	}
	return r, nil
}

// Approve grants the flow of userCode what d says, claiming its instance
// first when nobody has. It returns the request as inspected (as it stands
// now, with ErrClaimedMeanwhile), so that a surface can show it again with
// the error.
func (s *Service) Approve(ctx context.Context, a Approver, userCode string, d Decision) (Request, error) {
	r, err := s.Inspect(ctx, a, userCode)
	if err != nil {
		return r, err
	}
	scopes, err := granted(r.Scopes, d.Scopes)
	if err != nil {
		return r, err
	}
	if r.Instance.Claimed && !a.covers(r.Instance.Workspace) {
		return r, ErrOutsideTeam
	}
	if r.Instance.Claimed && !r.Allowed {
		return r, &NotAllowedError{Instance: r.Instance.Name, Owner: r.Owner(), NeedsSeat: r.NeedsSeat}
	}
	if !r.Instance.Claimed {
		if r, err = s.claim(ctx, a, r, d.Claim); err != nil {
			return r, err
		}
	}
	switch err := s.d.Devices.Approve(ctx, userCode, a.UserID, scopes); {
	case errors.Is(err, device.ErrUnknownUserCode):
		return r, ErrUnknownCode
	case errors.Is(err, device.ErrScopeNotRequested):
		// The flow's scopes cannot change once started: only a bug lands here.
		return r, fmt.Errorf("approve %v of a flow that asked for %v: %w", scopes, r.Scopes, err)
	case err != nil:
		return r, err
	}
	return r, nil
}

// claim puts r's unclaimed instance where c says, or by the default rule.
func (s *Service) claim(ctx context.Context, a Approver, r Request, c *Claim) (Request, error) {
	if c == nil {
		ws, err := s.defaultWorkspace(ctx, a, r)
		if err != nil {
			return r, err
		}
		c = &Claim{Name: "Instance " + r.Instance.ID[:min(8, len(r.Instance.ID))], WorkspaceID: ws}
	}
	name, ok := access.InstanceName(c.Name)
	if !ok {
		return r, badName
	}
	i := slices.IndexFunc(r.ClaimInto, func(w access.WorkspaceInfo) bool { return w.ID == c.WorkspaceID })
	if i < 0 {
		return r, &ClaimError{Field: "workspace", Message: "pick a workspace you may add instances to"}
	}
	ch, err := s.d.Access.ClaimInstance(ctx, r.Instance.ID, a.UserID, c.WorkspaceID, name)
	switch {
	case errors.Is(err, access.ErrConflict):
		now, err := s.Inspect(ctx, a, r.UserCode)
		if err != nil {
			return r, err
		}
		return now, ErrClaimedMeanwhile
	case errors.Is(err, access.ErrInvalid):
		return r, badName
	case err != nil:
		return r, err
	}
	r.Instance.Claimed, r.Instance.Name, r.Instance.Workspace = true, name, r.ClaimInto[i]
	r.Allowed, r.ClaimInto = true, nil
	if ch.Pending {
		return r, ErrClaimPending
	}
	return r, nil
}

// defaultWorkspace is where an instance goes when its approver names none.
func (s *Service) defaultWorkspace(ctx context.Context, a Approver, r Request) (string, error) {
	may := func(id string) bool {
		return slices.ContainsFunc(r.ClaimInto, func(w access.WorkspaceInfo) bool { return w.ID == id })
	}
	if a.TeamID != "" {
		ws, err := s.d.Access.TeamDefaultWorkspace(ctx, a.TeamID)
		if err != nil && !errors.Is(err, access.ErrNotFound) {
			return "", err
		}
		if err == nil && may(ws) {
			return ws, nil
		}
	}
	if a.TeamID != "" {
		return "", &ClaimError{Field: "workspace", Message: "you may not add instances to the Default workspace of this token's team, and the token acts only within its team"}
	}
	ws, err := s.d.Access.DefaultWorkspace(ctx, a.UserID)
	if err != nil {
		return "", err
	}
	if !may(ws) {
		return "", &ClaimError{Field: "workspace", Message: "you may not add instances to your Default workspace yet; retry in a moment"}
	}
	return ws, nil
}

// Deny refuses the flow of userCode: the device's next poll gets
// access_denied. Anyone holding the code may refuse it, as they could
// approve it.
func (s *Service) Deny(ctx context.Context, a Approver, userCode string) error {
	err := s.d.Devices.Deny(ctx, userCode)
	if errors.Is(err, device.ErrUnknownUserCode) {
		return ErrUnknownCode
	}
	return err
}
