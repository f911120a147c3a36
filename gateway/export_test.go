package gateway

// TraceSteps makes s call f with the path and the step's name each time a
// request enters a step of its pipeline.
func TraceSteps(s *Server, f func(path, step string)) {
	t := stepTracer(func(path string, st step) { f(path, st.String()) })
	s.tracer.Store(&t)
}

// PipelineSteps are the names of the pipeline's steps, in order.
func PipelineSteps() []string { return append([]string(nil), stepNames[:]...) }

// CatchUpQueued reports whether a request waits for a catch-up round that
// has not started yet: tests wait for it instead of sleeping.
func CatchUpQueued(s *Server) bool {
	s.catchUps.mu.Lock()
	defer s.catchUps.mu.Unlock()
	return s.catchUps.next != nil
}
