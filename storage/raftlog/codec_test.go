package raftlog

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/raft"
)

func TestCodecRoundTrip(t *testing.T) {
	for _, l := range []*raft.Log{
		{},
		{Index: 1, Term: 1, Type: raft.LogNoop},
		testLog(1<<40, "payload"),
		{Index: ^uint64(0), Term: ^uint64(0), Type: raft.LogConfiguration, Data: make([]byte, 1<<16)},
	} {
		var got raft.Log
		if err := decodeLog(encodeLog(nil, l), &got); err != nil {
			t.Fatalf("decode(%+v): %v", l.Index, err)
		}
		if diff := cmp.Diff(*l, got); diff != "" {
			t.Fatalf("round trip mismatch (-want +got):\n%s", diff)
		}
	}
}

func FuzzDecodeLog(f *testing.F) {
	f.Add(encodeLog(nil, testLog(7, "seed")))
	f.Add([]byte{1})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		var l raft.Log
		if err := decodeLog(b, &l); err != nil {
			return
		}
		// Whatever decodes must re-encode to the same bytes.
		if got := encodeLog(nil, &l); string(got) != string(b) {
			// AppendedAt of zero and absent slices normalise; accept only
			// those differences.
			var again raft.Log
			if err := decodeLog(got, &again); err != nil || !cmp.Equal(l, again) {
				t.Fatalf("re-encode mismatch: %x vs %x", b, got)
			}
		}
	})
}
