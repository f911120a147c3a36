package gateway_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/tensorgate/tensorgate/gateway"
)

// A link signed with a key the gateway used before (ImageURLOldKeys) is
// accepted until it expires; new links are signed with ImageURLKey only.
func TestImageLinksSignedWithAnOldKeyStayValid(t *testing.T) {
	newKey, oldKey := []byte("image-link-key-new-0123456789"), []byte("image-link-key-old-0123456789")
	e := newEnv(t, func(c *gateway.Config) {
		c.ImageDir, c.ImageURLKey, c.ImageURLOldKeys, c.ImageURLTTL = t.TempDir(), newKey, [][]byte{oldKey}, time.Hour
	})
	e.withMedia()
	c := e.client(e.key)
	res, err := c.Images.Generate(context.Background(), openai.ImageGenerateParams{Model: "img-mock", Prompt: "a cat"})
	if err != nil || len(res.Data) != 1 {
		t.Fatalf("generate: %v %+v", err, res)
	}
	link, err := url.Parse(res.Data[0].URL)
	if err != nil {
		t.Fatal(err)
	}
	q := link.Query()
	expires, _ := strconv.ParseInt(q.Get("expires"), 10, 64)
	rest := strings.TrimPrefix(link.Path, "/v1/files/images/")
	if got, want := q.Get("signature"), sign(newKey, rest, expires); got != want {
		t.Fatalf("new link signed %s, want the new key's %s", got, want)
	}
	resign := func(key []byte, expires int64) string {
		u := *link
		q := u.Query()
		q.Set("expires", strconv.FormatInt(expires, 10))
		q.Set("signature", sign(key, rest, expires))
		u.RawQuery = q.Encode()
		return u.String()
	}
	past := time.Now().Add(-time.Minute).Unix()
	for _, tc := range []struct {
		name string
		link string
		want int
	}{
		{"new key", resign(newKey, expires), 200},
		{"old key", resign(oldKey, expires), 200},
		{"old key, expired", resign(oldKey, past), 403},
		{"unknown key", resign([]byte("image-link-key-other-012345678"), expires), 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := http.Get(tc.link)
			if err != nil {
				t.Fatal(err)
			}
			r.Body.Close()
			if r.StatusCode != tc.want {
				t.Fatalf("got %d, want %d", r.StatusCode, tc.want)
			}
		})
	}
}

// sign computes a link's signature: HMAC-SHA256 over "node/file|expires".
func sign(key []byte, nodeAndFile string, expires int64) string {
	m := hmac.New(sha256.New, key)
	fmt.Fprintf(m, "%s|%d", nodeAndFile, expires)
	return hex.EncodeToString(m.Sum(nil))
}
