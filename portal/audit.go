package portal

import (
	"context"
	"html/template"
	"log/slog"
	"sync"
	"time"

	"mypt"
)

// auditWriter writes audit records in the background, many to a transaction, so a page view
// does not wait for its own write. Records are written within the flush interval; Close and
// FlushAudit write everything pending.
type auditWriter struct {
	store    Auth
	log      *slog.Logger
	interval time.Duration
	ch       chan auditItem
	done     chan struct{}
	once     sync.Once
	mu       sync.RWMutex // held for reading while sending, so close never races a send
	closed   bool
}

// auditItem is a record, or (with flushed set) a request to report when all before it are written.
type auditItem struct {
	entry   mypt.AuditEntry
	flushed chan struct{}
}

const auditBatch = 256

func newAuditWriter(store Auth, log *slog.Logger, interval time.Duration) *auditWriter {
	a := &auditWriter{store: store, log: log, interval: interval, ch: make(chan auditItem, 4096), done: make(chan struct{})}
	go a.run()
	return a
}

// add queues e. When the queue is full it blocks, so records are never dropped; after close
// (a request still finishing during shutdown) it writes e directly.
func (a *auditWriter) add(e mypt.AuditEntry) {
	a.mu.RLock()
	if !a.closed {
		a.ch <- auditItem{entry: e}
		a.mu.RUnlock()
		return
	}
	a.mu.RUnlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.store.WriteAudit(ctx, e); err != nil {
		a.log.Error("portal: write audit record", "err", err)
	}
}

func (a *auditWriter) run() {
	defer close(a.done)
	var pending []mypt.AuditEntry
	var waiters []chan struct{}
	timer := time.NewTimer(a.interval)
	defer timer.Stop()
	write := func() {
		if len(pending) > 0 {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			if err := a.store.WriteAudit(ctx, pending...); err != nil {
				a.log.Error("portal: write audit records", "count", len(pending), "err", err)
			}
			cancel()
			pending = pending[:0]
		}
		for _, w := range waiters {
			close(w)
		}
		waiters = waiters[:0]
	}
	for {
		select {
		case it, ok := <-a.ch:
			if !ok {
				write()
				return
			}
			if it.flushed != nil {
				waiters = append(waiters, it.flushed)
				write()
				continue
			}
			pending = append(pending, it.entry)
			if len(pending) >= auditBatch {
				write()
			}
		case <-timer.C:
			write()
			timer.Reset(a.interval)
		}
	}
}

func (a *auditWriter) flush(ctx context.Context) error {
	done := make(chan struct{})
	a.mu.RLock()
	if a.closed {
		a.mu.RUnlock()
		return nil // close wrote everything
	}
	select {
	case a.ch <- auditItem{flushed: done}:
		a.mu.RUnlock()
	case <-ctx.Done():
		a.mu.RUnlock()
		return ctx.Err()
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (a *auditWriter) close(ctx context.Context) error {
	a.once.Do(func() {
		a.mu.Lock()
		a.closed = true
		close(a.ch)
		a.mu.Unlock()
	})
	select {
	case <-a.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// pageCache keeps rendered report fragments per (student, data version, year). A new version
// means a new key, so a sync that changes a student never serves a stale page; old entries are
// evicted oldest first when the cache is full.
type pageCache struct {
	mu    sync.Mutex
	max   int
	items map[pageKey]cachedPage
	order []pageKey
}

// cachedPage is a rendered fragment and the year it shows. A slotted page (slotted.go) is
// body and extra around the CSRF token, with the audit detail and the data-as-of time it shows.
type cachedPage struct {
	body       []byte
	extra      []byte
	year       int
	yearDetail string
	asOf       time.Time
	// nav and line are a student's rendered menu and heading line (renderNav), kept as
	// strings so a hit copies nothing.
	nav, line template.HTML
}

type pageKey struct {
	student string
	version int64
	year    int
	kind    string
	sub     string // within kind, e.g. the page whose menu it is
}

func newPageCache(max int) *pageCache {
	if max < 0 {
		max = 0
	}
	return &pageCache{max: max, items: map[pageKey]cachedPage{}}
}

func (c *pageCache) get(k pageKey) (cachedPage, bool) {
	if c.max == 0 {
		return cachedPage{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	b, ok := c.items[k]
	return b, ok
}

func (c *pageCache) put(k pageKey, b cachedPage) {
	if c.max == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.items[k]; ok {
		return
	}
	for len(c.order) >= c.max {
		delete(c.items, c.order[0])
		c.order = c.order[1:]
	}
	c.items[k] = b
	c.order = append(c.order, k)
}

// Forget drops every cached page of the students (call it after a sync changed them; the
// version key makes this an optimisation, not a correctness need).
func (s *Server) Forget(studentIDs ...string) {
	c := s.pages
	c.mu.Lock()
	defer c.mu.Unlock()
	drop := map[string]bool{}
	for _, id := range studentIDs {
		drop[id] = true
	}
	kept := c.order[:0]
	for _, k := range c.order {
		if drop[k.student] {
			delete(c.items, k)
			continue
		}
		kept = append(kept, k)
	}
	c.order = kept
}
