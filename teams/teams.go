// Package teams is the administration of a team by its members: what a
// member sees of it (members, subscription; invitations and team tokens for
// its admins), invitations by mail, roles and seats, removal, the team's
// audit log, and the creation of a team.
//
// Every decision lives here, so that the team page and /api/v1/team/* only
// decode, call one method and map its error: which team a call is about
// (the public API's current-team rule), that a team's personal access token
// acts only within its team, that a team the actor is not a member of is
// not found (OpenFGA member) and that only its admins change it or read its
// log (OpenFGA can_manage_members), and that the owner stays.
package teams

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"
	"unicode"

	"github.com/caido-cloud/caido-cloud/assistant"
	"github.com/caido-cloud/caido-cloud/audit"
	"github.com/caido-cloud/caido-cloud/input"

	"github.com/caido-cloud/caido-cloud/access"
	"github.com/caido-cloud/caido-cloud/authz"
	"github.com/caido-cloud/caido-cloud/mail"
	"github.com/caido-cloud/caido-cloud/pats"
)

// Actor is who acts: a user, and the team of the personal access token
// they called with ("" for a token of no team, a browser session, an OAuth
// access token). A team's token acts only within its team
// (pats.Token.Covers).
type Actor struct {
	UserID string
	TeamID string
}

func (a Actor) covers(teamID string) bool { return a.TeamID == "" || a.TeamID == teamID }

// CurrentTeam, as a team id, asks for the public API's rule: the team of
// the actor's token; for a token of no team, the actor's only team.
const CurrentTeam = ""

// InvitationPath is the page of an invitation's link, where the invited
// person accepts (the web pages serve it).
const InvitationPath = "/invitations/accept"

// invitationMailTimeout bounds the sending of an invitation mail while the
// caller waits.
const invitationMailTimeout = 15 * time.Second

// Errors of the team a call is about.
var (
	// ErrNoTeam: the team named is not one the actor is a member of,
	// whether it exists or not; the error names nothing.
	ErrNoTeam = errors.New("no team of yours has this id")
	// ErrOutsideTeam: a team's token named another team.
	ErrOutsideTeam = errors.New("this personal access token was created for one team and acts only within it: use a token of that team, or one of no team")
	// ErrAdminsOnly: a member who is no admin tried to change the team's
	// members or invitations, or to read them.
	ErrAdminsOnly = errors.New("only the team's admins may manage its members and invitations")
	// ErrAuditAdminsOnly: a member who is no admin asked for the team's
	// audit log.
	ErrAuditAdminsOnly = errors.New("only the team's admins may read its audit log")
	// ErrUsageAdminsOnly: a member who is not an admin asked for the
	// team's assistant usage.
	ErrUsageAdminsOnly = errors.New("only the team's admins may see its assistant usage")
	// ErrTeamToken: a team's token may not create a team, as it could then
	// act on nothing it made.
	ErrTeamToken = errors.New("this personal access token was created for one team and acts only within it: create teams from the dashboard or with a token of no team")
)

// NoCurrentTeamError: the current-team rule found no team; Reason says
// why, in words for the caller.
type NoCurrentTeamError struct{ Reason string }

func (e *NoCurrentTeamError) Error() string { return e.Reason }

// The reasons of NoCurrentTeamError.
const (
	reasonLeftTokenTeam = "you are no longer a member of the team this personal access token was created for"
	reasonNoTeam        = "you are not a member of any team"
	reasonSeveralTeams  = "you are a member of several teams: create the personal access token for one team (team_id) to use the team endpoints"
)

// Errors of what is asked.
var (
	// ErrRole: a role other than admin or member was asked for (the owner
	// is made with the team, never given).
	ErrRole = errors.New("role must be admin or member")
	// ErrNoChange: a member change that changes nothing.
	ErrNoChange = errors.New("give role (admin or member), use_seat or both")
	// ErrOwnerStays: the owner keeps the owner role (a team always has its
	// owner).
	ErrOwnerStays = errors.New("the team's owner keeps the owner role and is not changed here")
	// ErrOwnerNotRemoved: the owner cannot be removed from their team.
	ErrOwnerNotRemoved = errors.New("the team's owner cannot be removed from the team")
	// ErrMailNotSent: the invitation mail could not be sent, so the
	// invitation was withdrawn (a link nobody received must not hold a
	// seat). Retrying may work.
	ErrMailNotSent = errors.New("the invitation mail could not be sent, so no invitation was made")
)

