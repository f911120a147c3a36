package ops

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/tensorgate/tensorgate/fsm"
)

// Applier commits commands through raft (cluster.Node.Apply).
type Applier = fsm.Applier

// Viewer reads the replicated state.
type Viewer interface {
	View() *fsm.State
}

// Sealer encrypts secrets at rest (provider keys, org keys) and opens
// them again (to reseal them under a new secret).
type Sealer interface {
	Seal(purpose string, plaintext []byte) []byte
	Open(purpose string, sealed []byte) ([]byte, error)
}

// Deps are the operations' collaborators.
type Deps struct {
	Applier Applier
	Viewer  Viewer
	Sealer  Sealer
	// Tester makes a minimal call to a provider; nil answers an error.
	Tester ProviderTester
	// Membership changes the cluster's members; nil answers an error.
	Membership Membership
	Logger     *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Observe, when set, is told the name of every operation as it
	// begins (tests use it to see which operations an adapter reaches).
	Observe func(Name)
}

// Ops runs the admin operations.
type Ops struct {
	d   Deps
	log *slog.Logger
}

// New returns the operations over d. Applier and Viewer are required.
func New(d Deps) (*Ops, error) {
	if d.Applier == nil || d.Viewer == nil {
		return nil, errors.New("ops: applier and viewer are required")
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	return &Ops{d: d, log: d.Logger.With("component", "admin")}, nil
}

// begin marks the start of an operation.
func (o *Ops) begin(n Name) {
	if o.d.Observe != nil {
		o.d.Observe(n)
	}
}

// audit writes an operation's one audit line: what was done, by whom.
// Never pass a secret in attrs.
func (o *Ops) audit(c Caller, msg string, attrs ...any) {
	o.log.Info(msg, append(attrs, "user_id", c.userID())...)
}

// Input reads an operation's input. An operation calls it only once the
// caller is known to be allowed, so a caller who may not act is refused
// before any malformed body is reported.
type Input[T any] func() (T, error)

// Given is an Input that is already read (a console form).
func Given[T any](v T) Input[T] {
	return func() (T, error) { return v, nil }
}

// writeTimeout is how long an admin write may take to reach the leader's
// log. The command carries that deadline: appended later (its leader was
// paused, its forwarder cut off) it is applied as a no-op, so a write the
// client was told had failed never lands seconds later over newer ones.
const writeTimeout = 5 * time.Second

// writeGrace is how long past the deadline a write waits to learn its
// outcome: one appended just in time still needs its commit.
const writeGrace = time.Second

// proposeFor commits a command with a deadline and answers the fsm's
// result as a *T (fsm.Propose): T must be the result type the command's
// handler is registered with. Every admin write goes through it.
func proposeFor[T any](ctx context.Context, o *Ops, t fsm.MessageType, body any) (*T, error) {
	deadline := time.Now().Add(writeTimeout)
	ctx, cancel := context.WithDeadline(ctx, deadline.Add(writeGrace))
	defer cancel()
	return fsm.Propose[T](ctx, o.d.Applier, fsm.Command{Type: t, Body: body, Deadline: deadline})
}
