package fsm

import (
	"errors"
	"fmt"
)

// ErrorCode classifies a rejected command.
type ErrorCode string

// Error codes of rejected commands. Callers map them to HTTP statuses.
const (
	CodeInvalid  ErrorCode = "invalid"   // the command breaks a business rule
	CodeNotFound ErrorCode = "not_found" // the record it names does not exist
	CodeConflict ErrorCode = "conflict"  // a unique name is taken or the version is stale
	CodeExpired  ErrorCode = "expired"   // the leader appended the command after its deadline
)

// Error is a business rule broken by a command; it is returned as the apply
// response, never panicked.
type Error struct {
	Code  ErrorCode
	Field string // the offending field, when there is one
	Msg   string
}

func (e *Error) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("fsm: %s: %s", e.Field, e.Msg)
	}
	return "fsm: " + e.Msg
}

func invalid(field, format string, args ...any) *Error {
	return &Error{Code: CodeInvalid, Field: field, Msg: fmt.Sprintf(format, args...)}
}

func notFound(format string, args ...any) *Error {
	return &Error{Code: CodeNotFound, Msg: fmt.Sprintf(format, args...)}
}

func conflict(field, format string, args ...any) *Error {
	return &Error{Code: CodeConflict, Field: field, Msg: fmt.Sprintf(format, args...)}
}

// IsCode reports whether err is an *Error with the given code.
func IsCode(err error, code ErrorCode) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == code
}
