// Package sharing is sharing instances as a signed-in user does it, from any
// surface (the dashboard's forms, /api/v1): grant to a user or a team with an
// optional end, revoke, list the grants. Every method takes the acting user
// and asks OpenFGA itself whether they may, so that no surface can forget a
// check or make a different one; the rows and their tuples are access's.
// No HTTP here: the surfaces decode, call one method, map its *Error once
// and encode.
package sharing

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	netmail "net/mail"
	"strings"
	"time"

	"github.com/caido-cloud/caido-cloud/access"
	"github.com/caido-cloud/caido-cloud/authz"
	"github.com/caido-cloud/caido-cloud/input"
	"github.com/caido-cloud/caido-cloud/limits"
	"github.com/caido-cloud/caido-cloud/mail"
)

// Actor is who shares: a signed-in user, and the team of the personal
// access token the call came with.
type Actor struct {
	UserID string
	// TeamID is the token's team; "" for a token of no team or a browser
	// session. A team token acts within its team: it shares with that team
	// only, and revokes as an admin of that team only.
	TeamID string
}

// Grantee is who an instance is shared with: one user, by address or by
// id, or every member of a team.
type Grantee struct {
	UserEmail string
	UserID    string
	TeamID    string
	// UserOrTeamID names a grant by its grantee's id, a user's or a team's
	// (the API's DELETE path does); Revoke only.
	UserOrTeamID string
}

// Checker is the OpenFGA questions the service asks.
type Checker interface {
	Check(ctx context.Context, user, relation, object string) (bool, error)
	BatchCheck(ctx context.Context, items []authz.CheckItem) ([]bool, error)
}

// WorkspaceDirectory lists a user's workspaces (access.Service).
type WorkspaceDirectory interface {
	Workspaces(ctx context.Context, userID string) ([]access.WorkspaceInfo, error)
}

// CredentialResetter resets an instance's client secret (clients.Service).
type CredentialResetter interface {
	ResetInstanceSecret(ctx context.Context, instanceID string) (clientID, secret string, err error)
}

// Service shares instances on behalf of users.
type Service struct {
	access     *access.Service
	authz      Checker
	workspaces WorkspaceDirectory
	clients    CredentialResetter
	mail       mail.Sender
	limiter    *limits.Limiter
	log        *slog.Logger
	opts       Options
}

// Defaults of Options.
const (
	// DefaultMailLimit shares by email (each one a mail sent on the
	// sharer's behalf) a sharer may make in each DefaultMailWindow.
	DefaultMailLimit  = 20
	DefaultMailWindow = time.Hour
	// mailTimeout bounds the sending of a share's mail while the sharer
	// waits.
	mailTimeout = 15 * time.Second
)

// Options adjust a Service; zero values take the defaults.
type Options struct {
	MailLimit  int
	MailWindow time.Duration
	// PublicURL is where the mail sends its reader to sign in.
	PublicURL string
	// Now is the clock (nil: time.Now).
	Now func() time.Time
}

// Deps are what the Service uses. Mail and Limiter may be nil only where
// nobody shares by email (tests mounting a part of the pages): a share by
// email then fails.
type Deps struct {
	Access     *access.Service
	Authz      Checker
	Workspaces WorkspaceDirectory
	Clients    CredentialResetter
	Mail       mail.Sender
	Limiter    *limits.Limiter
	Log        *slog.Logger
}

