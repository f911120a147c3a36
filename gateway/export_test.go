package gateway

// CatchUpQueued reports whether a request waits for a catch-up round that
// has not started yet: tests wait for it instead of sleeping.
func CatchUpQueued(s *Server) bool {
	s.catchUps.mu.Lock()
	defer s.catchUps.mu.Unlock()
	return s.catchUps.next != nil
}