// NoMemberError: the user is not a member of the team.
type NoMemberError struct{ UserID string }

func (e *NoMemberError) Error() string { return "no user " + e.UserID + " in the team" }

// NoInvitationError: the team has no open invitation of that id (accepted,
// withdrawn, or never made).
type NoInvitationError struct{ ID string }

func (e *NoInvitationError) Error() string { return "no open invitation " + e.ID + " in the team" }

// InvalidError: a value will not do. Field is "email", "name" or
// "billing_email"; the message says what is wrong with it.
type InvalidError struct {
	Field string
	err   error
}

func (e *InvalidError) Error() string { return strip(e.err, access.ErrInvalid) }
func (e *InvalidError) Unwrap() error { return e.err }

// AlreadyMemberError: the invited address is a member's already.
type AlreadyMemberError struct {
	Email string
	err   error
}

func (e *AlreadyMemberError) Error() string { return strip(e.err, access.ErrConflict) }
func (e *AlreadyMemberError) Unwrap() error { return e.err }

// NoSeatError: the team's subscription has no seat left (open invitations
// with a seat hold one), or the team has no subscription. Subscription is
// the team's, nil when it has none.
type NoSeatError struct {
	Subscription *access.Subscription
	err          error
}

func (e *NoSeatError) Error() string { return strip(e.err, access.ErrNoSeat) }
func (e *NoSeatError) Unwrap() error { return e.err }

// strip is err's message without the sentinel's words at its end: access
// says what and then which kind, the caller needs the what.
func strip(err, sentinel error) string {
	msg := strings.TrimSuffix(err.Error(), ": "+sentinel.Error())
	if msg == "" {
		return sentinel.Error()
	}
	return msg
}

// What the service calls, each declared by what it needs.
type (
	directory interface {
		Account(ctx context.Context, userID string) (access.Account, error)
		Memberships(ctx context.Context, userID string) ([]access.Membership, error)
		Members(ctx context.Context, teamID string) ([]access.Member, error)
		TeamSubscription(ctx context.Context, teamID string) (access.Subscription, error)
		Invitations(ctx context.Context, teamID string) ([]access.Invitation, error)
	}
	auditLog interface {
		Entries(ctx context.Context, f audit.Filter) ([]audit.Entry, error)
	}
	administration interface {
		CreateTeam(ctx context.Context, ownerID, name, billingEmail string) (access.Team, access.Change, error)
		Invite(ctx context.Context, teamID, email string, role access.Role, useSeat bool, lifetime time.Duration) (access.Invitation, string, error)
		DeleteInvitation(ctx context.Context, teamID, invitationID string) error
		UpdateMember(ctx context.Context, teamID, userID string, role access.Role, useSeat bool) (access.Change, error)
		RemoveTeamMember(ctx context.Context, teamID, userID string) (access.Change, error)
	}
	usage interface {
		Usage(ctx context.Context, f assistant.UsageFilter) ([]assistant.UsageRow, error)
	}
	teamTokens interface {
		ListForTeam(ctx context.Context, actorID, teamID string) ([]pats.Token, error)
	}
	checker interface {
		Check(ctx context.Context, user, relation, object string) (bool, error)
	}
)

// Deps are the service's dependencies, all required.
type Deps struct {
	Directory directory
	Audit     auditLog
	Access    administration
	Tokens    teamTokens
	Usage     usage
	Authz     checker
	// Mail sends the invitations; PublicURL is where their links point.
	Mail      mail.Sender
	PublicURL string
	// Log records a mail that could not be sent (never its link).
	Log *slog.Logger
}

// Service administers teams.
type Service struct{ d Deps }

// New returns a Service, or an error naming a missing dependency.
func New(d Deps) (*Service, error) {
	for name, v := range map[string]any{"Directory": d.Directory, "Audit": d.Audit, "Access": d.Access, "Tokens": d.Tokens, "Usage": d.Usage, "Authz": d.Authz,
		"Mail": d.Mail, "Log": d.Log} {
		if v == nil {
			return nil, fmt.Errorf("teams: %s is required", name)
		}
	}
	if d.PublicURL == "" {
		return nil, errors.New("teams: PublicURL is required")
	}
	return &Service{d: d}, nil
}

