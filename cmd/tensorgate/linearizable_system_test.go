package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/tensorgate/tensorgate/cluster/clustertest"
)

// TestLinearizableAdminAcrossProcesses: three real nodes; writers and
// readers on every node rename orgs (the registers) through the admin
// API while nodes are paused (SIGSTOP, leader or follower) and killed
// with -9 and restarted. Every read the default (linearizable) mode
// answers must form, with the writes, a linearizable history, checked by
// porcupine. A write that did not answer 200 may or may not have taken
// effect and is kept open-ended; a read answered 503 is no read at all.
func TestLinearizableAdminAcrossProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("system test")
	}
	ps := startCluster(t, 3)
	tok := leaderOf(ps).login("ai-gateway-admin-2026")
	regs := map[string]string{} // register name -> org id
	var names []string
	for i := range 3 {
		reg := fmt.Sprintf("r%d", i)
		code, org := leaderOf(ps).call("POST", "/api/admin/orgs", tok, map[string]any{"name": reg + "-v0"})
		if code != 201 {
			t.Fatalf("org %s: %d %v", reg, code, org)
		}
		regs[reg] = org["id"].(string)
		names = append(names, reg)
	}

	var (
		mu       sync.Mutex
		history  []porcupine.Operation
		reads    int
		refused  int
		stop     = make(chan struct{})
		wg       sync.WaitGroup
		t0       = time.Now()
		stamp    = func() int64 { return int64(time.Since(t0)) }
		unwanted []string
	)
	record := func(op porcupine.Operation) {
		mu.Lock()
		history = append(history, op)
		mu.Unlock()
	}
	for w := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 17))
			for i := 1; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				url := ps[r.IntN(len(ps))].url("") // its address outlives a restart
				reg := names[r.IntN(len(names))]
				path := "/api/admin/orgs/" + regs[reg]
				if w%2 == 0 { // writer
					val := fmt.Sprintf("%s-w%d-%d", reg, w, i)
					call := stamp()
					code, _, _ := statusWithin(2*time.Second, "PATCH", url+path, tok, `{"name":"`+val+`"}`)
					ret := stamp()
					if code != 200 {
						ret = clustertest.Maybe
					}
					record(porcupine.Operation{ClientId: w, Input: clustertest.RegisterOp{Reg: reg, Write: true, Value: val}, Call: call, Return: ret})
					continue
				}
				call := stamp()
				code, _, body := statusWithin(2*time.Second, "GET", url+path, tok, "")
				ret := stamp()
				switch code {
				case 200:
					var org struct{ Name string }
					if err := json.Unmarshal([]byte(body), &org); err != nil {
						mu.Lock()
						unwanted = append(unwanted, "unreadable org: "+body)
						mu.Unlock()
						continue
					}
					record(porcupine.Operation{ClientId: w, Input: clustertest.RegisterOp{Reg: reg}, Output: org.Name, Call: call, Return: ret})
					mu.Lock()
					reads++
					mu.Unlock()
				case 0, 503: // down, paused past the timeout, or cannot confirm
					mu.Lock()
					refused++
					mu.Unlock()
				default:
					mu.Lock()
					unwanted = append(unwanted, fmt.Sprintf("read %d: %s", code, body))
					mu.Unlock()
				}
			}
		}()
	}

	// Faults: pause a node (the leader every other time), then kill one
	// with -9 and bring it back, over about 15 s.
	r := rand.New(rand.NewPCG(3, 3))
	for round := range 4 {
		victim := ps[r.IntN(len(ps))]
		if round%2 == 0 {
			if l := leaderOf(ps); l != nil {
				victim = l
			}
		}
		if err := victim.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(1500+r.IntN(1500)) * time.Millisecond)
		if err := victim.cmd.Process.Signal(syscall.SIGCONT); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second)
	}
	victim := ps[r.IntN(len(ps))]
	victim.kill()
	time.Sleep(time.Second)
	victim.launch()
	victim.waitHealthy(30 * time.Second)
	time.Sleep(2 * time.Second)
	close(stop)
	wg.Wait()

	for _, u := range unwanted {
		t.Error(u)
	}
	for reg := range regs {
		history = append(history, porcupine.Operation{ClientId: 100, Input: clustertest.RegisterOp{Reg: reg, Write: true, Value: reg + "-v0"}, Call: -2, Return: -1})
	}
	path := t.TempDir() + "/history.html"
	if res, err := clustertest.CheckLinearizable(history, 2*time.Minute, path); res != porcupine.Ok || err != nil {
		t.Fatalf("history of %d operations (%d reads) is %v (%v); see %s", len(history), reads, res, err, path)
	}
	if reads < 100 {
		t.Fatalf("only %d reads were answered: the test proves little", reads)
	}
	t.Logf("%d operations, %d reads answered, %d refused (503 or down): linearizable", len(history), reads, refused)
}
