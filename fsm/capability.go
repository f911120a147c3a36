package fsm

// Body kinds of a capability's requests.
const (
	// BodyJSON is a JSON object, read whole within the body limit.
	BodyJSON = "json"
	// BodyMultipart is a multipart form with a file, spooled to disk
	// within the upload limit.
	BodyMultipart = "multipart"
)

// Endpoint is one data-plane path of a capability.
type Endpoint struct {
	// Path is the full path clients call (POST), under /v1.
	Path string
	// Op names the operation asked of the provider adapter (the gateway's
	// provider.Op has the same values).
	Op string
	// Body is BodyJSON or BodyMultipart.
	Body string
}

// Capability is one kind of call a key may be scoped to and a provider
// may serve.
type Capability struct {
	// Name is what key scopes and provider capabilities list. Stored in
	// the raft log and in snapshots: never rename one.
	Name string
	// Endpoints are the paths that call it.
	Endpoints []Endpoint
	// Units are the price units it is billed in (Price.Rates keys).
	Units []string
	// LabelKey is the console's translation key of its name.
	LabelKey string
}

// CapabilityTable is every capability, in the order the console and the
// error messages list them. Adding a capability is one entry here plus the
// adapter code that serves its operations (see README, "Adding a
// capability"); routing, validation and the data plane derive from it.
var CapabilityTable = []Capability{
	{Name: "llm", Units: []string{UnitPromptToken, UnitCompletionToken}, LabelKey: "cap.llm", Endpoints: []Endpoint{
		{Path: "/v1/chat/completions", Op: "chat.completions", Body: BodyJSON},
		{Path: "/v1/completions", Op: "completions", Body: BodyJSON},
		{Path: "/v1/embeddings", Op: "embeddings", Body: BodyJSON},
	}},
	{Name: "image", Units: []string{UnitImage}, LabelKey: "cap.image", Endpoints: []Endpoint{
		{Path: "/v1/images/generations", Op: "images.generations", Body: BodyJSON},
		{Path: "/v1/images/edits", Op: "images.edits", Body: BodyMultipart},
	}},
	{Name: "asr", Units: []string{UnitSecond}, LabelKey: "cap.asr", Endpoints: []Endpoint{
		{Path: "/v1/audio/transcriptions", Op: "audio.transcriptions", Body: BodyMultipart},
	}},
	{Name: "tts", Units: []string{UnitCharacter}, LabelKey: "cap.tts", Endpoints: []Endpoint{
		{Path: "/v1/audio/speech", Op: "audio.speech", Body: BodyJSON},
	}},
	{Name: "ocr", Units: []string{UnitPage}, LabelKey: "cap.ocr", Endpoints: []Endpoint{
		{Path: "/v1/ocr", Op: "ocr", Body: BodyJSON},
	}},
	{Name: "vision-segment", Units: []string{UnitImage}, LabelKey: "cap.vision-segment", Endpoints: []Endpoint{
		{Path: "/v1/vision/segment", Op: "vision.segment", Body: BodyJSON},
	}},
}

// Capabilities are the names of CapabilityTable, in its order: what a key
// may be scoped to and a provider may serve.
var Capabilities = capabilityNames()

func capabilityNames() []string {
	out := make([]string, len(CapabilityTable))
	for i, c := range CapabilityTable {
		out[i] = c.Name
	}
	return out
}

// LookupCapability returns the capability named name.
func LookupCapability(name string) (Capability, bool) {
	for _, c := range CapabilityTable {
		if c.Name == name {
			return c, true
		}
	}
	return Capability{}, false
}

// IsCapability reports whether name is a capability.
func IsCapability(name string) bool {
	_, ok := LookupCapability(name)
	return ok
}
