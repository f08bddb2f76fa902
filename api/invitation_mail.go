package api

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"github.com/caido-cloud/caido-cloud/access"
	"github.com/caido-cloud/caido-cloud/mail"
)

// invitationPath is the page where an invited person accepts (api's web
// pages own it).
const invitationPath = "/invitations/accept"

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
