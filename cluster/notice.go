package cluster

import (
	"encoding/json"
	"sync"
)

// Notices are small, best-effort messages a node sends every live peer
// through gossip's transport (encrypted with the cluster secret), for
// state that is local by nature but worth sharing fast, such as a circuit
// breaker opening. They are not replicated and not durable: a node that
// misses one learns on its own.

// noticeMagic starts every notice, so other user messages can follow.
const noticeMagic byte = 'N'

type notice struct {
	Topic   string          `json:"t"`
	From    string          `json:"f"`
	Payload json.RawMessage `json:"p"`
}

type notices struct {
	mu       sync.RWMutex
	handlers map[string]func(from string, payload []byte)
}

// Subscribe calls h with every notice on topic a peer sends. One handler
// per topic; a later one replaces it.
func (n *Node) Subscribe(topic string, h func(from string, payload []byte)) {
	n.notices.mu.Lock()
	defer n.notices.mu.Unlock()
	if n.notices.handlers == nil {
		n.notices.handlers = map[string]func(from string, payload []byte){}
	}
	n.notices.handlers[topic] = h
}

// Notify sends payload (JSON) on topic to every live peer, in the
// background; a single node sends nothing.
func (n *Node) Notify(topic string, payload []byte) {
	if n.disc == nil {
		return
	}
	msg, err := json.Marshal(notice{Topic: topic, From: n.cfg.NodeID, Payload: payload})
	if err != nil {
		n.log.Error("encode notice", "topic", topic, "err", err)
		return
	}
	msg = append([]byte{noticeMagic}, msg...)
	for _, m := range n.disc.ml.Members() {
		if m.Name == n.cfg.NodeID {
			continue
		}
		go func() {
			if err := n.disc.ml.SendReliable(m, msg); err != nil {
				n.log.Debug("send notice", "topic", topic, "to", m.Name, "err", err)
			}
		}()
	}
}

// deliver hands a received notice to its topic's handler.
func (n *Node) deliver(msg []byte) {
	if len(msg) < 2 || msg[0] != noticeMagic {
		return
	}
	var nt notice
	if err := json.Unmarshal(msg[1:], &nt); err != nil || nt.From == n.cfg.NodeID {
		return
	}
	n.notices.mu.RLock()
	h := n.notices.handlers[nt.Topic]
	n.notices.mu.RUnlock()
	if h != nil {
		h(nt.From, nt.Payload)
	}
}
