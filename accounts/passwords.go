package accounts

import (
	"errors"
	"sync"

	"github.com/caido-cloud/caido-cloud/accounts/password"
)

// dummyHash is verified against when the email is unknown (or has no
// password), so that such a sign-in takes as long as a wrong password.
var dummyHash = sync.OnceValue(func() string {
	h, _ := password.Hash("not anyone's password")
	return h
})

// verifyPassword is password.Verify as a yes or no; err is for a stored
// hash that cannot be read.
func verifyPassword(encoded, pw string) (bool, error) {
	err := password.Verify(pw, encoded)
	if errors.Is(err, password.ErrMismatch) {
		return false, nil
	}
	return err == nil, err
}
