package web

import (
	"errors"
	"testing"
	"time"

	"github.com/tensorgate/tensorgate/fsm"
)

type stateView struct{ st *fsm.State }

func (v stateView) View() *fsm.State { return v.st }

// TestVerify: the one session check both adapters use tells a forged or
// stale session (sign in again) from one this node cannot vouch for yet
// (not caught up since it started).
func TestVerify(t *testing.T) {
	kr, err := NewKeyring("test-secret-0123456789")
	if err != nil {
		t.Fatal(err)
	}
	other, _ := NewKeyring("another-secret-0123456789")
	now := time.Unix(1_800_000_000, 0)
	u := &fsm.User{ID: "usr_a", Email: "a@example.com", SessionGen: 2}
	st := &fsm.State{Users: map[string]*fsm.User{u.ID: u}}
	ready := true
	a := &Auth{Keyring: kr, Viewer: stateView{st}, Ready: func() bool { return ready }, Now: func() time.Time { return now }}
	exp := now.Add(time.Hour).Unix()
	for _, tc := range []struct {
		name  string
		tok   string
		ready bool
		want  error
	}{
		{"valid", kr.IssueToken(Session{UserID: u.ID, Gen: 2, Exp: exp}), true, nil},
		{"other key", other.IssueToken(Session{UserID: u.ID, Gen: 2, Exp: exp}), false, ErrBadSession},
		{"expired", kr.IssueToken(Session{UserID: u.ID, Gen: 2, Exp: now.Unix()}), false, ErrBadSession},
		{"garbage", "tgs_x.y", false, ErrBadSession},
		{"old generation", kr.IssueToken(Session{UserID: u.ID, Gen: 1, Exp: exp}), true, ErrBadSession},
		{"unknown user", kr.IssueToken(Session{UserID: "usr_b", Gen: 0, Exp: exp}), true, ErrBadSession},
		{"unknown user, catching up", kr.IssueToken(Session{UserID: "usr_b", Gen: 0, Exp: exp}), false, ErrNotCaughtUp},
		{"old generation, catching up", kr.IssueToken(Session{UserID: u.ID, Gen: 1, Exp: exp}), false, ErrNotCaughtUp},
	} {
		ready = tc.ready
		got, err := a.Verify(tc.tok)
		if !errors.Is(err, tc.want) || (tc.want == nil) != (got == u) {
			t.Errorf("%s: %v, %v; want %v", tc.name, got, err, tc.want)
		}
	}
}
