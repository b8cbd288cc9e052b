package main

import (
	"context"
	"sync"

	"mypt"
	"mypt/portal"
	"mypt/syncer"
)

// syncDone fans "the cache has just changed from the MIS" (an applied push batch, a finished
// pull pass) out to whoever must act at once — the eligibility sweep, so access that a sync
// ended ends now rather than at the next timer tick. syncer and portal never see each other:
// each calls a plain func() wired here.
type syncDone struct {
	mu  sync.Mutex
	fns []func()
}

func (s *syncDone) add(fn func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fns = append(s.fns, fn)
}

func (s *syncDone) notify() {
	s.mu.Lock()
	fns := append([]func(){}, s.fns...)
	s.mu.Unlock()
	for _, fn := range fns {
		fn()
	}
}

// notifyingApplier is the push handler's view of the store: after a batch is applied (not a
// duplicate, not a failure) it calls after.
type notifyingApplier struct {
	portal.BatchApplier
	after func()
}

func (n notifyingApplier) ApplyBatch(ctx context.Context, b mypt.Batch) (mypt.BatchResult, error) {
	res, err := n.BatchApplier.ApplyBatch(ctx, b)
	if err == nil && !res.Duplicate {
		n.after()
	}
	return res, err
}

// addEligibility adds the accounts area's sweep: it re-checks every approved link on a timer
// (accounts.sweep_interval) and ends access that is no longer allowed, emailing the parent;
// it also sends lock notices, applies retention and keeps the account gauges.
func (a *app) addEligibility() error {
	ac := a.cfg.Accounts.WithDefaults()
	e, err := syncer.NewEligibility(syncer.EligibilityOptions{
		Store: a.store, Logger: a.log, Registerer: a.reg, Now: a.now,
		Policy: a.cfg.Eligibility.Policy(),
		Retention: mypt.RetentionPolicy{UnverifiedDays: ac.RetainUnverifiedDays, RejectedDays: ac.RetainRejectedDays,
			NoChildrenDays: ac.RetainNoChildrenDays},
		Mail: mailSettings(a), Interval: ac.SweepInterval,
	})
	if err != nil {
		return err
	}
	a.synced.add(e.Notify)
	a.workers = append(a.workers, worker{name: "eligibility sweep", run: e.Run})
	return nil
}

// mailSettings is what account emails say about the college.
func mailSettings(a *app) mypt.MailSettings {
	return mypt.MailSettings{CollegeName: a.cfg.College.Name, PortalName: a.cfg.College.Name + " Parent Portal",
		SupportEmail: a.cfg.College.SupportEmail, AttendanceEmail: a.cfg.College.AttendanceEmail,
		PublicBaseURL: a.cfg.College.PublicBaseURL, NoReplyTo: replyTo(a.cfg) == nil}
}