// View is a team as one of its members sees it.
type View struct {
	// Membership is the actor's: the team, their role.
	access.Membership
	// Admin: OpenFGA lets the actor manage the members (can_manage_members).
	Admin   bool
	Members []access.Member
	// Subscription is nil when the team has none.
	Subscription *access.Subscription
	// Invitations and Tokens (the team's live personal access tokens) are
	// the admins' only.
	Invitations []access.Invitation
	Tokens      []pats.Token
}

// team finds the team a call is about and the actor's membership of it:
// teamID, or the current team for CurrentTeam.
func (s *Service) team(ctx context.Context, a Actor, teamID string) (access.Membership, error) {
	if teamID != CurrentTeam {
		if !input.ID(teamID) {
			return access.Membership{}, ErrNoTeam
		}
		if !a.covers(teamID) {
			return access.Membership{}, ErrOutsideTeam
		}
	}
	ms, err := s.d.Directory.Memberships(ctx, a.UserID)
	if err != nil {
		return access.Membership{}, err
	}
	var m access.Membership
	switch {
	case teamID != CurrentTeam:
		i := indexTeam(ms, teamID)
		if i < 0 {
			return m, ErrNoTeam
		}
		m = ms[i]
	case a.TeamID != "":
		i := indexTeam(ms, a.TeamID)
		if i < 0 {
			return m, &NoCurrentTeamError{Reason: reasonLeftTokenTeam}
		}
		m = ms[i]
	case len(ms) == 1:
		m = ms[0]
	case len(ms) == 0:
		return m, &NoCurrentTeamError{Reason: reasonNoTeam}
	default:
		return m, &NoCurrentTeamError{Reason: reasonSeveralTeams}
	}
	// OpenFGA decides; the row says which team and in what role. They
	// disagree for a moment when a membership has just ended.
	member, err := s.check(ctx, a, "member", m.Team.ID)
	if err != nil {
		return m, err
	}
	if !member {
		if teamID == CurrentTeam && a.TeamID != "" {
			return m, &NoCurrentTeamError{Reason: reasonLeftTokenTeam}
		}
		return m, ErrNoTeam
	}
	return m, nil
}

func indexTeam(ms []access.Membership, teamID string) int {
	for i, m := range ms {
		if m.Team.ID == teamID {
			return i
		}
	}
	return -1
}

func (s *Service) check(ctx context.Context, a Actor, relation, teamID string) (bool, error) {
	ok, err := s.d.Authz.Check(ctx, authz.UserObject(a.UserID), relation, authz.TeamObject(teamID))
	if err != nil {
		return false, fmt.Errorf("access check %s on team %s: %w", relation, teamID, err)
	}
	return ok, nil
}

// admin is team for what only the team's admins may do; refused is the
// error a member who is no admin gets.
func (s *Service) admin(ctx context.Context, a Actor, teamID string, refused error) (access.Membership, error) {
	m, err := s.team(ctx, a, teamID)
	if err != nil {
		return m, err
	}
	ok, err := s.check(ctx, a, "can_manage_members", m.Team.ID)
	if err != nil {
		return m, err
	}
	if !ok {
		return m, refused
	}
	return m, nil
}

// Team is the actor's membership of the team, for what only needs to know
// which team it is.
func (s *Service) Team(ctx context.Context, a Actor, teamID string) (access.Membership, error) {
	return s.team(ctx, a, teamID)
}

// View is the team as the actor sees it: for a member its members and
// subscription, for an admin its invitations and team tokens too.
func (s *Service) View(ctx context.Context, a Actor, teamID string) (View, error) {
	m, err := s.team(ctx, a, teamID)
	if err != nil {
		return View{}, err
	}
	v := View{Membership: m}
	if v.Admin, err = s.check(ctx, a, "can_manage_members", m.Team.ID); err != nil {
		return View{}, err
	}
	if v.Members, err = s.d.Directory.Members(ctx, m.Team.ID); err != nil {
		return View{}, err
	}
	if v.Subscription, err = s.subscription(ctx, m.Team.ID); err != nil {
		return View{}, err
	}
	if !v.Admin {
		return v, nil
	}
	if v.Invitations, err = s.d.Directory.Invitations(ctx, m.Team.ID); err != nil {
		return View{}, err
	}
	// The tokens' own check may lag behind ours by a change; it is theirs
	// to refuse, and then there are none to show.
	if v.Tokens, err = s.d.Tokens.ListForTeam(ctx, a.UserID, m.Team.ID); err != nil && !errors.Is(err, pats.ErrForbidden) {
		return View{}, err
	}
	return v, nil
}

