package secret

import (
	"bytes"
	"errors"
	"testing"
)

func TestSealOpen(t *testing.T) {
	s, err := New("a-test-secret-0123456789")
	if err != nil {
		t.Fatal(err)
	}
	pt := []byte("sk-upstream-key")
	sealed := s.Seal(ProviderPurpose("dashscope"), pt)
	if bytes.Contains(sealed, pt) {
		t.Fatal("sealed value contains the plaintext")
	}
	if again := s.Seal(ProviderPurpose("dashscope"), pt); bytes.Equal(again, sealed) {
		t.Fatal("two seals of one value are identical; the nonce is not random")
	}
	got, err := s.Open(ProviderPurpose("dashscope"), sealed)
	if err != nil || !bytes.Equal(got, pt) {
		t.Fatalf("Open = %q, %v", got, err)
	}
	if _, err := s.Open(ProviderPurpose("deepseek"), sealed); !errors.Is(err, ErrOpen) {
		t.Fatalf("opened under another purpose: %v", err)
	}
	other, _ := New("another-secret-0123456789")
	if _, err := other.Open(ProviderPurpose("dashscope"), sealed); !errors.Is(err, ErrOpen) {
		t.Fatalf("opened under another secret: %v", err)
	}
	for _, bad := range [][]byte{nil, {1}, {2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, sealed[:len(sealed)-1]} {
		if _, err := s.Open(ProviderPurpose("dashscope"), bad); !errors.Is(err, ErrOpen) {
			t.Fatalf("Open(%x) = %v, want ErrOpen", bad, err)
		}
	}
	if _, err := New("short"); err == nil {
		t.Fatal("a short secret was accepted")
	}
}
