package fsm

func init() {
	register(TypeBootstrap, applyBootstrap)
	register(TypeRestoreState, applyRestore)
}

// BootstrapResult answers a bootstrap command.
type BootstrapResult struct {
	Applied bool // false when the cluster was already bootstrapped
}

func applyBootstrap(next *State, c decoded, b BootstrapBody, index uint64) (*BootstrapResult, error) {
	if next.Bootstrapped() {
		return &BootstrapResult{Applied: false}, nil
	}
	if b.Meta.ClusterID == "" {
		return nil, invalid("cluster_id", "is required")
	}
	if err := b.Org.Validate(); err != nil {
		return nil, err
	}
	if b.Admin.Role != RoleSuperAdmin {
		return nil, invalid("role", "the bootstrap admin must be a super admin")
	}
	if err := b.Admin.Validate(); err != nil {
		return nil, err
	}
	b.Meta.BootstrappedAt = c.Time
	b.Meta.LogVersion = max(b.Meta.LogVersion, next.Meta.LogVersion) // raised before the bootstrap
	next.Meta = b.Meta

	org := b.Org
	org.CreatedAt, org.UpdatedAt, org.Version = c.Time, c.Time, index
	next.Orgs = with(next.Orgs, org.ID, &org)

	admin := b.Admin
	admin.CreatedAt, admin.UpdatedAt, admin.Version = c.Time, c.Time, index
	next.Users = with(next.Users, admin.ID, &admin)
	next.usersByEmail = with(next.usersByEmail, admin.Email, &admin)

	for i := range b.Providers {
		p := b.Providers[i]
		if err := p.Validate(); err != nil {
			return nil, err
		}
		if _, dup := next.Providers[p.Slug]; dup {
			continue
		}
		p.CreatedAt, p.UpdatedAt, p.Version = c.Time, c.Time, index
		next.Providers = with(next.Providers, p.Slug, &p)
		next.ProviderOrder = append(append([]string(nil), next.ProviderOrder...), p.Slug)
	}
	return &BootstrapResult{Applied: true}, nil
}

func applyRestore(next *State, c decoded, b RestoreBody, index uint64) (*NoResult, error) {
	s, err := readSnapshotBytes(b.Snapshot)
	if err != nil {
		return nil, invalid("snapshot", "%v", err)
	}
	s.Index = index
	*next = *s
	return &NoResult{}, nil
}