// Members lists the team's members, owner first, to a member.
func (s *Service) Members(ctx context.Context, a Actor, teamID string) ([]access.Member, error) {
	m, err := s.team(ctx, a, teamID)
	if err != nil {
		return nil, err
	}
	return s.d.Directory.Members(ctx, m.Team.ID)
}

// Subscription is the team's subscription, to a member; nil when it has
// none.
func (s *Service) Subscription(ctx context.Context, a Actor, teamID string) (*access.Subscription, error) {
	m, err := s.team(ctx, a, teamID)
	if err != nil {
		return nil, err
	}
	return s.subscription(ctx, m.Team.ID)
}

func (s *Service) subscription(ctx context.Context, teamID string) (*access.Subscription, error) {
	sub, err := s.d.Directory.TeamSubscription(ctx, teamID)
	if errors.Is(err, access.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &sub, nil
}

// Invitations lists the team's open invitations, expired ones included, to
// an admin.
func (s *Service) Invitations(ctx context.Context, a Actor, teamID string) ([]access.Invitation, error) {
	m, err := s.admin(ctx, a, teamID, ErrAdminsOnly)
	if err != nil {
		return nil, err
	}
	return s.d.Directory.Invitations(ctx, m.Team.ID)
}

// NewInvitation is whom an admin invites, as what.
type NewInvitation struct {
	Email   string
	Role    access.Role
	UseSeat bool
}

// Invite invites an address to the team and mails it the link. The mail is
// sent even if the caller goes away meanwhile; when it fails the
// invitation is withdrawn and ErrMailNotSent returned, so that no
// invitation nobody received holds a seat.
func (s *Service) Invite(ctx context.Context, a Actor, teamID string, in NewInvitation) (access.Invitation, error) {
	m, err := s.admin(ctx, a, teamID, ErrAdminsOnly)
	if err != nil {
		return access.Invitation{}, err
	}
	if in.Role != access.RoleAdmin && in.Role != access.RoleMember {
		return access.Invitation{}, ErrRole
	}
	inv, token, err := s.d.Access.Invite(ctx, m.Team.ID, in.Email, in.Role, in.UseSeat, 0)
	if err != nil {
		return inv, s.refusal(ctx, m.Team.ID, "email", strings.TrimSpace(in.Email), err)
	}
	mctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), invitationMailTimeout)
	defer cancel()
	if err := s.sendInvitation(mctx, a, inv, token); err != nil {
		s.d.Log.ErrorContext(ctx, "send invitation", "team_id", m.Team.ID, "invitation_id", inv.ID, "error", err)
		if err := s.d.Access.DeleteInvitation(context.WithoutCancel(ctx), m.Team.ID, inv.ID); err != nil {
			s.d.Log.ErrorContext(ctx, "withdraw unsent invitation", "invitation_id", inv.ID, "error", err)
		}
		return inv, ErrMailNotSent
	}
	return inv, nil
}

// sendInvitation mails the invitation's link. The token is in the link
// only: it is neither logged nor kept.
func (s *Service) sendInvitation(ctx context.Context, a Actor, inv access.Invitation, token string) error {
	inviter := "A team admin"
	if acc, err := s.d.Directory.Account(ctx, a.UserID); err == nil && acc.Name != "" {
		inviter = acc.Name
	}
	link := strings.TrimRight(s.d.PublicURL, "/") + InvitationPath + "?token=" + url.QueryEscape(token)
	text := fmt.Sprintf(`%s invited you to join the team %q on caido-cloud as %s.

Accept the invitation (sign up first with this address if you have no account):

%s

The link works until %s UTC. If you did not expect this mail, ignore it.
`, inviter, inv.TeamName, inv.Role, link, inv.ExpiresAt.UTC().Format("2006-01-02 15:04"))
	// A team named before names were one line still sends: its line
	// breaks become spaces in the subject, which takes none.
	subject := "You are invited to join " + strings.Join(strings.FieldsFunc(inv.TeamName, unicode.IsControl), " ")
	return s.d.Mail.Send(ctx, mail.Message{To: inv.Email, Subject: subject, Text: text})
}

