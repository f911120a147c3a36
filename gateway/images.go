package gateway

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/tensorgate/tensorgate/fsm/apierr"
	"github.com/tensorgate/tensorgate/gateway/provider"
)

// Peers finds another node's HTTP address, to fetch an image it holds.
type Peers interface {
	HTTPAddr(node string) (string, bool)
}

// maxImageBytes bounds one stored image.
const maxImageBytes = 32 << 20

// imageFileRE is a stored image's file name: random hex and an extension.
var imageFileRE = regexp.MustCompile(`^[0-9a-f]{32}\.(png|jpg|webp|gif)$`)

// bufferedSink holds an answer instead of sending it, so the gateway can
// rewrite it (image URLs) before the client sees it.
type bufferedSink struct {
	started bool
	ct      string
	buf     []byte
}

func (b *bufferedSink) Start(_ int, contentType string) {
	if !b.started {
		b.started, b.ct = true, contentType
	}
}
func (b *bufferedSink) Write(p []byte) (int, error) {
	b.started = true
	b.buf = append(b.buf, p...)
	return len(p), nil
}
func (b *bufferedSink) Event([]byte) error { return nil }
func (b *bufferedSink) Flush() error       { return nil }
func (b *bufferedSink) Started() bool      { return b.started }

// storeImages replaces every image of an images answer by a signed,
// expiring gateway URL of a copy this node keeps under ImageDir: fetched
// from the upstream's URL, or decoded from its base64.
func (s *Server) storeImages(ctx context.Context, r *http.Request, answer []byte) ([]byte, error) {
	var resp map[string]json.RawMessage
	if err := json.Unmarshal(answer, &resp); err != nil {
		return nil, &provider.UpstreamError{Class: provider.ClassProtocol, Message: "the images answer is not JSON", Err: err}
	}
	var data []map[string]any
	if err := json.Unmarshal(resp["data"], &data); err != nil {
		return nil, &provider.UpstreamError{Class: provider.ClassProtocol, Message: "the images answer has no data", Err: err}
	}
	base := s.publicBase(r)
	expires := s.now().Add(s.cfg.ImageURLTTL).Unix()
	for i, d := range data {
		var img []byte
		var ct string
		switch {
		case d["b64_json"] != nil:
			b, err := base64.StdEncoding.DecodeString(fmt.Sprint(d["b64_json"]))
			if err != nil {
				return nil, &provider.UpstreamError{Class: provider.ClassProtocol, Message: "an image's base64 does not decode", Err: err}
			}
			img, ct = b, http.DetectContentType(b)
		case d["url"] != nil:
			b, c, err := s.download(ctx, fmt.Sprint(d["url"]))
			if err != nil {
				return nil, err
			}
			img, ct = b, c
		default:
			continue
		}
		name, err := s.saveImage(img, ct)
		if err != nil {
			return nil, err
		}
		delete(d, "b64_json")
		d["url"] = base + s.signedImagePath(s.cfg.NodeID, name, expires)
		data[i] = d
	}
	resp["data"], _ = json.Marshal(data)
	return json.Marshal(resp)
}

// download fetches an image an upstream points to.
func (s *Server) download(ctx context.Context, u string) ([]byte, string, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.ResponseTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, "", &provider.UpstreamError{Class: provider.ClassProtocol, Message: "an image URL is not valid", Err: err}
	}
	res, err := s.fetcher.Do(req)
	if err != nil {
		return nil, "", &provider.UpstreamError{Class: provider.ClassConnect, Message: "could not download an image", Err: err}
	}
	defer res.Body.Close()
	if res.StatusCode/100 != 2 {
		return nil, "", &provider.UpstreamError{Class: provider.ClassStatus, Status: res.StatusCode, Message: "downloading an image failed"}
	}
	b, err := io.ReadAll(io.LimitReader(res.Body, maxImageBytes+1))
	if err != nil || len(b) > maxImageBytes {
		return nil, "", &provider.UpstreamError{Class: provider.ClassBroken, Message: "could not download an image", Err: err}
	}
	return b, http.DetectContentType(b), nil
}