// New returns a Service on d.
func New(d Deps, opts Options) *Service {
	if opts.MailLimit <= 0 {
		opts.MailLimit = DefaultMailLimit
	}
	if opts.MailWindow <= 0 {
		opts.MailWindow = DefaultMailWindow
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	return &Service{access: d.Access, authz: d.Authz, workspaces: d.Workspaces, clients: d.Clients,
		mail: d.Mail, limiter: d.Limiter, log: d.Log, opts: opts}
}

func (s *Service) now() time.Time { return s.opts.Now() }

// Share is a share made.
type Share struct {
	// Grant is the grant as Grants lists it; for a share by email only
	// InstanceID, UserEmail (as given), ExpiresAt and CreatedAt are set,
	// whatever became of it (see Grant).
	Grant access.GrantInfo
	// ByEmail: the share went to an address.
	ByEmail bool
	// Change says whether OpenFGA had it yet; always zero for a share by
	// email.
	Change access.Change
}

func (s *Service) check(ctx context.Context, a Actor, relation, object string) (bool, error) {
	ok, err := s.authz.Check(ctx, authz.UserObject(a.UserID), relation, object)
	if err != nil {
		return false, fmt.Errorf("check %s on %s: %w", relation, object, err)
	}
	return ok, nil
}

// manage is nil when the actor may manage the instance (can_manage);
// otherwise a refusal: Forbidden when they may use it, NotFound when they
// may not even do that (whether it exists or not).
func (s *Service) manage(ctx context.Context, a Actor, instanceID string) error {
	if !input.ID(instanceID) {
		return noInstance(instanceID)
	}
	if within, err := s.within(ctx, a, instanceID); err != nil || !within {
		if err == nil {
			err = noInstance(instanceID)
		}
		return err
	}
	ok, err := s.check(ctx, a, "can_manage", authz.InstanceObject(instanceID))
	if err != nil || ok {
		return err
	}
	return s.refusal(ctx, a, instanceID)
}

// within says whether the instance lies within what the actor's token may
// act on: always, for one of no team; for a team's token, the team's
// instances only.
func (s *Service) within(ctx context.Context, a Actor, instanceID string) (bool, error) {
	if a.TeamID == "" {
		return true, nil
	}
	team, err := s.access.OwningTeam(ctx, authz.InstanceObject(instanceID))
	if errors.Is(err, access.ErrNotFound) {
		return false, nil
	}
	return err == nil && team == a.TeamID, err
}

// manages says whether the actor manages the instance: can_manage, and for
// a team's token an instance of its team.
func (s *Service) manages(ctx context.Context, a Actor, instanceID string) (bool, error) {
	within, err := s.within(ctx, a, instanceID)
	if err != nil || !within {
		return false, err
	}
	return s.check(ctx, a, "can_manage", authz.InstanceObject(instanceID))
}

// refusal is what an actor who may not manage the instance is told.
func (s *Service) refusal(ctx context.Context, a Actor, instanceID string) error {
	use, err := s.check(ctx, a, "can_use", authz.InstanceObject(instanceID))
	if err != nil {
		return err
	}
	if use {
		return refuse(Forbidden, SubjectInstance, "you may use instance "+instanceID+" but not manage it: ask a manager of its workspace")
	}
	return noInstance(instanceID)
}

// Grant shares an instance, for its managers, with a user or with every
// member of a team of the actor's, until `until` when set. Granting again
// replaces the end.
func (s *Service) Grant(ctx context.Context, a Actor, instanceID string, to Grantee, until *time.Time) (Share, error) {
	if n := count(to.UserEmail, to.UserID, to.TeamID); n != 1 || to.UserOrTeamID != "" {
		return Share{}, refuse(Invalid, SubjectGrant, "give exactly one of user_email and team_id")
	}
	if until != nil && !until.After(s.now()) {
		return Share{}, refuse(Invalid, SubjectUntil, "expires_at must be in the future")
	}
	if err := s.manage(ctx, a, instanceID); err != nil {
		return Share{}, err
	}
	var grantee access.Grantee
	switch {
	case to.TeamID != "":
		// A member of the team, and for a team token its own team: a share
		// with a team one is not in would give strangers the instance (and
		// set them up to approve its sign-ins).
		if !input.ID(to.TeamID) || a.TeamID != "" && a.TeamID != to.TeamID {
			return Share{}, noTeam(to.TeamID)
		}
		member, err := s.check(ctx, a, "member", authz.TeamObject(to.TeamID))
		if err != nil {
			return Share{}, err
		}
		if !member {
			return Share{}, noTeam(to.TeamID)
		}
		grantee.TeamID = to.TeamID
	case to.UserEmail != "":
		return s.shareByEmail(ctx, a, instanceID, strings.TrimSpace(to.UserEmail), until)
	default:
		// By id: no surface offers it yet; an id is not something one can
		// claim by signing up, as an address is.
		if !input.ID(to.UserID) {
			return Share{}, refuse(NotFound, SubjectGrant, "no user "+to.UserID)
		}
		grantee.UserID = to.UserID
	}
	if grantee.UserID == a.UserID {
		return Share{}, refuse(Invalid, SubjectSelf, "you may use this instance already: share it with someone else")
	}
	ch, err := s.access.Grant(ctx, instanceID, grantee, until, a.UserID)
	switch {
	case errors.Is(err, access.ErrNotFound) && grantee.TeamID != "":
		return Share{}, noTeam(grantee.TeamID) // deleted meanwhile
	case errors.Is(err, access.ErrNotFound) && to.UserID != "":
		return Share{}, refuse(NotFound, SubjectGrant, "no user "+to.UserID)
	case errors.Is(err, access.ErrNotFound):
		return Share{}, noInstance(instanceID)
	case errors.Is(err, access.ErrInvalid):
		return Share{}, refuse(Invalid, SubjectUntil, "expires_at must be in the future")
	case err != nil:
		return Share{}, err
	}
	gs, err := s.access.Grants(ctx, instanceID)
	if err != nil {
		return Share{}, err
	}
	for _, g := range gs {
		if g.UserID == grantee.UserID && g.TeamID == grantee.TeamID {
			return Share{Grant: g, Change: ch}, nil
		}
	}
	return Share{}, errors.New("the grant just made is not there")
}

// shareByEmail shares with the account that has verified the address: at
// once when there is one, otherwise once one does (access.ShareByEmail).
// Either way the address is mailed and the sharer told the same, so that a
// share tells nothing about whether the address has an account; and each
// share counts against the sharer's limit of mails.
func (s *Service) shareByEmail(ctx context.Context, a Actor, instanceID, email string, until *time.Time) (Share, error) {
	if !isAddress(email) {
		return Share{}, refuse(Invalid, SubjectEmail, "user_email must be an email address")
	}
	sharer, err := s.access.Account(ctx, a.UserID)
	if err != nil {
		return Share{}, err
	}
	if strings.EqualFold(sharer.Email, email) {
		return Share{}, refuse(Invalid, SubjectSelf, "you may use this instance already: share it with someone else")
	}
	found, err := s.access.InstancesByID(ctx, []string{instanceID})
	if err != nil {
		return Share{}, err
	}
	if len(found) != 1 {
		return Share{}, noInstance(instanceID)
	}
	if s.mail == nil || s.limiter == nil {
		return Share{}, errors.New("no mail sender or limiter: shares by email cannot be made")
	}
	// Never refunded: every share by email is a mail sent.
	if _, err := s.limiter.Attempt(ctx, s.opts.MailLimit, s.opts.MailWindow, "share-mail:"+a.UserID); err != nil {
		var lim *limits.Error
		if errors.As(err, &lim) {
			return Share{}, &Error{Code: Limited, Subject: SubjectMail, RetryAfter: lim.RetryAfter,
				Message: fmt.Sprintf("you have shared by email %d times in %v: retry in %v", s.opts.MailLimit, s.opts.MailWindow, lim.RetryAfter.Round(time.Second))}
		}
		return Share{}, err
	}
	_, _, err = s.access.ShareByEmail(ctx, instanceID, email, until, a.UserID)
	switch {
	case errors.Is(err, access.ErrNotFound):
		return Share{}, noInstance(instanceID)
	case errors.Is(err, access.ErrInvalid):
		return Share{}, refuse(Invalid, SubjectEmail, "user_email must be an email address, and expires_at in the future")
	case err != nil:
		return Share{}, err
	}
	s.mailShare(ctx, sharer, found[0].Name, email)
	g := access.GrantInfo{InstanceID: instanceID, UserEmail: email, ExpiresAt: until, CreatedAt: s.now()}
	return Share{Grant: g, ByEmail: true}, nil
}

// mailShare tells the address. The share stands without the mail (it
// takes effect when the address is verified, however its owner comes), so
// a mail that fails is logged, not answered.
func (s *Service) mailShare(ctx context.Context, sharer access.Account, instanceName, email string) {
	name := sharer.Name
	if name == "" {
		name = sharer.Email
	}
	text := fmt.Sprintf("%s shared instance %s with you on caido-cloud; sign in or sign up with this address and verify it to use it.\n\n%s\n",
		name, instanceName, strings.TrimRight(s.opts.PublicURL, "/")+"/signin")
	mctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), mailTimeout)
	defer cancel()
	if err := s.mail.Send(mctx, mail.Message{To: email, Subject: name + " shared an instance with you", Text: text}); err != nil {
		s.log.ErrorContext(ctx, "send share mail", "sharer", sharer.ID, "error", err)
	}
}

