package fsm

// Command bodies. Each is encoded as JSON in the raft log; fields may be
// added (older entries decode with zero values) but never renamed.

// BootstrapBody creates the first org, the super admin and the preloaded
// providers. It applies once; later bootstrap commands are no-ops.
type BootstrapBody struct {
	Meta      Meta       `json:"meta"`
	Org       Org        `json:"org"`
	Admin     User       `json:"admin"`
	Providers []Provider `json:"providers"`
}

// Upsert bodies create a record (Create) or replace it. ExpectVersion, when
// set, makes the replace conditional on the record's current version.
type (
	OrgUpsertBody struct {
		Org           Org    `json:"org"`
		Create        bool   `json:"create,omitempty"`
		ExpectVersion uint64 `json:"expect_version,omitempty"`
	}
	UserUpsertBody struct {
		User          User   `json:"user"`
		Create        bool   `json:"create,omitempty"`
		ExpectVersion uint64 `json:"expect_version,omitempty"`
	}
	KeyUpsertBody struct {
		Key           Key    `json:"key"`
		Create        bool   `json:"create,omitempty"`
		ExpectVersion uint64 `json:"expect_version,omitempty"`
	}
	ProviderUpsertBody struct {
		Provider      Provider `json:"provider"`
		Create        bool     `json:"create,omitempty"`
		ExpectVersion uint64   `json:"expect_version,omitempty"`
	}
	RouteUpsertBody struct {
		Route Route `json:"route"`
	}
	PriceUpsertBody struct {
		Price Price `json:"price"`
	}
	PolicyUpsertBody struct {
		Policy        Policy `json:"policy"`
		ExpectVersion uint64 `json:"expect_version,omitempty"`
	}
)

// DeleteBody names the record to delete (an id, slug or model name).
type DeleteBody struct {
	ID string `json:"id"`
}

// RestoreBody replaces the whole state with a snapshot's.
type RestoreBody struct {
	Snapshot []byte `json:"snapshot"`
}