// refusal names what access refused of a change to the team: field is the
// input access.ErrInvalid is about.
func (s *Service) refusal(ctx context.Context, teamID, field, email string, err error) error {
	switch {
	case errors.Is(err, access.ErrInvalid):
		return &InvalidError{Field: field, err: err}
	case errors.Is(err, access.ErrConflict):
		return &AlreadyMemberError{Email: email, err: err}
	case errors.Is(err, access.ErrNoSeat):
		sub, serr := s.subscription(ctx, teamID)
		if serr != nil {
			return serr
		}
		return &NoSeatError{Subscription: sub, err: err}
	}
	return err
}

// Withdraw withdraws an open invitation: its link no longer works.
func (s *Service) Withdraw(ctx context.Context, a Actor, teamID, invitationID string) error {
	m, err := s.admin(ctx, a, teamID, ErrAdminsOnly)
	if err != nil {
		return err
	}
	if !input.ID(invitationID) {
		return &NoInvitationError{ID: invitationID}
	}
	err = s.d.Access.DeleteInvitation(ctx, m.Team.ID, invitationID)
	if errors.Is(err, access.ErrNotFound) {
		return &NoInvitationError{ID: invitationID}
	}
	return err
}

// MemberChange is what an admin changes of a member; nil leaves it as it is.
type MemberChange struct {
	Role    *access.Role
	UseSeat *bool
}

// UpdateMember changes a member's role (admin or member), seat or both,
// and returns the member as they are now. The owner keeps the owner role.
func (s *Service) UpdateMember(ctx context.Context, a Actor, teamID, userID string, ch MemberChange) (access.Member, access.Change, error) {
	m, err := s.admin(ctx, a, teamID, ErrAdminsOnly)
	if err != nil {
		return access.Member{}, access.Change{}, err
	}
	if ch.Role == nil && ch.UseSeat == nil {
		return access.Member{}, access.Change{}, ErrNoChange
	}
	target, err := s.member(ctx, m.Team.ID, userID)
	if err != nil {
		return access.Member{}, access.Change{}, err
	}
	// The owner keeps the owner role, and takes or releases a seat through
	// the same control as anyone (the team page's owner row says
	// role=owner).
	if target.Role == access.RoleOwner {
		if ch.Role != nil && *ch.Role != access.RoleOwner {
			return target, access.Change{}, ErrOwnerStays
		}
		if ch.UseSeat == nil {
			return target, access.Change{}, ErrNoChange
		}
	} else if ch.Role != nil && *ch.Role != access.RoleAdmin && *ch.Role != access.RoleMember {
		return access.Member{}, access.Change{}, ErrRole
	}
	role, useSeat := target.Role, target.UseSeat
	if ch.Role != nil {
		role = *ch.Role
	}
	if ch.UseSeat != nil {
		useSeat = *ch.UseSeat
	}
	done, err := s.d.Access.UpdateMember(ctx, m.Team.ID, target.UserID, role, useSeat)
	switch {
	case errors.Is(err, access.ErrNotFound): // removed meanwhile
		return target, done, &NoMemberError{UserID: userID}
	case err != nil:
		return target, done, s.refusal(ctx, m.Team.ID, "role", "", err)
	}
	updated, err := s.member(ctx, m.Team.ID, target.UserID)
	return updated, done, err
}

// member finds userID among the team's members.
func (s *Service) member(ctx context.Context, teamID, userID string) (access.Member, error) {
	if input.ID(userID) {
		members, err := s.d.Directory.Members(ctx, teamID)
		if err != nil {
			return access.Member{}, err
		}
		for _, mb := range members {
			if mb.UserID == userID {
				return mb, nil
			}
		}
	}
	return access.Member{}, &NoMemberError{UserID: userID}
}

