package cluster

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// Connection types multiplexed on the raft address. Stored nowhere, but
// older and newer nodes must agree: never renumber.
const (
	connRaft byte = 1
	connRPC  byte = 2
)

// handshakeTimeout bounds the authentication exchange of a new connection.
const handshakeTimeout = 5 * time.Second

var errHandshake = errors.New("cluster: peer failed authentication")

// peerAuth authenticates node-to-node connections with a key derived from
// the cluster secret: each side proves it holds the key by answering the
// other's random challenge, so neither a stranger nor a replayed exchange
// gets a raft or RPC stream. TLS, when configured, wraps the whole
// connection underneath.
type peerAuth struct {
	key    []byte // nil when no cluster secret is set: single-node use only
	tls    *tls.Config
	nodeID string // sent in the hello so the accepting side knows its peer
	faults *faults
}

func (a *peerAuth) mac(label string, typ byte, cn, sn []byte, id string) []byte {
	m := hmac.New(sha256.New, a.key)
	m.Write([]byte(label))
	m.Write([]byte{typ})
	m.Write(cn)
	m.Write(sn)
	m.Write([]byte(id))
	return m.Sum(nil)
}

// dial opens an authenticated connection of type typ to addr.
func (a *peerAuth) dial(addr string, typ byte, timeout time.Duration) (net.Conn, error) {
	d := &net.Dialer{Timeout: timeout}
	var c net.Conn
	var err error
	if a.tls != nil {
		c, err = tls.DialWithDialer(d, "tcp", addr, a.tls)
	} else {
		c, err = d.Dial("tcp", addr)
	}
	if err != nil {
		return nil, err
	}
	if err := a.clientHandshake(c, typ); err != nil {
		c.Close()
		return nil, fmt.Errorf("handshake with %s: %w", addr, err)
	}
	return c, nil
}

func (a *peerAuth) clientHandshake(c net.Conn, typ byte) error {
	_ = c.SetDeadline(time.Now().Add(handshakeTimeout))
	defer c.SetDeadline(time.Time{})
	cn := make([]byte, 16)
	_, _ = rand.Read(cn)
	hello := append([]byte{typ}, cn...)
	hello = append(hello, byte(len(a.nodeID)))
	hello = append(hello, a.nodeID...)
	if _, err := c.Write(hello); err != nil {
		return err
	}
	resp := make([]byte, 16+32)
	if _, err := io.ReadFull(c, resp); err != nil {
		return err
	}
	sn, smac := resp[:16], resp[16:]
	if a.key != nil && !hmac.Equal(smac, a.mac("server", typ, cn, sn, a.nodeID)) {
		return errHandshake
	}
	_, err := c.Write(a.mac("client", typ, cn, sn, a.nodeID))
	return err
}

// serverHandshake authenticates an accepted connection and returns its
// type and the peer's node id.
func (a *peerAuth) serverHandshake(c net.Conn) (byte, string, error) {
	if a.key == nil {
		// No cluster secret: this node runs alone and accepts no peers.
		return 0, "", errHandshake
	}
	_ = c.SetDeadline(time.Now().Add(handshakeTimeout))
	defer c.SetDeadline(time.Time{})
	hello := make([]byte, 1+16+1)
	if _, err := io.ReadFull(c, hello); err != nil {
		return 0, "", err
	}
	typ, cn := hello[0], hello[1:17]
	idb := make([]byte, hello[17])
	if _, err := io.ReadFull(c, idb); err != nil {
		return 0, "", err
	}
	id := string(idb)
	sn := make([]byte, 16)
	_, _ = rand.Read(sn)
	if _, err := c.Write(append(sn, a.mac("server", typ, cn, sn, id)...)); err != nil {
		return 0, "", err
	}
	cmac := make([]byte, 32)
	if _, err := io.ReadFull(c, cmac); err != nil {
		return 0, "", err
	}
	if a.key != nil && !hmac.Equal(cmac, a.mac("client", typ, cn, sn, id)) {
		return 0, "", errHandshake
	}
	return typ, id, nil
}

