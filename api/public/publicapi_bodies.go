package public

import (
	"github.com/caido-cloud/caido-cloud/access"
)

// ---- Bodies of the reference (public-api.openapi.yaml).

type teamBody struct {
	Object    string `json:"object"`
	ID        string `json:"id"`
	Name      string `json:"name"`
	Email     string `json:"email"`
	CreatedAt int64  `json:"created_at"`
	UpdatedAt int64  `json:"updated_at"`
	// DefaultWorkspaceID is ours, beyond the reference.
	DefaultWorkspaceID string `json:"default_workspace_id,omitempty"`
}

func teamJSON(t access.TeamInfo) teamBody {
	return teamBody{Object: "team", ID: t.ID, Name: t.Name, Email: t.BillingEmail,
		CreatedAt: unix(t.CreatedAt), UpdatedAt: unix(t.UpdatedAt), DefaultWorkspaceID: t.DefaultWorkspaceID}
}

type invitationBody struct {
	Object    string `json:"object"`
	ID        string `json:"id"`
	Email     string `json:"email"`
	Role      string `json:"role"`
	UseSeat   bool   `json:"use_seat"`
	ExpiresAt int64  `json:"expires_at"`
	CreatedAt int64  `json:"created_at"`
	UpdatedAt int64  `json:"updated_at"`
}

func invitationJSON(i access.Invitation) invitationBody {
	return invitationBody{Object: "team_invitation", ID: i.ID, Email: i.Email, Role: referenceRole(i.Role), UseSeat: i.UseSeat,
		ExpiresAt: unix(i.ExpiresAt), CreatedAt: unix(i.CreatedAt), UpdatedAt: unix(i.UpdatedAt)}
}

// referenceRole is our role as the reference's TeamUserRole: the owner is
// an admin there.
func referenceRole(r access.Role) string {
	if r == access.RoleOwner {
		return string(access.RoleAdmin)
	}
	return string(r)
}

type teamUserBody struct {
	Object    string  `json:"object"`
	ID        string  `json:"id"`
	Email     *string `json:"email"`
	Name      *string `json:"name"`
	Role      string  `json:"role"`
	UseSeat   bool    `json:"use_seat"`
	CreatedAt int64   `json:"created_at"`
	UpdatedAt int64   `json:"updated_at"`
	// Owner is ours: the reference shows the owner as an admin.
	Owner bool `json:"owner"`
}

func orNull(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func teamUserJSON(m access.Member) teamUserBody {
	return teamUserBody{Object: "team_user", ID: m.UserID, Email: orNull(m.Email), Name: orNull(m.Name), Role: referenceRole(m.Role),
		UseSeat: m.UseSeat, CreatedAt: unix(m.CreatedAt), UpdatedAt: unix(m.UpdatedAt), Owner: m.Role == access.RoleOwner}
}

type deletedBody struct {
	Object  string `json:"object"`
	ID      string `json:"id"`
	Deleted bool   `json:"deleted"`
}

type planBody struct {
	Object string `json:"object"`
	ID     string `json:"id"`
	Name   string `json:"name"`
}

type subscriptionBody struct {
	Object    string   `json:"object"`
	ID        string   `json:"id"`
	Trial     bool     `json:"trial"`
	StartsAt  int64    `json:"starts_at"`
	EndsAt    *int64   `json:"ends_at"`
	PausesAt  *int64   `json:"pauses_at"`
	Seats     int      `json:"seats"`
	SeatsUsed int      `json:"seats_used"`
	Plan      planBody `json:"plan"`
	CreatedAt int64    `json:"created_at"`
	UpdatedAt int64    `json:"updated_at"`
}

type userBody struct {
	Object    string  `json:"object"`
	ID        string  `json:"id"`
	Email     *string `json:"email"`
	Name      *string `json:"name"`
	CreatedAt int64   `json:"created_at"`
	UpdatedAt int64   `json:"updated_at"`
}

type workspaceBody struct {
	Object string `json:"object"`
	ID     string `json:"id"`
	Name   string `json:"name"`
}
