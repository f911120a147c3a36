package fsm

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
)

// handler is one registered command type. apply applies a command to
// next, a shallow copy of the current state that it may modify (cloning any
// map it writes), and returns the result or a business-rule error, in which
// case next is discarded.
type handler struct {
	apply func(next *State, c decoded, index uint64) (any, error)
	// body is the type of the command's body (Command.Body).
	body reflect.Type
	// decode makes the handler's result from its encoding (EncodeResult).
	decode func(b []byte) (any, error)
	// result is the dynamic type of every result: a pointer type.
	result reflect.Type
}

var handlers = map[MessageType]handler{}

// register adds a command handler, and with it the types of its body and
// its result; called from init in the apply_*.go files. The handler gets
// the body decoded (an undecodable one panics: the proposer encoded it from
// the same struct, so a failure means a corrupt log or an incompatible
// build). A handler that answers a nil pointer answers a new zero R
// instead, so the result is never nil.
func register[B, R any](t MessageType, h func(next *State, c decoded, b B, index uint64) (*R, error)) {
	if _, dup := handlers[t]; dup {
		panic(fmt.Sprintf("fsm: handler for type %d registered twice", t))
	}
	handlers[t] = handler{
		apply: func(next *State, c decoded, index uint64) (any, error) {
			r, err := h(next, c, decodeBody[B](c), index)
			if err != nil {
				return nil, err
			}
			if r == nil {
				r = new(R)
			}
			return r, nil
		},
		decode: func(b []byte) (any, error) {
			r := new(R)
			if len(b) == 0 {
				return r, nil
			}
			if err := json.Unmarshal(b, r); err != nil {
				return nil, fmt.Errorf("decode apply result of type %d: %w", t, err)
			}
			return r, nil
		},
		body:   reflect.TypeFor[B](),
		result: reflect.TypeFor[*R](),
	}
}

// NoResult is the result of a command that answers nothing but its
// success (a delete, a restore, a log version). It encodes as nothing, as
// such results did before results had types.
type NoResult struct{}

// QuotaGrants answers a quota sync: one grant for each of its items, in
// order. It encodes as a JSON array of grants.
type QuotaGrants []QuotaGrant

// ResultType is the dynamic type of the results of command type t (always
// a pointer type), and false for a type this build does not apply.
func ResultType(t MessageType) (reflect.Type, bool) {
	h, ok := handlers[t&^IgnoreUnknown]
	if !ok {
		return nil, false
	}
	return h.result, true
}

// Types lists every command type this build applies, in order.
func Types() []MessageType {
	return slices.Sorted(maps.Keys(handlers))
}

// BodyType is the type of the body of command type t, and false for a type
// this build does not apply.
func BodyType(t MessageType) (reflect.Type, bool) {
	h, ok := handlers[t&^IgnoreUnknown]
	if !ok {
		return nil, false
	}
	return h.body, true
}

// EncodeResult renders an apply result for the wire (leader forwarding) or
// the dedupe table. A *NoResult (or nil) encodes as nothing.
func EncodeResult(v any) ([]byte, error) {
	switch v.(type) {
	case nil, *NoResult:
		return nil, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode apply result: %w", err)
	}
	return b, nil
}

// DecodeResult is EncodeResult's inverse for a command type: it answers the
// type the command's handler was registered with, the same as Apply answers
// on the leader. A type this build does not apply (one it may skip)
// answers nil, as Apply does for it.
func DecodeResult(t MessageType, b []byte) (any, error) {
	h, ok := handlers[t&^IgnoreUnknown]
	if !ok {
		return nil, nil
	}
	return h.decode(b)
}

// ResultTypeError is returned by ResultOf and Propose when an apply result
// is not of the type the caller asked for: a caller that names the wrong
// type for its command, never a difference between nodes.
type ResultTypeError struct {
	Type MessageType // the command's type; 0 when not known
	Got  string      // the result's dynamic type
	Want string      // the type asked for
}

func (e *ResultTypeError) Error() string {
	if e.Type != 0 {
		return fmt.Sprintf("fsm: command type %d answered %s, not %s", e.Type, e.Got, e.Want)
	}
	return fmt.Sprintf("fsm: apply answered %s, not %s", e.Got, e.Want)
}

// ResultOf reads an apply result as a *T: it passes err through, and
// answers a *ResultTypeError when res is not a *T. Wrap a call whose
// answer is (any, error): fsm.ResultOf[fsm.Org](node.Apply(ctx, c)).
func ResultOf[T any](res any, err error) (*T, error) {
	if err != nil {
		return nil, err
	}
	v, ok := res.(*T)
	if !ok || v == nil {
		return nil, &ResultTypeError{Got: fmt.Sprintf("%T", res), Want: reflect.TypeFor[*T]().String()}
	}
	return v, nil
}

// Applier commits commands: the cluster's node, or a test's stand-in.
type Applier interface {
	Apply(ctx context.Context, c Command) (any, error)
}

// BodyTypeError is returned by Propose for a command whose body is not of
// the type its handler is registered with (or a pointer to it).
type BodyTypeError struct {
	Type MessageType
	Got  string // the body's dynamic type
	Want string // the registered body type
}

func (e *BodyTypeError) Error() string {
	return fmt.Sprintf("fsm: command type %d takes a %s body, not %s", e.Type, e.Want, e.Got)
}

// Propose commits c through a and answers its result as a *T. T must be
// the result type c.Type's handler is registered with, and c.Body of its
// body type (or a pointer to it): otherwise it answers a *ResultTypeError
// or a *BodyTypeError before anything is proposed.
func Propose[T any](ctx context.Context, a Applier, c Command) (*T, error) {
	want := reflect.TypeFor[*T]()
	if rt, ok := ResultType(c.Type); ok && rt != want {
		return nil, &ResultTypeError{Type: c.Type, Got: rt.String(), Want: want.String()}
	}
	if bt, ok := BodyType(c.Type); ok {
		got := reflect.TypeOf(c.Body)
		if got != bt && got != reflect.PointerTo(bt) {
			return nil, &BodyTypeError{Type: c.Type, Got: fmt.Sprintf("%T", c.Body), Want: bt.String()}
		}
	}
	v, err := ResultOf[T](a.Apply(ctx, c))
	if rte, ok := err.(*ResultTypeError); ok {
		rte.Type = c.Type
	}
	return v, err
}
