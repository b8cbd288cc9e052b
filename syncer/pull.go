// Package syncer holds mypt's background workers. pull.go is the MIS pull loop: incremental
// passes by rowversion on an interval, a nightly reconciliation of key sets, and on-demand passes.
package syncer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"mypt"
)

// Source is the MIS as the pull loop needs it (adapters/mssql implements it).
type Source interface {
	// Name names the source in watermarks and batches ("mssql").
	Name() string
	// Bound is the exclusive upper bound of a pass: MIN_ACTIVE_ROWVERSION().
	Bound(ctx context.Context) ([]byte, error)
	// ReadChanges streams the rows of e with after < RowVer < before in RowVer order. For a row
	// that cannot be converted, row is nil and reject says why (key and rowVer still set).
	ReadChanges(ctx context.Context, e mypt.Entity, after, before []byte,
		fn func(key string, rowVer []byte, row mypt.Row, reject error) error) error
	// ReadKeys streams every key of e.
	ReadKeys(ctx context.Context, e mypt.Entity, fn func(key string) error) error
	// Retryable says whether an error is transient (deadlock, failover, dropped connection).
	Retryable(err error) bool
}

// Cache is the local cache as the pull loop needs it (adapters/sqlite implements it).
type Cache interface {
	// ApplyBatch commits records and watermarks in one transaction.
	ApplyBatch(ctx context.Context, b mypt.Batch) (mypt.BatchResult, error)
	// Watermark is the last committed watermark of source for e, or nil.
	Watermark(ctx context.Context, source string, e mypt.Entity) ([]byte, error)

	// The stage holds a pass larger than one batch until it has been read to its end.
	// StageBatch keeps batch seq (0, 1, …) of a pass of e aside, invisible to readers.
	StageBatch(ctx context.Context, source string, e mypt.Entity, seq int, recs []mypt.Record) error
	// PublishStage applies the staged pass of e in order, its last batch with watermark; once
	// called, the pass is applied whole even if the process stops (ResumeStage finishes it).
	PublishStage(ctx context.Context, source string, e mypt.Entity, watermark []byte) (mypt.BatchResult, error)
	// ResumeStage finishes a publish that was interrupted (published is then true) and drops the
	// batches of a pass that was never read to its end.
	ResumeStage(ctx context.Context, source string, e mypt.Entity) (res mypt.BatchResult, published bool, err error)
	// DiscardStage drops the staged batches of e.
	DiscardStage(ctx context.Context, source string, e mypt.Entity) error

	// MissingKeys finds the cached keys of e that mis does not yield, in memory that does not
	// grow with the key sets (they are compared in scratch space, not in maps). mis streams the
	// source's keys, returning yield's error. Then check gets the number of distinct keys mis
	// yielded, of cached keys and of cached keys missing from mis; unless check fails, fn gets
	// each missing key and may write to the cache (ApplyBatch). The first error of mis, check or
	// fn is returned unwrapped.
	MissingKeys(ctx context.Context, e mypt.Entity, mis func(yield func(key string) error) error,
		check func(misKeys, cached, missing int) error, fn func(key string) error) error
}

// Run is one entity's part of a pass, as recorded in the run history.
type Run struct {
	Source     string
	Entity     mypt.Entity
	Kind       string // incremental | full | reconcile
	StartedAt  time.Time
	FinishedAt time.Time
	Read       int
	Upserted   int
	Unchanged  int
	Rejected   int
	Deleted    int
	Err        error
}

