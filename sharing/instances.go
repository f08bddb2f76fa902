package sharing

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/caido-cloud/caido-cloud/access"
	"github.com/caido-cloud/caido-cloud/authz"
	"github.com/caido-cloud/caido-cloud/input"
	"github.com/caido-cloud/caido-cloud/oidc/clients"
)

// Instances and workspaces as a signed-in user sees and changes them. The
// rights of a whole list come from one OpenFGA BatchCheck, not a Check
// per right per instance.

// Rights are what the actor may do with an instance.
type Rights struct {
	Use          bool
	Manage       bool
	UseAssistant bool
}

// Instance is an instance the actor may use, with their rights on it.
type Instance struct {
	access.InstanceSummary
	Rights Rights
	// Shared: the actor uses it through a share, not as a member of its
	// workspace.
	Shared bool
}

// Workspace is a workspace of the actor's (their own, or a team's they are
// a member of), with their rights on it.
type Workspace struct {
	access.WorkspaceInfo
	OwnerUserID    string
	CanManage      bool
	CanAddInstance bool
}

// instanceRelations are the rights asked of each instance, in Rights'
// order.
var instanceRelations = []string{"can_use", "can_manage", "can_use_assistant"}

// rights asks OpenFGA, in one batch, for the actor's rights on each
// instance; extra items ride along (their answers follow the rights').
func (s *Service) rights(ctx context.Context, a Actor, ids []string, extra ...authz.CheckItem) ([]Rights, []bool, error) {
	user := authz.UserObject(a.UserID)
	items := make([]authz.CheckItem, 0, len(ids)*len(instanceRelations)+len(extra))
	for _, id := range ids {
		for _, rel := range instanceRelations {
			items = append(items, authz.CheckItem{User: user, Relation: rel, Object: authz.InstanceObject(id)})
		}
	}
	items = append(items, extra...)
	answers, err := s.authz.BatchCheck(ctx, items)
	if err != nil {
		return nil, nil, fmt.Errorf("check rights on %d instances: %w", len(ids), err)
	}
	out := make([]Rights, len(ids))
	for i := range ids {
		r := answers[i*len(instanceRelations):]
		out[i] = Rights{Use: r[0], Manage: r[1], UseAssistant: r[2]}
	}
	return out, answers[len(ids)*len(instanceRelations):], nil
}

// List is every instance the actor may use: those of their workspaces and
// those shared with them, each with their rights. A team's token lists its
// team's instances only.
func (s *Service) List(ctx context.Context, a Actor) ([]Instance, error) {
	ws, err := s.workspaces.Workspaces(ctx, a.UserID)
	if err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(ws))
	for _, w := range ws {
		if a.covers(w.TeamID) {
			ids = append(ids, w.ID)
		}
	}
	own, err := s.access.InstancesIn(ctx, ids)
	if err != nil {
		return nil, err
	}
	all := own
	if a.TeamID == "" { // a share is nobody's team's instance
		sharedIDs, err := s.access.SharedWith(ctx, a.UserID)
		if err != nil {
			return nil, err
		}
		sharedIDs = slices.DeleteFunc(sharedIDs, func(id string) bool {
			return slices.ContainsFunc(own, func(in access.InstanceSummary) bool { return in.ID == id })
		})
		shared, err := s.access.InstancesByID(ctx, sharedIDs)
		if err != nil {
			return nil, err
		}
		all = append(all, shared...)
	}
	if len(all) == 0 {
		return []Instance{}, nil
	}
	instanceIDs := make([]string, len(all))
	for i, in := range all {
		instanceIDs[i] = in.ID
	}
	rights, _, err := s.rights(ctx, a, instanceIDs)
	if err != nil {
		return nil, err
	}
	out := make([]Instance, 0, len(all))
	for i, in := range all {
		// The tuples decide, a share's expiry included; a team's admin
		// without a seat manages its instances without using them.
		if rights[i].Use || rights[i].Manage {
			out = append(out, Instance{InstanceSummary: in, Rights: rights[i], Shared: i >= len(own)})
		}
	}
	return out, nil
}