// Revoke ends a grant; the grantee's sessions on the instance end with it.
// A share by email still waiting for its address is withdrawn (named by
// its PendingID or its address). The instance's managers may end any of
// its grants; an admin of a team it
// is shared with may end that team's (their members' access is theirs to
// take back), and no other.
func (s *Service) Revoke(ctx context.Context, a Actor, instanceID string, of Grantee) (access.Change, error) {
	if !input.ID(instanceID) {
		return access.Change{}, noInstance(instanceID)
	}
	manage, err := s.manages(ctx, a, instanceID)
	if err != nil {
		return access.Change{}, err
	}
	gs, err := s.access.Grants(ctx, instanceID)
	if err != nil {
		return access.Change{}, err
	}
	if manage {
		pending, err := s.access.PendingShares(ctx, instanceID)
		if err != nil {
			return access.Change{}, err
		}
		gs = append(gs, pending...)
	}
	var found *access.GrantInfo
	for i, g := range gs {
		if of.matches(g) {
			found = &gs[i]
		}
	}
	if !manage {
		ok := false
		if found != nil && found.TeamID != "" {
			if ok, err = s.teamAdmin(ctx, a, found.TeamID); err != nil {
				return access.Change{}, err
			}
		}
		if !ok {
			return access.Change{}, s.refusal(ctx, a, instanceID)
		}
	}
	if found == nil {
		return access.Change{}, noGrant(instanceID, of.name())
	}
	if found.Pending {
		err := s.access.WithdrawPendingShare(ctx, instanceID, found.PendingID)
		if errors.Is(err, access.ErrNotFound) {
			return access.Change{}, noGrant(instanceID, of.name())
		}
		return access.Change{}, err
	}
	ch, err := s.access.Revoke(ctx, instanceID, access.Grantee{UserID: found.UserID, TeamID: found.TeamID})
	if errors.Is(err, access.ErrNotFound) {
		return access.Change{}, noGrant(instanceID, of.name()) // revoked meanwhile
	}
	return ch, err
}

