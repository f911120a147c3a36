// Package gateway is the /v1 data plane: the OpenAI-compatible API that
// business systems call with gk_ keys.
//
// A request goes through a fixed pipeline (server.go): recover, request id,
// body limit, authenticate, decode and validate, resolve the model to
// upstream targets, call the provider adapter (failing over between targets
// before the first byte reaches the client), stream or buffer the answer,
// then account for its usage.
//
// Everything on that path reads the node's local, immutable view of the
// replicated state; nothing waits on the network except the upstream call.
// The gateway never imports raft or the cluster package.
package gateway
