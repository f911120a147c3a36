package cluster

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/tensorgate/tensorgate/fsm"
)

// TestFuzzyPartitionsAndKills runs writers against random nodes while
// nodes are partitioned, healed, killed, restarted, and while a fourth node
// joins and is removed, then checks what hashicorp/raft's fuzzy tests check:
// every acknowledged write is present everywhere, every node reached the
// same state through the same sequence, and the logs agree.
func TestFuzzyPartitionsAndKills(t *testing.T) {
	if testing.Short() {
		t.Skip("fuzzy cluster test")
	}
	f := newFaults()
	tc := newTestCluster(t, 3, func(c *Config) {
		c.faults = f
		c.DeadServerTimeout = time.Hour // membership changes here are explicit
	})
	ids := []string{"n1", "n2", "n3"}

	var (
		mu    sync.Mutex
		acked = map[string]bool{}
		down  = map[string]bool{}
		stop  = make(chan struct{})
		wg    sync.WaitGroup
	)
	pick := func(r *rand.Rand) *Node {
		mu.Lock()
		defer mu.Unlock()
		for {
			id := ids[r.IntN(len(ids))]
			if !down[id] {
				return tc.nodes[id].node
			}
		}
	}
	for w := 0; w < 3; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 7))
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				id := fmt.Sprintf("w%d-%d", w, i)
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				_, err := pick(r).Apply(ctx, orgCmd(id, id))
				cancel()
				if err == nil {
					mu.Lock()
					acked[id] = true
					mu.Unlock()
				}
			}
		}(w)
	}

	r := rand.New(rand.NewPCG(42, 42))
	deadline := time.Now().Add(8 * time.Second)
	joined := false
	for step := 0; time.Now().Before(deadline); step++ {
		time.Sleep(time.Duration(200+r.IntN(400)) * time.Millisecond)
		switch r.IntN(5) {
		case 0: // isolate one node
			victim := ids[r.IntN(3)]
			var rest []string
			for _, id := range ids {
				if id != victim {
					rest = append(rest, id)
				}
			}
			f.partition([]string{victim}, append(rest, "n4"))
		case 1:
			f.heal()
		case 2: // kill and restart a node (it keeps its data dir)
			victim := ids[r.IntN(3)]
			mu.Lock()
			down[victim] = true
			mu.Unlock()
			tc.kill(victim)
			time.Sleep(time.Duration(100+r.IntN(300)) * time.Millisecond)
			mu.Lock() // restart replaces the map entry the writers read
			tc.restart(victim)
			down[victim] = false
			mu.Unlock()
		case 3: // a membership change during the chaos
			if !joined {
				c := clusterConfig(t, "n4")
				c.faults = f
				c.Join = []string{tc.nodes["n1"].cfg.GossipAddr}
				mu.Lock()
				tc.start(c)
				mu.Unlock()
				joined = true
			} else if l := tc.leader(); l != nil {
				_ = l.node.Remove(context.Background(), "n4")
			}
		case 4:
			f.setDelay(time.Duration(r.IntN(20)) * time.Millisecond)
		}
	}
	close(stop)
	wg.Wait()
	f.heal()
	f.setDelay(0)

	// Converge: one more write through the leader, then every core node
	// holds the same state.
	states := func() [][]byte {
		var out [][]byte
		for _, id := range ids {
			var b bytes.Buffer
			if err := fsm.WriteSnapshot(&b, tc.nodes[id].fsm.View()); err != nil {
				t.Fatal(err)
			}
			out = append(out, b.Bytes())
		}
		return out
	}
	tc.waitFor("a final write", 20*time.Second, func() bool {
		l := tc.leader()
		if l == nil {
			return false
		}
		_, err := l.node.Apply(context.Background(), orgCmd("final", "final"))
		return err == nil
	})
	tc.waitFor("every node in the same state", 20*time.Second, func() bool {
		s := states()
		for i := range s {
			if _, ok := tc.nodes[ids[i]].fsm.View().Orgs["final"]; !ok || !bytes.Equal(s[0], s[i]) {
				return false
			}
		}
		return true
	})
	mu.Lock()
	defer mu.Unlock()
	if len(acked) == 0 {
		t.Fatal("no write was acknowledged during the run")
	}
	for _, id := range ids {
		st := tc.nodes[id].fsm.View()
		for org := range acked {
			if _, ok := st.Orgs[org]; !ok {
				t.Fatalf("acknowledged write %s missing on %s", org, id)
			}
		}
	}
	compareLogs(t, tc, ids)
	t.Logf("%d writes acknowledged; states and logs agree on %d nodes", len(acked), len(ids))
}

// compareLogs checks that the nodes' raft logs hold identical entries over
// the range they all still have.
func compareLogs(t *testing.T, tc *testCluster, ids []string) {
	t.Helper()
	var lo, hi uint64 = 0, ^uint64(0)
	for _, id := range ids {
		s := tc.nodes[id].node.store
		first, _ := s.FirstIndex()
		last, _ := s.LastIndex()
		lo, hi = max(lo, first), min(hi, last)
	}
	for i := lo; i <= hi && hi != ^uint64(0); i++ {
		var ref raft.Log
		for j, id := range ids {
			var l raft.Log
			if err := tc.nodes[id].node.store.GetLog(i, &l); err != nil {
				t.Fatalf("%s: log %d: %v", id, i, err)
			}
			if j == 0 {
				ref = l
				continue
			}
			if l.Term != ref.Term || l.Type != ref.Type || !bytes.Equal(l.Data, ref.Data) {
				t.Fatalf("log %d differs between %s and %s", i, ids[0], id)
			}
		}
	}
}
