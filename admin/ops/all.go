package ops

// Name names an operation, as the audit trail and tests know it.
type Name string

// The operations.
const (
	KeyCreate Name = "key.create"
	KeyUpdate Name = "key.update"
	KeyRevoke Name = "key.revoke"

	OrgCreate Name = "org.create"
	OrgUpdate Name = "org.update"
	OrgDelete Name = "org.delete"

	ProviderCreate Name = "provider.create"
	ProviderUpdate Name = "provider.update"
	ProviderDelete Name = "provider.delete"
	ProviderTest   Name = "provider.test"

	UserCreate     Name = "user.create"
	UserUpdate     Name = "user.update"
	PasswordChange Name = "user.password"

	PolicyUpdate Name = "policy.update"

	RoutePut    Name = "route.put"
	RouteDelete Name = "route.delete"
	PricePut    Name = "price.put"
	PriceDelete Name = "price.delete"

	MemberRemove   Name = "cluster.remove"
	LeaderTransfer Name = "cluster.transfer_leader"

	SecretsReseal   Name = "secrets.reseal"
	SnapshotRestore Name = "snapshot.restore"
)

// Op describes one operation.
type Op struct {
	Name Name
	// Doc says what the operation does, in a sentence.
	Doc string
	// APIOnly, when set, says why the console has no way to it.
	APIOnly string
}

// All lists every operation, in the order of the console's menu.
var All = []Op{
	{Name: KeyCreate, Doc: "creates a client key and shows its secret once"},
	{Name: KeyUpdate, Doc: "changes a key's name, scopes, models, limits, expiry, or disables/enables it"},
	{Name: KeyRevoke, Doc: "revokes a key for good; the record stays for audit"},

	{Name: OrgCreate, Doc: "creates an organization"},
	{Name: OrgUpdate, Doc: "renames an organization or (super admins) changes its time zone",
		APIOnly: "the console's orgs page has no rename form yet"},
	{Name: OrgDelete, Doc: "deletes an organization",
		APIOnly: "deleting an org is rare and destructive; the console offers no button for it"},

	{Name: ProviderCreate, Doc: "adds an upstream provider"},
	{Name: ProviderUpdate, Doc: "changes a provider, its key, or which of its models are open"},
	{Name: ProviderDelete, Doc: "removes a provider",
		APIOnly: "the console disables providers rather than deleting them"},
	{Name: ProviderTest, Doc: "makes a minimal real call to a provider through the data plane's adapters"},

	{Name: UserCreate, Doc: "adds a user to an org, or a super admin"},
	{Name: UserUpdate, Doc: "renames a user, changes their role, or disables/enables them"},
	{Name: PasswordChange, Doc: "changes the caller's own password and ends their other sessions"},

	{Name: PolicyUpdate, Doc: "changes an org's policy: routing, allocation, overflow, breakers, alerts, limits, its own provider keys"},

	{Name: RoutePut, Doc: "sets a model's route: strategy and targets"},
	{Name: RouteDelete, Doc: "removes a model's route",
		APIOnly: "the console's routing page edits routes but has no delete button yet"},
	{Name: PricePut, Doc: "sets a model's prices"},
	{Name: PriceDelete, Doc: "removes a model's prices",
		APIOnly: "the console's routing page edits prices but has no delete button yet"},

	{Name: MemberRemove, Doc: "removes a node from the cluster for good"},
	{Name: LeaderTransfer, Doc: "hands raft leadership to another voter"},

	{Name: SecretsReseal, Doc: "seals every stored secret again under the current BETTER_AUTH_SECRET",
		APIOnly: "an operator's step of a secret rotation, scripted against the API"},
	{Name: SnapshotRestore, Doc: "replaces the replicated state with a backup",
		APIOnly: "an operator's recovery step (tensorgate snapshot restore), never a console button"},
}
