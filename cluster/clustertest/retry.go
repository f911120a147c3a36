package clustertest

import (
	"testing"
	"time"
)

// RetryInterval is how often Retry and WaitFor try again.
const RetryInterval = 10 * time.Millisecond

// Retry calls f until it returns nil, and fails the test with f's last
// error if it has not by timeout: how a test waits for something that
// happens in the background (a leader, a replicated write, a member
// leaving), instead of sleeping for a guess.
func Retry(t testing.TB, timeout time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("still failing after %v: %v", timeout, err)
		}
		time.Sleep(RetryInterval)
	}
}

// WaitFor is Retry for a condition: it fails the test, naming what it
// waited for, if cond is not true by timeout.
func WaitFor(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(RetryInterval)
	}
}
