package cluster

import (
	"encoding/json"
	"net"
	"strconv"
	"sync"

	"github.com/hashicorp/memberlist"
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

// Outgoing notices wait in a bounded queue that a few senders, owned by
// the node, drain: a slow or dead peer holds up one sender for at most
// gossip's TCP timeout, and a burst beyond the queue is dropped (notices
// are best effort) instead of piling up goroutines.
const (
	noticeQueueLen = 256
	noticeSenders  = 4
)

type notices struct {
	mu       sync.RWMutex
	handlers map[string]func(from string, payload []byte)
	// queue is nil on a node without gossip.
	queue chan outgoingNotice
}

// outgoingNotice is one notice to one peer.
type outgoingNotice struct {
	to    *memberlist.Node
	topic string
	msg   []byte
}

// startNoticeSenders starts the goroutines that send queued notices until
// the node stops. Call it once, after n.disc is set.
func (n *Node) startNoticeSenders() {
	n.notices.queue = make(chan outgoingNotice, noticeQueueLen)
	for range noticeSenders {
		n.spawn(n.sendNotices)
	}
}

func (n *Node) sendNotices() {
	for {
		select {
		case <-n.stop:
			return
		case o := <-n.notices.queue:
			if err := n.disc.ml.SendReliable(o.to, o.msg); err != nil {
				n.log.Debug("send notice", "topic", o.topic, "to", o.to.Name, "err", err)
			}
		}
	}
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

// Notify queues payload (JSON) on topic for every live peer and returns;
// the node's senders deliver it. A single node sends nothing, and a
// notice that finds the queue full is dropped.
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
	// The live members are discovery's copies: memberlist's own *Node
	// values change under its lock while a sender would read them.
	for _, m := range n.disc.members() {
		if m.ID == n.cfg.NodeID {
			continue
		}
		to, ok := gossipNode(m)
		if !ok {
			continue
		}
		select {
		case n.notices.queue <- outgoingNotice{to: to, topic: topic, msg: msg}:
		case <-n.stop:
			return
		default:
			n.log.Debug("notice queue full; dropped a notice", "topic", topic, "to", m.ID)
		}
	}
}

// gossipNode is a memberlist node of this node's own to send m a message.
func gossipNode(m Member) (*memberlist.Node, bool) {
	host, port, err := net.SplitHostPort(m.GossipAddr)
	if err != nil {
		return nil, false
	}
	p, err := strconv.ParseUint(port, 10, 16)
	ip := net.ParseIP(host)
	if err != nil || ip == nil {
		return nil, false
	}
	return &memberlist.Node{Name: m.ID, Addr: ip, Port: uint16(p)}, true
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
