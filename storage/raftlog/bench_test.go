package raftlog

import (
	"fmt"
	"testing"

	"github.com/hashicorp/raft"
	raftbench "github.com/hashicorp/raft/bench"
)

// BenchmarkStoreLogsBatch measures synced, atomic batch appends of 1, 16 and
// 64 entries of 256 bytes. entries/s is the figure to compare.
func BenchmarkStoreLogsBatch(b *testing.B) {
	for _, n := range []int{1, 16, 64} {
		b.Run(fmt.Sprintf("batch=%d", n), func(b *testing.B) {
			s := openTest(b)
			data := make([]byte, 256)
			batch := make([]*raft.Log, n)
			idx := uint64(1)
			b.SetBytes(int64(n * len(data)))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				for j := range batch {
					batch[j] = &raft.Log{Index: idx, Term: 1, Data: data}
					idx++
				}
				if err := s.StoreLogs(batch); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "entries/s")
		})
	}
}

// The raft project's own store benchmarks, run against this store.
func BenchmarkRaftFirstIndex(b *testing.B)  { raftbench.FirstIndex(b, openTest(b)) }
func BenchmarkRaftLastIndex(b *testing.B)   { raftbench.LastIndex(b, openTest(b)) }
func BenchmarkRaftGetLog(b *testing.B)      { raftbench.GetLog(b, openTest(b)) }
func BenchmarkRaftDeleteRange(b *testing.B) { raftbench.DeleteRange(b, openTest(b)) }
func BenchmarkRaftSet(b *testing.B)         { raftbench.Set(b, openTest(b)) }
func BenchmarkRaftGet(b *testing.B)         { raftbench.Get(b, openTest(b)) }
func BenchmarkRaftSetUint64(b *testing.B)   { raftbench.SetUint64(b, openTest(b)) }
func BenchmarkRaftGetUint64(b *testing.B)   { raftbench.GetUint64(b, openTest(b)) }
