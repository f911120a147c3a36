package gateway

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"mime/multipart"
	"net/http"
	"os"
	"slices"
	"strings"

	"github.com/tensorgate/tensorgate/fsm/apierr"
	"github.com/tensorgate/tensorgate/gateway/provider"
)

// maxField bounds a multipart text field read into memory.
const maxField = 64 << 10

// upload is a multipart request spooled to a temporary file: the body
// streams to disk as it arrives (never whole in memory), is parsed once
// for its text fields, and is read again for each upstream attempt.
type upload struct {
	f        *os.File
	size     int64
	boundary string
	fields   map[string]string
	files    []string // file part names in order
}

var _ provider.Upload = (*upload)(nil)

// spoolUpload reads a multipart body of at most limit bytes into a
// temporary file in dir and parses its fields. Close removes the file.
func spoolUpload(w http.ResponseWriter, r *http.Request, dir string, limit int64) (*upload, error) {
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" || params["boundary"] == "" {
		return nil, apierr.Invalid("", "this endpoint takes multipart/form-data")
	}
	if r.ContentLength > limit {
		return nil, apierr.Newf(apierr.CodeRequestTooLarge, "upload of %d bytes exceeds the limit of %d", r.ContentLength, limit)
	}
	f, err := os.CreateTemp(dir, "tensorgate-upload-*")
	if err != nil {
		return nil, fmt.Errorf("spool upload: %w", err)
	}
	u := &upload{f: f, boundary: params["boundary"], fields: map[string]string{}}
	// The file is unlinked at once where the system allows it: it lives
	// only as long as the open descriptor.
	_ = os.Remove(f.Name())
	n, err := io.Copy(f, http.MaxBytesReader(w, r.Body, limit))
	u.size = n
	if err != nil {
		u.Close()
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, apierr.Newf(apierr.CodeRequestTooLarge, "upload exceeds the limit of %d bytes", limit)
		}
		return nil, apierr.Invalid("", "could not read the upload")
	}
	if err := u.parse(); err != nil {
		u.Close()
		return nil, err
	}
	return u, nil
}

// parse reads the text fields and notes the file parts.
func (u *upload) parse() error {
	mr := multipart.NewReader(io.NewSectionReader(u.f, 0, u.size), u.boundary)
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return apierr.Invalid("", "malformed multipart body: %v", err)
		}
		name := p.FormName()
		if p.FileName() != "" {
			u.files = append(u.files, name)
			continue
		}
		b, err := io.ReadAll(io.LimitReader(p, maxField+1))
		if err != nil || len(b) > maxField {
			return apierr.Invalid(name, "the field %s is too long or unreadable", name)
		}
		_, dup := u.fields[name]
		switch {
		case dup && singleValued(name):
			return apierr.Invalid(name, "%s: appears more than once in the form; send each field once", name)
		case !dup:
			u.fields[name] = string(b)
		}
	}
}

// singleValued reports whether a form field is one the gateway decides on
// (decidingKeys) or reads itself (Field): sent twice, the gateway and an
// upstream could each act on another value, as with a JSON body. Other
// fields may repeat (lists such as timestamp_granularities[]).
func singleValued(name string) bool {
	return slices.Contains(decidingKeys[:], name) || name == "prompt" || name == "response_format"
}

// Field implements provider.Upload.
func (u *upload) Field(name string) string { return u.fields[name] }

// File implements provider.Upload: the first file part.
func (u *upload) File() (io.ReadCloser, string, string, error) {
	mr := multipart.NewReader(io.NewSectionReader(u.f, 0, u.size), u.boundary)
	for {
		p, err := mr.NextPart()
		if err != nil {
			return nil, "", "", fmt.Errorf("no file in the upload: %w", err)
		}
		if p.FileName() != "" {
			return p, p.FileName(), p.Header.Get("Content-Type"), nil
		}
	}
}

// Open implements provider.Upload: the parts in order, the named text
// fields replaced, written through a pipe as the upstream reads them.
func (u *upload) Open(replace map[string]string) (io.ReadCloser, string, error) {
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		pw.CloseWithError(u.rewrite(mw, replace))
	}()
	return pr, mw.FormDataContentType(), nil
}

func (u *upload) rewrite(mw *multipart.Writer, replace map[string]string) error {
	mr := multipart.NewReader(io.NewSectionReader(u.f, 0, u.size), u.boundary)
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			return mw.Close()
		}
		if err != nil {
			return err
		}
		w, err := mw.CreatePart(p.Header)
		if err != nil {
			return err
		}
		if v, ok := replace[p.FormName()]; ok && p.FileName() == "" {
			_, err = io.WriteString(w, v)
		} else {
			_, err = io.Copy(w, p)
		}
		if err != nil {
			return err
		}
	}
}

// summary is what the audit record keeps of the upload: its fields and
// its files' names, never their bytes.
func (u *upload) summary() []byte {
	var b strings.Builder
	b.WriteString("{")
	first := true
	for _, k := range slices.Sorted(maps.Keys(u.fields)) {
		if !first {
			b.WriteString(",")
		}
		first = false
		fmt.Fprintf(&b, "%q:%q", k, u.fields[k])
	}
	for _, name := range u.files {
		if !first {
			b.WriteString(",")
		}
		first = false
		fmt.Fprintf(&b, "%q:%q", name, fmt.Sprintf("[file, %d bytes of upload]", u.size))
	}
	b.WriteString("}")
	return []byte(b.String())
}

// Close removes the spooled file.
func (u *upload) Close() {
	if u != nil && u.f != nil {
		_ = u.f.Close()
		_ = os.Remove(u.f.Name())
	}
}
