package syncer

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// PurgeOptions configure a retention worker.
type PurgeOptions struct {
	// Name says what is purged, in logs ("mailbox").
	Name string
	// Every is the time between purges (default 24h); the first runs at start.
	Every time.Duration
	// Purge deletes what its retention no longer keeps as of now, returning the rows deleted.
	Purge  func(ctx context.Context, now time.Time) (int64, error)
	Logger *slog.Logger
	Now    func() time.Time
}

// Purge runs a retention purge at start and then every PurgeOptions.Every. A failed purge is
// logged and tried again next time: retention never stops the daemon.
type Purge struct{ o PurgeOptions }

// NewPurge returns the worker; Purge must be set.
func NewPurge(o PurgeOptions) *Purge {
	if o.Every <= 0 {
		o.Every = 24 * time.Hour
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Purge{o}
}

// RunOnce purges once.
func (p *Purge) RunOnce(ctx context.Context) (int64, error) {
	n, err := p.o.Purge(ctx, p.o.Now())
	if err != nil {
		return n, fmt.Errorf("syncer: purge %s: %w", p.o.Name, err)
	}
	return n, nil
}

// Run purges at start and on every tick until ctx ends; it returns nil then.
func (p *Purge) Run(ctx context.Context) error {
	t := time.NewTicker(p.o.Every)
	defer t.Stop()
	for {
		if n, err := p.RunOnce(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			p.o.Logger.Warn("retention purge failed", "what", p.o.Name, "err", err)
		} else if n > 0 {
			p.o.Logger.Info("retention purge", "what", p.o.Name, "rows", n)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
