package accounts

import "context"

// DeleteAccount deletes the session's account (access.DeleteAccount says
// what goes with it) once its password is given again, checked as sign-in
// checks it, with its attempt limits: a session left open somewhere cannot
// delete the account on its own. The errors are SignIn's, and
// access.ErrConflict when a team the account owns has no admin to pass to.
// The account's web sessions go with it.
func (s *Service) DeleteAccount(ctx context.Context, sess Session, password, ip string) error {
	if _, err := s.SignIn(ctx, sess.Account.Email, password, ip); err != nil {
		return err
	}
	_, err := s.access.DeleteAccount(ctx, sess.Account.ID)
	return err
}
