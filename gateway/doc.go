// Package gateway is the /v1 data plane: the OpenAI-compatible API that
// business systems call with gk_ keys.
//
// Every call takes one fixed pipeline, whatever its capability
// (pipeline.go, serve): handle gives it its request id and recovers
// panics; then authenticate, the key's scopes, room to record it, read the
// body within its limit, decode and validate it, the key's model
// allow-list, resolve the model to upstream targets, reserve against the
// limits, plan the order of targets, and call the provider adapter
// (failing over between targets before the first byte reaches the
// client), streaming or buffering the answer; the exchange (exchange.go)
// then settles the limits and records the call before the answer's last
// byte goes out. The capabilities and their paths come from
// fsm.CapabilityTable; each endpoint supplies only its decoder and its
// operation.
//
// Everything on that path reads the node's local, immutable view of the
// replicated state; nothing waits on the network except the upstream call.
// The gateway never imports raft or the cluster package.
package gateway