// Grants lists an instance's grants: all of them for its managers, with
// the shares by email still waiting for their address (Pending); for an
// admin of a team it is shared with, that team's grant (the one they may
// revoke).
func (s *Service) Grants(ctx context.Context, a Actor, instanceID string) ([]access.GrantInfo, error) {
	if !input.ID(instanceID) {
		return nil, noInstance(instanceID)
	}
	manage, err := s.manages(ctx, a, instanceID)
	if err != nil {
		return nil, err
	}
	gs, err := s.access.Grants(ctx, instanceID)
	if err != nil {
		return nil, err
	}
	if manage {
		// The shares waiting for their address too: the managers see and
		// may withdraw them.
		pending, err := s.access.PendingShares(ctx, instanceID)
		return append(gs, pending...), err
	}
	var theirs []access.GrantInfo
	for _, g := range gs {
		if g.TeamID == "" {
			continue
		}
		ok, err := s.teamAdmin(ctx, a, g.TeamID)
		if err != nil {
			return nil, err
		}
		if ok {
			theirs = append(theirs, g)
		}
	}
	if len(theirs) == 0 {
		return nil, s.refusal(ctx, a, instanceID)
	}
	return theirs, nil
}

// teamAdmin says whether the actor administers the team (within its team,
// for a team token).
func (s *Service) teamAdmin(ctx context.Context, a Actor, teamID string) (bool, error) {
	if a.TeamID != "" && a.TeamID != teamID {
		return false, nil
	}
	return s.check(ctx, a, "can_manage_members", authz.TeamObject(teamID))
}

func (g Grantee) matches(gi access.GrantInfo) bool {
	switch {
	case count(g.UserID, g.TeamID, g.UserOrTeamID, g.UserEmail) != 1:
		return false
	case g.UserID != "":
		return gi.UserID == g.UserID
	case g.TeamID != "":
		return gi.TeamID == g.TeamID
	case g.UserOrTeamID != "":
		return gi.UserID == g.UserOrTeamID || gi.TeamID == g.UserOrTeamID || gi.Pending && gi.PendingID == g.UserOrTeamID
	}
	return gi.TeamID == "" && strings.EqualFold(gi.UserEmail, strings.TrimSpace(g.UserEmail))
}

// isAddress says whether s is one bare email address, as accounts take them.
func isAddress(s string) bool {
	addr, err := netmail.ParseAddress(s)
	return err == nil && addr.Address == s
}

// name is how a refusal names the grantee: as the actor gave it.
func (g Grantee) name() string {
	return g.UserID + g.TeamID + g.UserOrTeamID + g.UserEmail
}

func count(values ...string) int {
	n := 0
	for _, v := range values {
		if v != "" {
			n++
		}
	}
	return n
}