// saveImage writes an image under ImageDir and returns its file name.
func (s *Server) saveImage(img []byte, ct string) (string, error) {
	ext := map[string]string{"image/jpeg": "jpg", "image/webp": "webp", "image/gif": "gif"}[ct]
	if ext == "" {
		ext = "png"
	}
	var id [16]byte
	_, _ = rand.Read(id[:])
	name := hex.EncodeToString(id[:]) + "." + ext
	if err := os.WriteFile(filepath.Join(s.cfg.ImageDir, name), img, 0o600); err != nil {
		return "", fmt.Errorf("store an image: %w", err)
	}
	return name, nil
}

// imageSignature signs a node's file with its expiry.
func (s *Server) imageSignature(node, name string, expires int64) string {
	m := hmac.New(sha256.New, s.cfg.ImageURLKey)
	fmt.Fprintf(m, "%s/%s|%d", node, name, expires)
	return hex.EncodeToString(m.Sum(nil))
}

func (s *Server) signedImagePath(node, name string, expires int64) string {
	return fmt.Sprintf("/v1/files/images/%s/%s?expires=%d&signature=%s", url.PathEscape(node), name, expires, s.imageSignature(node, name, expires))
}

// publicBase is the scheme and host clients reach this node by: the
// configured public URL, else what the request came to (behind a proxy,
// its X-Forwarded-Proto and Host).
func (s *Server) publicBase(r *http.Request) string {
	if s.cfg.PublicURL != "" {
		return strings.TrimRight(s.cfg.PublicURL, "/")
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if p := r.Header.Get("X-Forwarded-Proto"); p == "https" || p == "http" {
		scheme = p
	}
	return scheme + "://" + r.Host
}

// forwardedHeader marks a fetch one node makes from another, so an image
// is looked for on its holder only, never passed on again.
const forwardedHeader = "X-Tensorgate-Forwarded"

// serveImage answers a signed image URL on any node: from disk on the
// node that holds the image, else fetched from that node.
func (s *Server) serveImage(w http.ResponseWriter, r *http.Request) {
	node, name := r.PathValue("node"), r.PathValue("file")
	q := r.URL.Query()
	expires, err := strconv.ParseInt(q.Get("expires"), 10, 64)
	sig := q.Get("signature")
	if err != nil || !imageFileRE.MatchString(name) || !hmac.Equal([]byte(sig), []byte(s.imageSignature(node, name, expires))) {
		apierr.Write(w, apierr.New(apierr.CodePermissionDenied, "this image link is not valid"))
		return
	}
	if s.now().Unix() > expires {
		apierr.Write(w, apierr.New(apierr.CodePermissionDenied, "this image link has expired"))
		return
	}
	if node == s.cfg.NodeID {
		w.Header().Set("Cache-Control", "private, max-age=300")
		http.ServeFile(w, r, filepath.Join(s.cfg.ImageDir, name))
		return
	}
	addr, ok := "", false
	if s.peers != nil && r.Header.Get(forwardedHeader) == "" {
		addr, ok = s.peers.HTTPAddr(node)
	}
	if !ok {
		apierr.Write(w, apierr.Newf(apierr.CodeNotFound, "the node holding this image (%s) cannot be reached", node))
		return
	}
	req, _ := http.NewRequestWithContext(r.Context(), http.MethodGet, "http://"+addr+r.URL.RequestURI(), nil)
	req.Header.Set(forwardedHeader, "1")
	res, err := s.fetcher.Do(req)
	if err != nil {
		apierr.Write(w, apierr.Newf(apierr.CodeNotFound, "the node holding this image (%s) cannot be reached", node))
		return
	}
	defer res.Body.Close()
	for _, h := range []string{"Content-Type", "Content-Length", "Cache-Control"} {
		if v := res.Header.Get(h); v != "" {
			w.Header().Set(h, v)
		}
	}
	w.WriteHeader(res.StatusCode)
	_, _ = io.Copy(w, res.Body)
}

// SweepImages deletes stored images older than their links' life, every
// interval until ctx ends.
func (s *Server) SweepImages(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		entries, _ := os.ReadDir(s.cfg.ImageDir)
		for _, e := range entries {
			if info, err := e.Info(); err == nil && s.now().Sub(info.ModTime()) > s.cfg.ImageURLTTL {
				_ = os.Remove(filepath.Join(s.cfg.ImageDir, e.Name()))
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
