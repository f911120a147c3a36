package ops

import (
	"errors"

	"github.com/tensorgate/tensorgate/fsm"
)

// Kind is what went wrong with an operation, for an adapter to answer in
// its own way (a status code, a message on a page).
type Kind int

// Kinds of failed operations.
const (
	// KindInternal is anything else: the cluster, the disk, a bug.
	KindInternal Kind = iota
	// KindInvalid is input the operation refuses.
	KindInvalid
	// KindNotFound is a record that does not exist or that the caller
	// may not see (the two are not told apart, so ids of other tenants
	// are not confirmed).
	KindNotFound
	// KindForbidden is a record the caller sees but may not change.
	KindForbidden
	// KindConflict is a write that lost to a concurrent one, or a
	// duplicate.
	KindConflict
	// KindUnauthenticated is a credential that does not check out (a
	// wrong current password).
	KindUnauthenticated
	// KindUnavailable is an operation the cluster could not complete now;
	// a retry may succeed.
	KindUnavailable
)

// Error is a refused operation. Message is for the user; Param names the
// input field at fault, if any.
type Error struct {
	Kind    Kind
	Param   string
	Message string
	// Code, when set, is a more precise machine-readable reason than the
	// kind ("invalid_credentials"), for adapters that show one.
	Code string
	// Err is the cause, for logs only.
	Err error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Message + ": " + e.Err.Error()
	}
	return e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// Invalid refuses input; param names the field.
func Invalid(param, msg string) *Error { return &Error{Kind: KindInvalid, Param: param, Message: msg} }

// NotFound reports a missing (or hidden) record.
func NotFound(msg string) *Error { return &Error{Kind: KindNotFound, Message: msg} }

// Forbidden refuses a caller.
func Forbidden(msg string) *Error { return &Error{Kind: KindForbidden, Message: msg} }

// KindOf classifies err: an *Error by its kind, an *fsm.Error (a broken
// business rule) by its code, anything else as internal.
func KindOf(err error) Kind {
	var oe *Error
	if errors.As(err, &oe) {
		return oe.Kind
	}
	var fe *fsm.Error
	if errors.As(err, &fe) {
		switch fe.Code {
		case fsm.CodeNotFound:
			return KindNotFound
		case fsm.CodeConflict:
			return KindConflict
		case fsm.CodeExpired:
			return KindInternal
		}
		return KindInvalid
	}
	return KindInternal
}
