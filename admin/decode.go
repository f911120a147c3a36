package admin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/tensorgate/tensorgate/fsm"
)

// maxBody bounds an admin request body.
const maxBody = 1 << 20

// decodeJSON reads a JSON object into v strictly: unknown fields, trailing
// data and type mismatches are 400s that name the field.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return &apiError{Status: http.StatusRequestEntityTooLarge, Type: "invalid_request_error", Code: "request_too_large",
				Message: fmt.Sprintf("request body exceeds %d bytes", maxBody)}
		}
		return badRequest("", "could not read the request body")
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return badRequest("", "request body must be a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if dec.More() {
		return badRequest("", "request body must hold a single JSON object")
	}
	return nil
}

func jsonError(err error) error {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	var fe *fieldError
	switch {
	case errors.As(err, &fe):
		return badRequest(fe.field, fe.field+": "+fe.msg)
	case errors.As(err, &te):
		field := te.Field
		if field == "" {
			return badRequest("", fmt.Sprintf("request body must be a JSON object, not %s", te.Value))
		}
		return badRequest(field, fmt.Sprintf("%s: must be %s, not %s", field, jsonKind(te.Type.Kind().String()), te.Value))
	case errors.As(err, &se):
		return badRequest("", fmt.Sprintf("malformed JSON at byte %d", se.Offset))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return badRequest(field, fmt.Sprintf("unknown field %q", field))
	case errors.Is(err, io.ErrUnexpectedEOF):
		return badRequest("", "malformed JSON: unexpected end of input")
	}
	return badRequest("", "malformed JSON: "+err.Error())
}

func jsonKind(k string) string {
	switch k {
	case "int", "int64", "uint64", "float64":
		return "a number"
	case "slice":
		return "an array"
	case "struct", "map":
		return "an object"
	case "bool":
		return "true or false"
	}
	return "a " + k
}

// fieldError is returned by custom unmarshalers so the message names the
// field even though encoding/json does not pass it down.
type fieldError struct{ field, msg string }

func (e *fieldError) Error() string { return e.field + ": " + e.msg }

// money is a decimal amount of currency in a request: a JSON string such as
// "12.50" (or a number), held as integer micro-units.
type money struct {
	micros int64
	set    bool
}

func (m *money) UnmarshalJSON(b []byte) error {
	s := string(bytes.Trim(b, `"`))
	if s == "null" {
		*m = money{}
		return nil
	}
	v, err := fsm.ParseDecimal(s, 6)
	if err != nil {
		return &fieldError{"limits.budget", err.Error()}
	}
	*m = money{micros: v, set: true}
	return nil
}

// optTime is an RFC 3339 time in a request. present tells a field left out
// (keep) from an explicit null (clear, t == nil).
type optTime struct {
	t       *time.Time
	present bool
}

func (o *optTime) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*o = optTime{present: true}
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return &fieldError{"expires_at", "must be an RFC 3339 time such as 2027-01-01T00:00:00Z"}
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return &fieldError{"expires_at", "must be an RFC 3339 time such as 2027-01-01T00:00:00Z"}
	}
	t = t.UTC()
	*o = optTime{t: &t, present: true}
	return nil
}

// stringList accepts a JSON array of strings or one comma-separated string
// (the console's 模型列表 field), trimming blanks.
type stringList []string

func (l *stringList) UnmarshalJSON(b []byte) error {
	var arr []string
	if err := json.Unmarshal(b, &arr); err != nil {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return &fieldError{"models", "must be an array of strings or a comma-separated string"}
		}
		arr = strings.Split(s, ",")
	}
	out := make([]string, 0, len(arr))
	for _, v := range arr {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	*l = out
	return nil
}