// PullOptions configure a Puller. Zero values take the defaults of config.MISConfig.
type PullOptions struct {
	Source   Source
	Cache    Cache
	Entities []mypt.Entity // default mypt.Entities

	PollInterval    time.Duration // default 5m
	PassTimeout     time.Duration // default 10m
	BatchRows       int           // default 20000
	Reconcile       Daily         // default 02:30 Europe/London
	MaxDeleteShare  float64       // default 0.2
	RetryAttempts   int           // default 4
	RetryBackoff    time.Duration // default 1s
	RetryMaxBackoff time.Duration // default 30s

	// RecordRun, when set, stores each entity's run in the history (errors are logged).
	RecordRun func(ctx context.Context, r Run) error
	// LastSuccess, when set, tells NewPuller when each entity's last successful pass finished,
	// from the run history, so that after a restart LastSuccess (and so /readyz),
	// mypt_sync_last_success_timestamp_seconds and mypt_sync_watermark_age_seconds describe the
	// cache as it is, not as if it had never been synced. An error is logged and the Puller
	// starts without them.
	LastSuccess func(ctx context.Context) (map[mypt.Entity]time.Time, error)

	Logger     *slog.Logger
	Registerer prometheus.Registerer
	Now        func() time.Time
	// Sleep waits between retries; default a timer that ends early with ctx.
	Sleep func(ctx context.Context, d time.Duration)
}

// Puller mirrors the MIS into the cache. Passes never overlap: the loop, RunOnce and
// Reconcile all take the same slot.
type Puller struct {
	o       PullOptions
	log     *slog.Logger
	slot    chan struct{}
	trigger chan struct{}

	mu          sync.Mutex
	lastSuccess map[mypt.Entity]time.Time

	passes     *prometheus.CounterVec
	rows       *prometheus.CounterVec
	duration   *prometheus.HistogramVec
	lastOK     *prometheus.GaugeVec
	wmAge      *prometheus.GaugeVec
	reconciled *prometheus.CounterVec
}

// NewPuller builds a Puller and registers its metrics on o.Registerer (every label value
// exported as 0 from the start, PM-2).
func NewPuller(o PullOptions) (*Puller, error) {
	if o.Source == nil || o.Cache == nil {
		return nil, errors.New("syncer: a Puller needs a Source and a Cache")
	}
	if len(o.Entities) == 0 {
		o.Entities = mypt.Entities
	}
	if o.PollInterval <= 0 {
		o.PollInterval = 5 * time.Minute
	}
	if o.PassTimeout <= 0 {
		o.PassTimeout = 10 * time.Minute
	}
	if o.BatchRows <= 0 {
		o.BatchRows = 20000
	}
	if o.Reconcile.Loc == nil {
		loc, err := time.LoadLocation("Europe/London")
		if err != nil {
			return nil, fmt.Errorf("syncer: load Europe/London: %w", err)
		}
		o.Reconcile = Daily{Hour: 2, Minute: 30, Loc: loc}
	}
	if o.MaxDeleteShare <= 0 {
		o.MaxDeleteShare = 0.2
	}
	if o.RetryAttempts <= 0 {
		o.RetryAttempts = 4
	}
	if o.RetryBackoff <= 0 {
		o.RetryBackoff = time.Second
	}
	if o.RetryMaxBackoff <= 0 {
		o.RetryMaxBackoff = 30 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Registerer == nil {
		o.Registerer = prometheus.NewRegistry()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Sleep == nil {
		o.Sleep = func(ctx context.Context, d time.Duration) {
			t := time.NewTimer(d)
			defer t.Stop()
			select {
			case <-t.C:
			case <-ctx.Done():
			}
		}
	}
	p := &Puller{
		o: o, log: o.Logger, slot: make(chan struct{}, 1), trigger: make(chan struct{}, 1),
		lastSuccess: map[mypt.Entity]time.Time{},
	}
	reg := o.Registerer
	p.passes = registerOrReuse(reg, prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mypt_sync_passes_total",
		Help: "Pull passes per entity, by result."}, []string{"entity", "result"}))
	p.rows = registerOrReuse(reg, prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mypt_sync_rows_total",
		Help: "Rows pulled from the MIS per entity, by operation and result."}, []string{"entity", "op", "result"}))
	p.duration = registerOrReuse(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "mypt_sync_pass_duration_seconds",
		Help:    "Duration of one entity's pull pass.",
		Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600}}, []string{"entity"}))
	p.lastOK = registerOrReuse(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "mypt_sync_last_success_timestamp_seconds",
		Help: "Unix time of the entity's last successful pull pass."}, []string{"entity"}))
	p.wmAge = registerOrReuse(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "mypt_sync_watermark_age_seconds",
		Help: "Seconds since the entity's cache was last known to be current with the MIS."}, []string{"entity"}))
	p.reconciled = registerOrReuse(reg, prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mypt_reconcile_deletes_total",
		Help: "Cached rows deleted by reconciliation because the MIS no longer has them."}, []string{"entity"}))
	for _, e := range mypt.Entities {
		l := string(e)
		p.passes.WithLabelValues(l, "success")
		p.passes.WithLabelValues(l, "failure")
		for _, op := range []string{"upsert", "delete"} {
			p.rows.WithLabelValues(l, op, "applied")
			p.rows.WithLabelValues(l, op, "rejected")
		}
		p.duration.WithLabelValues(l)
		p.reconciled.WithLabelValues(l)
	}
	// The freshness gauges exist only for the entities pulled: an entity left out by
	// mis.entities is never pulled, and a series stuck at 0 would keep /readyz and the
	// staleness alert failing for ever.
	for _, e := range o.Entities {
		p.lastOK.WithLabelValues(string(e))
		p.wmAge.WithLabelValues(string(e))
	}
	if o.LastSuccess != nil {
		p.restoreLastSuccess()
	}
	return p, nil
}