// Get is one instance the actor may use or manage, with their rights; any
// other is not found, whether it exists or not, but for a member of the
// owning team without a seat, who is told to ask for one.
func (s *Service) Get(ctx context.Context, a Actor, instanceID string) (Instance, error) {
	if !input.ID(instanceID) {
		return Instance{}, noInstance(instanceID)
	}
	found, err := s.access.InstancesByID(ctx, []string{instanceID})
	if err != nil {
		return Instance{}, err
	}
	if len(found) != 1 || !a.covers(found[0].OwnerTeamID) {
		return Instance{}, noInstance(instanceID)
	}
	in := found[0]
	view := authz.CheckItem{User: authz.UserObject(a.UserID), Relation: "can_view", Object: authz.WorkspaceObject(in.WorkspaceID)}
	rights, extra, err := s.rights(ctx, a, []string{instanceID}, view)
	if err != nil {
		return Instance{}, err
	}
	if !rights[0].Use && !rights[0].Manage {
		if in.OwnerTeamID != "" && extra[0] {
			// A member of the team sees its workspace; using its
			// instances takes a seat besides.
			return Instance{}, refuse(Forbidden, SubjectSeat, fmt.Sprintf(
				"%s is in the workspace of the team %s, and using a team's instances takes a seat of its subscription: ask an admin of the team %s for a seat.",
				in.Name, in.OwnerName, in.OwnerName))
		}
		return Instance{}, noInstance(instanceID)
	}
	return Instance{InstanceSummary: in, Rights: rights[0], Shared: !extra[0]}, nil
}

// InstanceChange is a rename and/or a move; nil leaves each as it is.
type InstanceChange struct {
	Name        *string
	WorkspaceID *string
}

// Update renames and/or moves an instance, for its managers, in one
// transaction; a move needs can_add_instance on the workspace it goes to.
// It returns the instance as it is now (a move may have taken it out of
// the actor's reach: then the error says it is not found).
func (s *Service) Update(ctx context.Context, a Actor, instanceID string, c InstanceChange) (Instance, error) {
	if c.Name == nil && c.WorkspaceID == nil {
		return Instance{}, refuse(Invalid, SubjectInstance, "give name, workspace_id or both")
	}
	u := access.InstanceUpdate{WorkspaceID: c.WorkspaceID}
	if c.Name != nil {
		name, ok := access.InstanceName(*c.Name)
		if !ok {
			return Instance{}, refuse(Invalid, SubjectName, fmt.Sprintf("name must be 1 to %d characters, none of them control characters", access.MaxInstanceName))
		}
		u.Name = &name
	}
	if c.WorkspaceID != nil && !input.ID(*c.WorkspaceID) {
		return Instance{}, refuse(Invalid, SubjectWorkspace, "workspace_id must be a workspace's id")
	}
	if err := s.manage(ctx, a, instanceID); err != nil {
		return Instance{}, err
	}
	if c.WorkspaceID != nil {
		if err := s.mayAddTo(ctx, a, *c.WorkspaceID); err != nil {
			return Instance{}, err
		}
	}
	switch _, err := s.access.UpdateInstance(ctx, instanceID, u); {
	case errors.Is(err, access.ErrNotFound):
		return Instance{}, noInstance(instanceID)
	case errors.Is(err, access.ErrAlreadyThere):
		// The dashboard never offers it: a mistake, not a change.
		return Instance{}, refuse(Invalid, SubjectWorkspace, "instance "+instanceID+" is in workspace "+*c.WorkspaceID+" already")
	case errors.Is(err, access.ErrInvalid):
		return Instance{}, refuse(Invalid, SubjectName, err.Error())
	case err != nil:
		return Instance{}, err
	}
	return s.Get(ctx, a, instanceID)
}

// mayAddTo refuses a workspace the actor may not add instances to (or that
// does not exist, or is outside a team token's team).
func (s *Service) mayAddTo(ctx context.Context, a Actor, workspaceID string) error {
	refused := refuse(Forbidden, SubjectWorkspace, "you may not add instances to workspace "+workspaceID+" (or it does not exist)")
	if a.TeamID != "" {
		team, err := s.access.OwningTeam(ctx, authz.WorkspaceObject(workspaceID))
		if errors.Is(err, access.ErrNotFound) || err == nil && team != a.TeamID {
			return refused
		}
		if err != nil {
			return err
		}
	}
	ok, err := s.check(ctx, a, "can_add_instance", authz.WorkspaceObject(workspaceID))
	if err != nil {
		return err
	}
	if !ok {
		return refused
	}
	return nil
}

// Delete removes an instance, for its managers.
func (s *Service) Delete(ctx context.Context, a Actor, instanceID string) (access.Change, error) {
	if err := s.manage(ctx, a, instanceID); err != nil {
		return access.Change{}, err
	}
	ch, err := s.access.DeleteInstance(ctx, instanceID)
	if errors.Is(err, access.ErrNotFound) {
		return ch, noInstance(instanceID)
	}
	return ch, err
}

