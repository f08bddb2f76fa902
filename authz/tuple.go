// Package authz is our side of OpenFGA: it writes the store and model from
// model.fga, answers checks, and carries tuple changes from PostgreSQL to
// OpenFGA through the outbox.
package authz

import (
	"fmt"
	"time"

	fga "github.com/openfga/go-sdk"
)

// The conditions of model.fga. not_expired: expires_at is kept on the tuple
// and current_time is supplied by every check. seats_off: nothing is kept on
// the tuple and seats_enforced is supplied by every check.
const (
	conditionNotExpired = "not_expired"
	conditionSeatsOff   = "seats_off"
)

// Tuple is one relationship, as the outbox and reconcile handle it.
type Tuple struct {
	User     string
	Relation string
	Object   string
	// ExpiresAt, when set, makes the tuple hold only until then (the
	// not_expired condition).
	ExpiresAt *time.Time
	// WhileSeatsOff, when set, makes the tuple hold only while the service
	// runs with seats off (the seats_off condition). Never with ExpiresAt.
	WhileSeatsOff bool
}

// Key identifies the relationship regardless of its condition: OpenFGA holds
// at most one tuple per key.
func (t Tuple) Key() string { return t.User + " " + t.Relation + " " + t.Object }

func (t Tuple) String() string {
	if t.WhileSeatsOff {
		return fmt.Sprintf("%s#%s@%s while seats are off", t.Object, t.Relation, t.User)
	}
	if t.ExpiresAt != nil {
		return fmt.Sprintf("%s#%s@%s until %s", t.Object, t.Relation, t.User, t.ExpiresAt.UTC().Format(time.RFC3339))
	}
	return fmt.Sprintf("%s#%s@%s", t.Object, t.Relation, t.User)
}

// SameCondition reports whether both tuples carry the same condition.
func (t Tuple) SameCondition(o Tuple) bool {
	if t.WhileSeatsOff != o.WhileSeatsOff || (t.ExpiresAt == nil) != (o.ExpiresAt == nil) {
		return false
	}
	return t.ExpiresAt == nil || t.ExpiresAt.Equal(*o.ExpiresAt)
}

// condition names the tuple's condition ("" for none) and the context stored
// with it (nil for none).
func (t Tuple) condition() (string, map[string]any) {
	switch {
	case t.WhileSeatsOff:
		return conditionSeatsOff, nil
	case t.ExpiresAt != nil:
		return conditionNotExpired, map[string]any{"expires_at": t.ExpiresAt.UTC().Format(time.RFC3339Nano)}
	}
	return "", nil
}

func (t Tuple) toFGA() fga.TupleKey {
	k := fga.TupleKey{User: t.User, Relation: t.Relation, Object: t.Object}
	if name, ctx := t.condition(); name != "" {
		k.Condition = &fga.RelationshipCondition{Name: name}
		if ctx != nil {
			k.Condition.Context = &ctx
		}
	}
	return k
}

func (t Tuple) toFGAKey() fga.TupleKeyWithoutCondition {
	return fga.TupleKeyWithoutCondition{User: t.User, Relation: t.Relation, Object: t.Object}
}

// tupleFromFGA reads a stored tuple back, condition included.
func tupleFromFGA(k fga.TupleKey) (Tuple, error) {
	t := Tuple{User: k.User, Relation: k.Relation, Object: k.Object}
	if k.Condition == nil {
		return t, nil
	}
	if k.Condition.Name == conditionSeatsOff {
		t.WhileSeatsOff = true
		return t, nil
	}
	if k.Condition.Name != conditionNotExpired || k.Condition.Context == nil {
		return t, fmt.Errorf("tuple %s has unknown condition %q", t, k.Condition.Name)
	}
	raw, _ := (*k.Condition.Context)["expires_at"].(string)
	at, err := time.Parse(time.RFC3339Nano, raw)
	if err != nil {
		return t, fmt.Errorf("tuple %s: expires_at %q: %w", t, raw, err)
	}
	t.ExpiresAt = &at
	return t, nil
}

// Object names, so that the spelling of a type lives in one place.

func UserObject(id string) string      { return "user:" + id }
func TeamObject(id string) string      { return "team:" + id }
func WorkspaceObject(id string) string { return "workspace:" + id }
func InstanceObject(id string) string  { return "instance:" + id }

// TeamMembers is the userset of every member of a team.
func TeamMembers(teamID string) string { return TeamObject(teamID) + "#member" }
