package fsm

import (
	"encoding/json"
	"fmt"
	"time"
)

// MessageType identifies a command in the raft log.
type MessageType uint8

// Stored in the raft log and in snapshots: append only, never renumber.
// Each type is registered with its handler and result type; the package
// doc says how to add one.
const (
	TypeBootstrap      MessageType = 1
	TypeOrgUpsert      MessageType = 2
	TypeOrgDelete      MessageType = 3
	TypeUserUpsert     MessageType = 4
	TypeUserDelete     MessageType = 5
	TypeKeyUpsert      MessageType = 6
	TypeKeyDelete      MessageType = 7
	TypeProviderUpsert MessageType = 8
	TypeProviderDelete MessageType = 9
	TypeRouteUpsert    MessageType = 10
	TypeRouteDelete    MessageType = 11
	TypePriceUpsert    MessageType = 12
	TypePriceDelete    MessageType = 13
	TypePolicyUpsert   MessageType = 14
	TypeRestoreState   MessageType = 15
	TypeQuotaSync      MessageType = 16
	TypeUsageAdd       MessageType = 17
	TypeLogVersion     MessageType = 18
)

// IgnoreUnknown is or-ed into a type that older nodes may skip if they do
// not know it.
const IgnoreUnknown MessageType = 0x80

// payloadV1 is the only payload encoding so far: JSON of an envelope.
const payloadV1 byte = 1

// Command is one proposed change. ID and Time are set by the proposer; Body
// is the type's payload struct. Deadline, when set, is the last moment the
// leader may append the command to its log: one appended later (its
// proposer paused or cut off, its client long gone) is applied as a no-op
// that answers CodeExpired, decided from the entry's own append time, the
// same on every node.
type Command struct {
	Type     MessageType
	ID       string
	Time     time.Time
	Deadline time.Time
	Body     any
}

type envelope struct {
	ID       string          `json:"id"`
	Time     time.Time       `json:"time"`
	Deadline *time.Time      `json:"deadline,omitempty"`
	Body     json.RawMessage `json:"body"`
}

// Encode renders c for the raft log.
func (c Command) Encode() ([]byte, error) {
	body, err := json.Marshal(c.Body)
	if err != nil {
		return nil, fmt.Errorf("encode command %d body: %w", c.Type, err)
	}
	e := envelope{ID: c.ID, Time: c.Time.UTC(), Body: body}
	if !c.Deadline.IsZero() {
		dl := c.Deadline.UTC()
		e.Deadline = &dl
	}
	env, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("encode command %d: %w", c.Type, err)
	}
	out := make([]byte, 0, 2+len(env))
	out = append(out, byte(c.Type), payloadV1)
	return append(out, env...), nil
}

// decoded is a command read back from the log, with its body still raw.
type decoded struct {
	Type     MessageType
	ID       string
	Time     time.Time
	Deadline time.Time
	Body     json.RawMessage
}

// decodeCommand parses the framing of a log entry.
func decodeCommand(b []byte) (decoded, error) {
	if len(b) < 2 {
		return decoded{}, fmt.Errorf("fsm: command of %d bytes", len(b))
	}
	if b[1] != payloadV1 {
		return decoded{}, fmt.Errorf("fsm: command %d has unknown payload version %d", b[0], b[1])
	}
	var env envelope
	if err := json.Unmarshal(b[2:], &env); err != nil {
		return decoded{}, fmt.Errorf("fsm: decode command %d: %w", b[0], err)
	}
	d := decoded{Type: MessageType(b[0]), ID: env.ID, Time: env.Time, Body: env.Body}
	if env.Deadline != nil {
		d.Deadline = *env.Deadline
	}
	return d, nil
}

// StampLeaderTime gives an encoded command the leader's time, now, when
// its type keeps time by the leader's clock: quota syncs, whose reports
// and grants must all be placed on one clock for windows to be exact
// across nodes whose clocks disagree (QUOTA.md rule 1). Other commands
// keep their proposer's time. The leader calls it as it proposes.
func StampLeaderTime(data []byte, now time.Time) ([]byte, error) {
	if len(data) < 2 || MessageType(data[0]) != TypeQuotaSync || data[1] != payloadV1 {
		return data, nil
	}
	var env envelope
	if err := json.Unmarshal(data[2:], &env); err != nil {
		return nil, fmt.Errorf("fsm: decode command %d: %w", data[0], err)
	}
	env.Time = now.UTC()
	b, err := json.Marshal(env)
	if err != nil {
		return nil, fmt.Errorf("encode command %d: %w", data[0], err)
	}
	return append([]byte{data[0], data[1]}, b...), nil
}
