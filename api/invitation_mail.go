package api

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/caido-cloud/caido-cloud/access"
	"github.com/caido-cloud/caido-cloud/mail"
)

// invitationPath is the page where an invited person accepts (api's web
// pages own it).
const invitationPath = "/invitations/accept"

// errInvitationNotSent: the invitation mail could not be sent, so the
// invitation was withdrawn (a link nobody received must not hold a seat).
var errInvitationNotSent = errors.New("the invitation mail could not be sent, so no invitation was made")

// invitationMailTimeout bounds the sending of an invitation mail while the
// caller waits.
const invitationMailTimeout = 15 * time.Second

// inviteByMail makes the invitation (access.Invite's errors as they are) and
// mails its link. The mail is sent even if the caller goes away meanwhile;
// when it fails the invitation is withdrawn and errInvitationNotSent
// returned.
func inviteByMail(ctx context.Context, d Deps, teamID, email string, role access.Role, useSeat bool, inviterName string) (access.Invitation, error) {
	if d.Mail == nil {
		return access.Invitation{}, errors.New("no mail sender: invitations cannot be sent")
	}
	inv, token, err := d.Access.Invite(ctx, teamID, email, role, useSeat, 0)
	if err != nil {
		return inv, err
	}
	mctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), invitationMailTimeout)
	defer cancel()
	if err := sendInvitation(mctx, d, inv, token, inviterName); err != nil {
		d.Log.ErrorContext(ctx, "send invitation", "team_id", teamID, "invitation_id", inv.ID, "error", err)
		if err := d.Access.DeleteInvitation(context.WithoutCancel(ctx), teamID, inv.ID); err != nil {
			d.Log.ErrorContext(ctx, "withdraw unsent invitation", "invitation_id", inv.ID, "error", err)
		}
		return inv, errInvitationNotSent
	}
	return inv, nil
}

// sendInvitation mails the invitation's link. The token is in the link
// only: it is neither logged nor kept.
func sendInvitation(ctx context.Context, d Deps, inv access.Invitation, token, inviterName string) error {
	link := strings.TrimRight(d.PublicURL, "/") + invitationPath + "?token=" + url.QueryEscape(token)
	text := fmt.Sprintf(`%s invited you to join the team %q on caido-cloud as %s.

Accept the invitation (sign up first with this address if you have no account):

%s

The link works until %s UTC. If you did not expect this mail, ignore it.
`, inviterName, inv.TeamName, inv.Role, link, inv.ExpiresAt.UTC().Format("2006-01-02 15:04"))
	return d.Mail.Send(ctx, mail.Message{To: inv.Email, Subject: "You are invited to join " + inv.TeamName, Text: text})
}