// restoreLastSuccess learns each configured entity's last successful pass from o.LastSuccess.
func (p *Puller) restoreLastSuccess() {
	// NewPuller has no context; the history is a local query, bounded here.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	last, err := p.o.LastSuccess(ctx)
	if err != nil {
		p.log.Warn("mis: cannot read the last successful passes from the run history; not ready until a pass succeeds", "err", err)
		return
	}
	now := p.o.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, e := range p.o.Entities {
		t, ok := last[e]
		if !ok || t.IsZero() {
			continue
		}
		if cur, ok := p.lastSuccess[e]; ok && !cur.Before(t) {
			continue
		}
		p.lastSuccess[e] = t
		p.lastOK.WithLabelValues(string(e)).Set(float64(t.Unix()))
		p.wmAge.WithLabelValues(string(e)).Set(max(now.Sub(t).Seconds(), 0))
	}
}

// Trigger asks the loop for a pass now (POST /mis/v1/sync). It never blocks; a request made
// while one is already pending is merged with it.
func (p *Puller) Trigger() {
	select {
	case p.trigger <- struct{}{}:
	default:
	}
}

// Run is the loop: a pass at start, then every PollInterval, a reconciliation daily at the
// Reconcile time, and a pass on Trigger. It returns nil when ctx ends.
func (p *Puller) Run(ctx context.Context) error {
	now := p.o.Now()
	nextPoll := now
	nextRecon := p.o.Reconcile.Next(now)
	p.log.Info("mis pull: started", "poll_interval", p.o.PollInterval.String(),
		"next_reconcile", nextRecon.In(p.o.Reconcile.Loc).Format(time.RFC3339))
	for {
		wake := nextPoll
		if nextRecon.Before(wake) {
			wake = nextRecon
		}
		wait := wake.Sub(p.o.Now())
		if wait > 30*time.Second {
			wait = 30 * time.Second // keep mypt_sync_watermark_age_seconds moving
		}
		timer := time.NewTimer(max(wait, 0))
		triggered := false
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil
		case <-p.trigger:
			triggered = true
		case <-timer.C:
		}
		timer.Stop()
		now = p.o.Now()
		p.updateAges(now)
		switch {
		case !now.Before(nextRecon):
			// The next run is computed before this one starts, from the calendar (DM-4): a slow
			// reconciliation cannot make the job run twice, a sleeping host does not queue catch-ups.
			nextRecon = p.o.Reconcile.Next(now)
			if err := p.Reconcile(ctx, "", false); err != nil && ctx.Err() == nil {
				p.log.Error("mis reconcile failed", "err", err)
			}
		case triggered || !now.Before(nextPoll):
			if err := p.RunOnce(ctx, "", false); err != nil && ctx.Err() == nil {
				p.log.Error("mis pull pass failed", "err", err)
			}
			nextPoll = p.o.Now().Add(p.o.PollInterval)
		}
	}
}

