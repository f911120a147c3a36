package gateway

import (
	"bytes"
	"errors"
	"mime/multipart"
	"net/http/httptest"
	"testing"

	"github.com/tensorgate/tensorgate/fsm/apierr"
)

// TestUploadDecidingFieldsOnce: a multipart upload that holds a field the
// gateway decides on twice (n: one image reserved and billed, ten asked
// of an upstream that reads the last value) is refused, naming it, as a
// JSON body would be; fields an API sends as lists stay allowed.
func TestUploadDecidingFieldsOnce(t *testing.T) {
	form := func(fields ...string) *bytes.Buffer {
		var b bytes.Buffer
		mw := multipart.NewWriter(&b)
		for i := 0; i+1 < len(fields); i += 2 {
			_ = mw.WriteField(fields[i], fields[i+1])
		}
		fw, _ := mw.CreateFormFile("image", "a.png")
		_, _ = fw.Write([]byte("\x89PNG"))
		_ = mw.Close()
		return &b
	}
	spool := func(body *bytes.Buffer, ct string) error {
		r := httptest.NewRequest("POST", "/v1/images/edits", body)
		r.Header.Set("Content-Type", ct)
		up, err := spoolUpload(httptest.NewRecorder(), r, t.TempDir(), 1<<20)
		if up != nil {
			up.Close()
		}
		return err
	}
	ct := func(b *bytes.Buffer) string {
		// The boundary is the writer's: read it back from the body.
		line, _ := bytes.NewBuffer(b.Bytes()).ReadString('\n')
		return "multipart/form-data; boundary=" + string(bytes.TrimSpace([]byte(line))[2:])
	}
	for _, tc := range []struct {
		fields []string
		dup    string
	}{
		{[]string{"model", "img", "prompt", "p", "n", "1", "n", "10"}, "n"},
		{[]string{"model", "allowed", "model", "other", "prompt", "p"}, "model"},
		{[]string{"model", "img", "prompt", "p", "response_format", "url", "response_format", "b64_json"}, "response_format"},
		{[]string{"model", "asr", "timestamp_granularities[]", "word", "timestamp_granularities[]", "segment"}, ""},
	} {
		b := form(tc.fields...)
		err := spool(b, ct(b))
		var ae *apierr.Error
		switch {
		case tc.dup == "" && err != nil:
			t.Fatalf("%v: refused (%v): a list field is no duplicate", tc.fields, err)
		case tc.dup != "" && (!errors.As(err, &ae) || ae.Param != tc.dup):
			t.Fatalf("%v: %v, want a 400 naming %s", tc.fields, err, tc.dup)
		}
	}
}
