package main

import (
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// BenchmarkThreeNodeColdStartAndRollingRestart starts three real nodes
// from empty data dirs and reports the time until every node is healthy
// (raft bootstrapped through gossip, the first admin and org written),
// then restarts all three one by one under load, handing leadership away
// first as the preStop hook does, and reports the failed requests:
//
//	go test ./cmd/tensorgate -run '^$' -bench ThreeNodeColdStart -benchtime 1x
func BenchmarkThreeNodeColdStartAndRollingRestart(b *testing.B) {
	for range b.N {
		start := time.Now()
		ps := startCluster(b, 3, "--drain-delay", "300ms")
		cold := time.Since(start)
		key, _ := setupUpstream(b, ps[0])
		load := startLoad(key, ps, 4)
		restartStart := time.Now()
		for _, p := range ps {
			load.remove(p)
			if health(p)["raft_state"] == "Leader" {
				if out, err := exec.Command(binPath, "step-down", "--addr", p.url("")).CombinedOutput(); err != nil {
					b.Fatalf("step-down: %v %s", err, out)
				}
			}
			time.Sleep(100 * time.Millisecond)
			p.stop(syscall.SIGTERM)
			p.start()
			load.add(p)
		}
		restart := time.Since(restartStart)
		close(load.stop)
		load.wg.Wait()
		b.ReportMetric(cold.Seconds(), "cold-start-s")
		b.ReportMetric(restart.Seconds(), "rolling-restart-s")
		b.ReportMetric(float64(load.ok.Load()), "ok-requests")
		b.ReportMetric(float64(load.fail.Load()), "failed-requests")
		if load.fail.Load() > 0 {
			b.Errorf("%d requests failed during the rolling restart", load.fail.Load())
		}
	}
	b.ReportMetric(0, "ns/op")
}