// LastSuccess is when every configured entity had last been pulled successfully: the oldest of
// their last successful passes (in this process, or before it as PullOptions.LastSuccess said),
// or the zero time while any entity has never succeeded. It answers /readyz's "last successful
// sync within the configured age".
func (p *Puller) LastSuccess() time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	var oldest time.Time
	for _, e := range p.o.Entities {
		t, ok := p.lastSuccess[e]
		if !ok {
			return time.Time{}
		}
		if oldest.IsZero() || t.Before(oldest) {
			oldest = t
		}
	}
	return oldest
}

func (p *Puller) updateAges(now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for e, t := range p.lastSuccess {
		p.wmAge.WithLabelValues(string(e)).Set(now.Sub(t).Seconds())
	}
}

func (p *Puller) acquire(ctx context.Context) error {
	select {
	case p.slot <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (p *Puller) release() { <-p.slot }

func (p *Puller) entities(entity mypt.Entity) ([]mypt.Entity, error) {
	if entity == "" {
		return p.o.Entities, nil
	}
	if !entity.Valid() {
		return nil, fmt.Errorf("syncer: unknown entity %q", entity)
	}
	return []mypt.Entity{entity}, nil
}

// RunOnce runs one pass over entity (every configured entity when ""), within PassTimeout.
// full re-reads every row from the start and then reconciles the key sets. It waits for a
// pass already running to end. It returns the failures of every entity, joined; the other
// entities are still pulled.
func (p *Puller) RunOnce(ctx context.Context, entity mypt.Entity, full bool) error {
	return p.pass(ctx, entity, func(ctx context.Context, e mypt.Entity) error {
		return p.pullWithRetry(ctx, e, full)
	})
}

// Reconcile compares each entity's key set in the MIS with the cache and deletes cached rows the
// MIS no longer has; it refuses to delete more than MaxDeleteShare of an entity's rows unless
// force. An incremental pass runs first, so only deletions remain to be found.
func (p *Puller) Reconcile(ctx context.Context, entity mypt.Entity, force bool) error {
	return p.pass(ctx, entity, func(ctx context.Context, e mypt.Entity) error {
		if err := p.pullWithRetry(ctx, e, false); err != nil {
			return err // never delete on the strength of a pull that failed
		}
		return p.reconcileWithRetry(ctx, e, force)
	})
}

// pass runs each of entity's entities (every configured one when "") through one, in the slot
// and within PassTimeout, and joins their failures; a failed entity does not stop the others.
func (p *Puller) pass(ctx context.Context, entity mypt.Entity, one func(context.Context, mypt.Entity) error) error {
	es, err := p.entities(entity)
	if err != nil {
		return err
	}
	if err := p.acquire(ctx); err != nil {
		return err
	}
	defer p.release()
	ctx, cancel := context.WithTimeout(ctx, p.o.PassTimeout)
	defer cancel()
	var errs []error
	for _, e := range es {
		if err := one(ctx, e); err != nil {
			errs = append(errs, err)
		}
		if ctx.Err() != nil {
			break
		}
	}
	return errors.Join(errs...)
}

// backoff is exponential from RetryBackoff with full jitter, capped at RetryMaxBackoff.
func (p *Puller) backoff(attempt int) time.Duration {
	d := p.o.RetryBackoff << (attempt - 1)
	if d > p.o.RetryMaxBackoff || d <= 0 {
		d = p.o.RetryMaxBackoff
	}
	return d/2 + rand.N(d/2+1)
}

func (p *Puller) retry(ctx context.Context, what string, e mypt.Entity, fn func() error) error {
	for attempt := 1; ; attempt++ {
		err := fn()
		if err == nil || ctx.Err() != nil || attempt >= p.o.RetryAttempts || !p.o.Source.Retryable(err) {
			return err
		}
		d := p.backoff(attempt)
		p.log.Warn("mis "+what+": transient error, retrying on a fresh connection", "entity", string(e),
			"attempt", attempt, "retry_in", d.String(), "err", err)
		p.o.Sleep(ctx, d)
	}
}

func (p *Puller) pullWithRetry(ctx context.Context, e mypt.Entity, full bool) error {
	return p.retry(ctx, "pull", e, func() error {
		run, err := p.pull(ctx, e, full)
		p.finish(ctx, run, err)
		return err
	})
}

func (p *Puller) reconcileWithRetry(ctx context.Context, e mypt.Entity, force bool) error {
	return p.retry(ctx, "reconcile", e, func() error {
		run, err := p.reconcile(ctx, e, force)
		p.finish(ctx, run, err)
		return err
	})
}

// finish records metrics, the log line and the run history of one entity's run.
func (p *Puller) finish(ctx context.Context, run Run, err error) {
	run.FinishedAt = p.o.Now()
	run.Err = err
	l := string(run.Entity)
	p.duration.WithLabelValues(l).Observe(run.FinishedAt.Sub(run.StartedAt).Seconds())
	if err != nil {
		p.passes.WithLabelValues(l, "failure").Inc()
		p.log.Error("mis "+run.Kind+" failed", "entity", l, "read", run.Read, "err", err)
	} else {
		p.passes.WithLabelValues(l, "success").Inc()
		if run.Kind != "reconcile" {
			p.lastOK.WithLabelValues(l).Set(float64(run.FinishedAt.Unix()))
			p.wmAge.WithLabelValues(l).Set(0)
			p.mu.Lock()
			p.lastSuccess[run.Entity] = run.FinishedAt
			p.mu.Unlock()
		}
		if run.Read > 0 || run.Deleted > 0 || run.Rejected > 0 {
			p.log.Info("mis "+run.Kind, "entity", l, "read", run.Read, "upserted", run.Upserted,
				"unchanged", run.Unchanged, "rejected", run.Rejected, "deleted", run.Deleted,
				"took", run.FinishedAt.Sub(run.StartedAt).Round(time.Millisecond).String())
		}
	}
	if p.o.RecordRun != nil {
		// Recorded even when ctx has ended (a timed-out pass is the one worth a record).
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if rerr := p.o.RecordRun(rctx, run); rerr != nil {
			p.log.Warn("mis: cannot record sync run", "entity", l, "err", rerr)
		}
	}
}

// maxBatchBytes closes a batch early when its documents grow large, whatever BatchRows says.
const maxBatchBytes = 64 << 20

// pull reads e's changes since its watermark and applies them with the RowVer of the last row
// as the new watermark. A pass that fits one batch is applied in one transaction. A larger pass
// is staged batch by batch while it is read and applied only once read to its end, so a failure
// at any point of the read leaves the cache and the watermark as they were before the pass; a
// publish that a crash interrupts is finished by the next pass (Cache.ResumeStage).
func (p *Puller) pull(ctx context.Context, e mypt.Entity, full bool) (Run, error) {
	src := p.o.Source
	run := Run{Source: src.Name(), Entity: e, Kind: "incremental", StartedAt: p.o.Now()}
	if full {
		run.Kind = "full"
	}
	resumed, published, err := p.o.Cache.ResumeStage(ctx, src.Name(), e)
	if published {
		p.count(&run, resumed, -1)
		p.log.Info("mis: finished applying a pass that was read before the last stop", "entity", string(e),
			"upserted", resumed.Upserted, "unchanged", resumed.Unchanged)
	}
	if err != nil {
		return run, err
	}
	wm, err := p.o.Cache.Watermark(ctx, src.Name(), e)
	if err != nil {
		return run, err
	}
	bound, err := src.Bound(ctx)
	if err != nil {
		return run, err
	}
	reconcile := full
	if !full && wm != nil && bytes.Compare(wm, bound) >= 0 {
		// The MIS's rowversions are behind what we have read: it was restored or rebuilt.
		// The watermark cannot be trusted: read everything again, then reconcile.
		p.log.Warn("mis: watermark is ahead of the MIS (restored database?); reading everything again and reconciling",
			"entity", string(e), "watermark", fmt.Sprintf("%x", wm), "min_active_rowversion", fmt.Sprintf("%x", bound))
		reconcile = true
		run.Kind = "full"
	}
	if reconcile {
		wm = nil
	}
	// Reading and staging overlap: while one batch is staged, the next is read. The first batch
	// is held back: if the read ends with it, it is applied directly with the watermark.
	type pending struct {
		recs []mypt.Record
		last []byte
	}
	type staging struct {
		held   *pending
		staged int // batches in the stage
		err    error
	}
	batches := make(chan pending, 1)
	readCtx, cancelRead := context.WithCancel(ctx)
	defer cancelRead()
	staged := make(chan staging, 1)
	go func() {
		var st staging
		for b := range batches {
			if st.err != nil {
				continue
			}
			if st.held == nil && st.staged == 0 {
				st.held = &b
				continue
			}
			for _, x := range []*pending{st.held, &b} {
				if x == nil {
					continue
				}
				if err := p.o.Cache.StageBatch(ctx, src.Name(), e, st.staged, x.recs); err != nil {
					st.err = fmt.Errorf("syncer: stage %s batch: %w", e, err)
					cancelRead()
					break
				}
				st.staged++
			}
			st.held = nil
		}
		staged <- st
	}()
	var recs []mypt.Record
	var last, passLast []byte
	size, sent := 0, 0
	send := func() error {
		if last == nil {
			return nil
		}
		select {
		case batches <- pending{recs, last}:
		case <-readCtx.Done():
			return readCtx.Err()
		}
		sent += len(recs)
		passLast = last
		recs, last, size = make([]mypt.Record, 0, len(recs)), nil, 0
		return nil
	}
	err = src.ReadChanges(readCtx, e, wm, bound, func(key string, rowVer []byte, row mypt.Row, reject error) error {
		run.Read++
		if reject != nil {
			p.reject(&run, key, reject.Error())
		} else {
			recs = append(recs, mypt.Record{Entity: e, Op: mypt.OpUpsert, Key: key, Row: row})
			if d, ok := row.(mypt.Document); ok {
				size += len(d.Content)
			}
		}
		last = rowVer
		if len(recs) >= p.o.BatchRows || size >= maxBatchBytes {
			return send()
		}
		return nil
	})
	if err == nil {
		err = send()
	}
	close(batches)
	st := <-staged
	if err == nil {
		err = st.err
	}
	if err != nil {
		if st.staged > 0 {
			// Dropped now; a process that stops before this drops them at its next pass.
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			if derr := p.o.Cache.DiscardStage(dctx, src.Name(), e); derr != nil {
				p.log.Warn("mis: cannot drop the staged batches of a failed pass; the next pass drops them", "entity", string(e), "err", derr)
			}
			cancel()
		}
		return run, err
	}
	var res mypt.BatchResult
	switch {
	case st.staged > 0:
		res, err = p.o.Cache.PublishStage(ctx, src.Name(), e, passLast)
	case st.held != nil:
		res, err = p.o.Cache.ApplyBatch(ctx, mypt.Batch{Source: src.Name(), Mode: mypt.ModeDelta, Records: st.held.recs,
			Watermarks: []mypt.Watermark{{Entity: e, Value: st.held.last}}})
	}
	if err != nil {
		return run, fmt.Errorf("syncer: apply %s: %w", e, err)
	}
	p.count(&run, res, sent)
	if reconcile {
		rr, err := p.reconcile(ctx, e, false)
		run.Deleted += rr.Deleted
		if err != nil {
			return run, err
		}
	}
	return run, nil
}

// count adds an applied pass's result to run and the metrics; sent is how many records were
// applied (-1: all but the rejected, counted from res).
func (p *Puller) count(run *Run, res mypt.BatchResult, sent int) {
	run.Upserted += res.Upserted
	run.Unchanged += res.Unchanged
	run.Deleted += res.Deleted
	applied := res.Upserted + res.Unchanged
	if sent >= 0 {
		applied = sent - len(res.Rejected)
	}
	p.rows.WithLabelValues(string(run.Entity), "upsert", "applied").Add(float64(applied))
	for _, r := range res.Rejected {
		p.reject(run, r.Key, r.Reason)
	}
}

// reject reports one row that was not applied: its key and reason, never its content.
func (p *Puller) reject(run *Run, key, reason string) {
	run.Rejected++
	p.rows.WithLabelValues(string(run.Entity), "upsert", "rejected").Inc()
	p.log.Warn("mis: row rejected", "entity", string(run.Entity), "key", key, "reason", reason)
}

// ErrTooManyDeletes is returned (wrapping mypt.ErrRefused) when a reconciliation would delete
// more than the allowed share of an entity's rows.
var ErrTooManyDeletes = fmt.Errorf("%w: reconciliation would delete too many rows", mypt.ErrRefused)

// reconcile deletes e's cached rows the MIS no longer has. The key sets are compared by the
// cache in its scratch space (Cache.MissingKeys) and the deletions applied BatchRows at a time,
// so its memory does not grow with the table.
func (p *Puller) reconcile(ctx context.Context, e mypt.Entity, force bool) (Run, error) {
	run := Run{Source: p.o.Source.Name(), Entity: e, Kind: "reconcile", StartedAt: p.o.Now()}
	var recs []mypt.Record
	flush := func() error {
		if len(recs) == 0 {
			return nil
		}
		res, err := p.o.Cache.ApplyBatch(ctx, mypt.Batch{Source: p.o.Source.Name(), Mode: mypt.ModeDelta, Records: recs, Force: force})
		if err != nil {
			return fmt.Errorf("syncer: apply %s deletions: %w", e, err)
		}
		run.Deleted += res.Deleted
		p.rows.WithLabelValues(string(e), "delete", "applied").Add(float64(res.Deleted))
		p.rows.WithLabelValues(string(e), "delete", "rejected").Add(float64(len(res.Rejected)))
		p.reconciled.WithLabelValues(string(e)).Add(float64(res.Deleted))
		recs = recs[:0]
		return nil
	}
	gone := 0
	err := p.o.Cache.MissingKeys(ctx, e,
		func(yield func(key string) error) error { return p.o.Source.ReadKeys(ctx, e, yield) },
		func(misKeys, cached, missing int) error {
			run.Read, gone = misKeys, missing
			if !force && float64(missing) > p.o.MaxDeleteShare*float64(cached) {
				return fmt.Errorf("syncer: %s: %w: %d of %d cached rows are not in the MIS (limit %.0f%%); check the MIS, then run `mypt sync --once --entity %s --force`",
					e, ErrTooManyDeletes, missing, cached, p.o.MaxDeleteShare*100, e)
			}
			return nil
		},
		func(k string) error {
			recs = append(recs, mypt.Record{Entity: e, Op: mypt.OpDelete, Key: k})
			if len(recs) >= p.o.BatchRows {
				return flush()
			}
			return nil
		})
	if err == nil {
		err = flush()
	}
	if err != nil {
		return run, err
	}
	if gone == 0 {
		return run, nil
	}
	p.log.Info("mis reconcile: deleted rows the MIS no longer has", "entity", string(e), "deleted", run.Deleted)
	return run, nil
}
