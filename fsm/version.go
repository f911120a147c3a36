package fsm

// Log versions. A change to what a command does when applied (not only
// what it carries) must not take effect on some nodes before others: in a
// rolling upgrade the old and the new build would apply the same entry
// differently and their states would drift apart for good. Such a change
// gets the next log version and applies only once the replicated state
// says so (Meta.LogVersion): the leader raises it with a TypeLogVersion
// command once every server announces a build that applies it, and a node
// whose build cannot apply the cluster's version is not added.
const (
	// LogVersionQuotaLeases: leases carry ids and the syncs' marks; a
	// lease that runs out is kept as a write-off its node can settle
	// (reports for it, recounts after a restart, refunds); a window's
	// bucket counts until a window after its latest report.
	LogVersionQuotaLeases = 1

	// LogVersion is the highest log version this build applies.
	LogVersion = LogVersionQuotaLeases
)

func init() {
	register(TypeLogVersion, applyLogVersion)
}

// LogVersionBody raises the cluster's log version.
type LogVersionBody struct {
	Version int `json:"version"`
}

// applyLogVersion raises Meta.LogVersion; it never lowers it, since the
// state written under a version may mean something else under an older
// one. A version above what this build knows is recorded all the same
// (every node must agree on the state), and the node says it cannot
// apply it (see cluster's version check).
func applyLogVersion(next *State, c decoded, b LogVersionBody, _ uint64) (*NoResult, error) {
	if b.Version < 0 {
		return nil, invalid("version", "must not be negative (got %d)", b.Version)
	}
	next.Meta.LogVersion = max(next.Meta.LogVersion, b.Version)
	return &NoResult{}, nil
}