// SetAssistant switches the assistant on or off for everyone on the
// instance, for its managers, and returns the instance as it is now.
func (s *Service) SetAssistant(ctx context.Context, a Actor, instanceID string, enabled bool) (Instance, access.Change, error) {
	if err := s.manage(ctx, a, instanceID); err != nil {
		return Instance{}, access.Change{}, err
	}
	ch, err := s.access.SetAssistantEnabled(ctx, instanceID, enabled)
	if errors.Is(err, access.ErrNotFound) {
		return Instance{}, ch, noInstance(instanceID)
	}
	if err != nil {
		return Instance{}, ch, err
	}
	in, err := s.Get(ctx, a, instanceID)
	return in, ch, err
}

// Credentials are an instance's new client credentials.
type Credentials struct {
	ClientID string
	// Secret is shown once, never stored in the clear nor logged.
	Secret string
}

// ResetCredentials gives the instance a new client secret, for its
// managers; every token issued to it before ends (clients.ResetSecret).
func (s *Service) ResetCredentials(ctx context.Context, a Actor, instanceID string) (Credentials, error) {
	if err := s.manage(ctx, a, instanceID); err != nil {
		return Credentials{}, err
	}
	clientID, secret, err := s.clients.ResetInstanceSecret(ctx, instanceID)
	if errors.Is(err, clients.ErrNotFound) {
		return Credentials{}, refuse(NotFound, SubjectCredentials, "instance "+instanceID+" has no client credentials")
	}
	if err != nil {
		return Credentials{}, err
	}
	return Credentials{ClientID: clientID, Secret: secret}, nil
}

// Workspaces are the actor's workspaces, their own first, with their
// rights; a team's token sees its team's only.
func (s *Service) Workspaces(ctx context.Context, a Actor) ([]Workspace, error) {
	ws, err := s.workspaces.Workspaces(ctx, a.UserID)
	if err != nil {
		return nil, err
	}
	ws = slices.DeleteFunc(ws, func(w access.WorkspaceInfo) bool { return !a.covers(w.TeamID) })
	if len(ws) == 0 {
		return []Workspace{}, nil
	}
	user := authz.UserObject(a.UserID)
	relations := []string{"can_view", "can_manage", "can_add_instance"}
	items := make([]authz.CheckItem, 0, len(relations)*len(ws))
	for _, w := range ws {
		for _, rel := range relations {
			items = append(items, authz.CheckItem{User: user, Relation: rel, Object: authz.WorkspaceObject(w.ID)})
		}
	}
	answers, err := s.authz.BatchCheck(ctx, items)
	if err != nil {
		return nil, fmt.Errorf("check rights on %d workspaces: %w", len(ws), err)
	}
	out := make([]Workspace, 0, len(ws))
	for i, w := range ws {
		r := answers[len(relations)*i:]
		if !r[0] {
			continue // OpenFGA decides: a membership that has just ended
		}
		sw := Workspace{WorkspaceInfo: w, CanManage: r[1], CanAddInstance: r[2]}
		if !w.Team() {
			sw.OwnerUserID = a.UserID // only the actor's own personal workspace is listed
		}
		out = append(out, sw)
	}
	return out, nil
}

// covers says whether the actor may act on something of teamID ("" for
// what belongs to no team): anyone may, a team's token only within it.
func (a Actor) covers(teamID string) bool { return a.TeamID == "" || a.TeamID == teamID }

// Workspace is one workspace the actor may view (can_view); one they may
// not, or outside a team token's team, is not found, whether it exists or
// not.
func (s *Service) Workspace(ctx context.Context, a Actor, workspaceID string) (access.Workspace, error) {
	notFound := refuse(NotFound, SubjectWorkspace, "no workspace "+workspaceID+" that you may view")
	if !input.ID(workspaceID) {
		return access.Workspace{}, notFound
	}
	w, err := s.access.Workspace(ctx, workspaceID)
	if errors.Is(err, access.ErrNotFound) || err == nil && !a.covers(w.OwnerTeamID) {
		return access.Workspace{}, notFound
	}
	if err != nil {
		return access.Workspace{}, err
	}
	ok, err := s.check(ctx, a, "can_view", authz.WorkspaceObject(workspaceID))
	if err != nil {
		return access.Workspace{}, err
	}
	if !ok {
		return access.Workspace{}, notFound
	}
	return w, nil
}
