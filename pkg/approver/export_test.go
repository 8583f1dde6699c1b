package approver

import "testing"

// SetBeforeSave makes every evaluation call f between reading a commit's
// record and saving it, until the test ends: a test can then make two
// evaluations of one commit overlap.
func SetBeforeSave(t testing.TB, f func(sha string)) {
	beforeSave.Store(&f)
	t.Cleanup(func() { beforeSave.Store(nil) })
}
