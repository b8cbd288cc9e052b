package mssql

import (
	"context"
	"net"
	"sync"
)

// trackingDialer dials TCP like the driver's own dialer and remembers the live connections, so
// a read whose context ends can close them at once. Without it a stalled server (no RST) holds
// the driver in a network read: it sends an attention, then waits seconds for a confirmation that
// never comes, twice (once in Next, once in Close). Closing the socket ends the pass at its
// deadline (MS-4); the pool then discards the connection.
type trackingDialer struct {
	d     net.Dialer
	mu    sync.Mutex
	conns map[*trackedConn]struct{}
}

func (t *trackingDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := t.d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	tc := &trackedConn{Conn: c, owner: t}
	t.mu.Lock()
	if t.conns == nil {
		t.conns = map[*trackedConn]struct{}{}
	}
	t.conns[tc] = struct{}{}
	t.mu.Unlock()
	return tc, nil
}

// closeAll closes every live connection (passes never overlap, so only the stuck one is busy).
func (t *trackingDialer) closeAll() {
	t.mu.Lock()
	conns := make([]*trackedConn, 0, len(t.conns))
	for c := range t.conns {
		conns = append(conns, c)
	}
	t.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
}

type trackedConn struct {
	net.Conn
	owner *trackingDialer
	once  sync.Once
}

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.owner.mu.Lock()
		delete(c.owner.conns, c)
		c.owner.mu.Unlock()
	})
	return c.Conn.Close()
}