// mux accepts connections on the raft address, authenticates them and
// hands each to the listener of its type.
type mux struct {
	ln    net.Listener
	auth  *peerAuth
	log   *slog.Logger
	subs  map[byte]*subListener
	wg    sync.WaitGroup
	close sync.Once

	// Raft's transport handles each inbound connection on a goroutine of
	// its own, outside raft's shutdown, and may still be writing to the
	// log store when raft has stopped. The mux tracks those connections so
	// the node can end them and wait before it closes the store.
	raftMu    sync.Mutex
	raftConns map[*trackedConn]struct{}
	raftWG    sync.WaitGroup
}

// trackedConn is an inbound raft connection; its handler closes it when it
// is done with it.
type trackedConn struct {
	net.Conn
	m    *mux
	once sync.Once
}

func (c *trackedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		c.m.raftMu.Lock()
		delete(c.m.raftConns, c)
		c.m.raftMu.Unlock()
		c.m.raftWG.Done()
	})
	return err
}

// drainRaft makes every inbound raft connection fail its next read or
// write, then waits (up to timeout) for their handlers to let go.
func (m *mux) drainRaft(timeout time.Duration) bool {
	m.raftMu.Lock()
	for c := range m.raftConns {
		_ = c.Conn.SetDeadline(time.Now())
	}
	m.raftMu.Unlock()
	done := make(chan struct{})
	go func() { m.raftWG.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(timeout):
		return false
	}
}

func newMux(addr string, auth *peerAuth, lg *slog.Logger) (*mux, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	if auth.tls != nil {
		ln = tls.NewListener(ln, auth.tls)
	}
	m := &mux{ln: ln, auth: auth, log: lg, subs: map[byte]*subListener{}, raftConns: map[*trackedConn]struct{}{}}
	for _, t := range []byte{connRaft, connRPC} {
		m.subs[t] = &subListener{addr: ln.Addr(), conns: make(chan net.Conn), done: make(chan struct{})}
	}
	m.wg.Add(1)
	go m.serve()
	return m, nil
}

func (m *mux) serve() {
	defer m.wg.Done()
	for {
		c, err := m.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			m.log.Warn("accept on raft address", "err", err)
			time.Sleep(50 * time.Millisecond)
			continue
		}
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			typ, peer, err := m.auth.serverHandshake(c)
			sub := m.subs[typ]
			if err != nil || sub == nil {
				m.log.Warn("refused a node-to-node connection", "remote", c.RemoteAddr().String(), "err", err)
				c.Close()
				return
			}
			if f := m.auth.faults; f != nil {
				if !f.allowed(peer, m.auth.nodeID) {
					c.Close()
					return
				}
				c = &faultConn{Conn: c, f: f, a: peer, b: m.auth.nodeID}
			}
			if typ == connRaft {
				tc := &trackedConn{Conn: c, m: m}
				m.raftMu.Lock()
				m.raftConns[tc] = struct{}{}
				m.raftWG.Add(1)
				m.raftMu.Unlock()
				c = tc
			}
			select {
			case sub.conns <- c:
			case <-sub.done:
				c.Close()
			}
		}()
	}
}

func (m *mux) listener(typ byte) *subListener { return m.subs[typ] }

// Close stops accepting and closes every sub-listener.
func (m *mux) Close() error {
	var err error
	m.close.Do(func() {
		err = m.ln.Close()
		for _, s := range m.subs {
			s.Close()
		}
		m.wg.Wait()
	})
	return err
}

// subListener is the net.Listener of one connection type.
type subListener struct {
	addr  net.Addr
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func (s *subListener) Accept() (net.Conn, error) {
	select {
	case c := <-s.conns:
		return c, nil
	case <-s.done:
		return nil, net.ErrClosed
	}
}

func (s *subListener) Close() error {
	s.once.Do(func() { close(s.done) })
	return nil
}

func (s *subListener) Addr() net.Addr { return s.addr }

// raftLayer is raft's StreamLayer over the mux.
type raftLayer struct {
	*subListener
	auth      *peerAuth
	advertise net.Addr
}

func (l *raftLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	return l.auth.dial(string(address), connRaft, timeout)
}

func (l *raftLayer) Addr() net.Addr {
	if l.advertise != nil {
		return l.advertise
	}
	return l.subListener.Addr()
}