// RemoveMember takes a member out of the team, and with it their access to
// its instances (access.RemoveTeamMember ends their sessions on them). The
// owner stays. An admin may remove themselves.
func (s *Service) RemoveMember(ctx context.Context, a Actor, teamID, userID string) (access.Change, error) {
	m, err := s.admin(ctx, a, teamID, ErrAdminsOnly)
	if err != nil {
		return access.Change{}, err
	}
	target, err := s.member(ctx, m.Team.ID, userID)
	if err != nil {
		return access.Change{}, err
	}
	if target.Role == access.RoleOwner {
		return access.Change{}, ErrOwnerNotRemoved
	}
	done, err := s.d.Access.RemoveTeamMember(ctx, m.Team.ID, target.UserID)
	if errors.Is(err, access.ErrNotFound) { // removed meanwhile
		return done, &NoMemberError{UserID: userID}
	}
	return done, err
}

// AuditLog is a team's audit log as an admin reads it.
type AuditLog struct {
	Team    access.TeamInfo
	Entries []audit.Entry
	// Members name the users entries concern.
	Members []access.Member
}

// AuditLog returns the team's latest entries (limit, 1 to 500; 0 takes
// 100), newest first, to an admin. Each carries the client address only
// where the actor may see it (audit.Filter.ViewerID).
func (s *Service) AuditLog(ctx context.Context, a Actor, teamID string, limit int) (AuditLog, error) {
	m, err := s.admin(ctx, a, teamID, ErrAuditAdminsOnly)
	if err != nil {
		return AuditLog{}, err
	}
	log := AuditLog{Team: m.Team}
	if log.Entries, err = s.d.Audit.Entries(ctx, audit.Filter{TeamID: m.Team.ID, ViewerID: a.UserID, Limit: limit}); err != nil {
		return AuditLog{}, err
	}
	if log.Members, err = s.d.Directory.Members(ctx, m.Team.ID); err != nil {
		return AuditLog{}, err
	}
	return log, nil
}

// Usage is the team's assistant usage in [from, to), a row per day, member
// and model, for its admins (ErrUsageAdminsOnly for its other members,
// ErrNoTeam for anyone else).
func (s *Service) Usage(ctx context.Context, a Actor, teamID string, from, to time.Time) (access.Membership, []assistant.UsageRow, error) {
	m, err := s.admin(ctx, a, teamID, ErrUsageAdminsOnly)
	if err != nil {
		return m, nil, err
	}
	rows, err := s.d.Usage.Usage(ctx, assistant.UsageFilter{TeamID: m.Team.ID, From: from, To: to})
	return m, rows, err
}

// CreateTeam creates a team owned by the actor, with its Default workspace.
// Anyone may; a team's token may not (ErrTeamToken).
func (s *Service) CreateTeam(ctx context.Context, a Actor, name, billingEmail string) (access.TeamInfo, access.Change, error) {
	if a.TeamID != "" {
		return access.TeamInfo{}, access.Change{}, ErrTeamToken
	}
	if _, ok := input.Name(name, access.MaxTeamName); !ok {
		return access.TeamInfo{}, access.Change{}, &InvalidError{Field: "name",
			err: fmt.Errorf("team name must be 1 to %d characters on one line, none of them control characters: %w", access.MaxTeamName, access.ErrInvalid)}
	}
	t, ch, err := s.d.Access.CreateTeam(ctx, a.UserID, name, billingEmail)
	if err != nil {
		return access.TeamInfo{}, ch, s.refusal(ctx, "", "billing_email", "", err)
	}
	ms, err := s.d.Directory.Memberships(ctx, a.UserID)
	if err != nil {
		return access.TeamInfo{}, ch, err
	}
	if i := indexTeam(ms, t.ID); i >= 0 {
		return ms[i].Team, ch, nil
	}
	return access.TeamInfo{}, ch, fmt.Errorf("the team %s just made is not among its owner's", t.ID)
}

// Administered are the actor's memberships (within a team token's team) of
// the teams they are an admin of (can_manage_members): the teams whose
// usage the usage page offers.
func (s *Service) Administered(ctx context.Context, a Actor) ([]access.Membership, error) {
	ms, err := s.d.Directory.Memberships(ctx, a.UserID)
	if err != nil {
		return nil, err
	}
	var admin []access.Membership
	for _, m := range ms {
		if !a.covers(m.Team.ID) {
			continue
		}
		ok, err := s.check(ctx, a, "can_manage_members", m.Team.ID)
		if err != nil {
			return nil, err
		}
		if ok {
			admin = append(admin, m)
		}
	}
	return admin, nil
}
