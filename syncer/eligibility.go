package syncer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"mypt"
)

// AccountsStore is what the eligibility sweep needs from the cache (*sqlite.Store has it).
type AccountsStore interface {
	// ApprovedLinks lists every approved parent↔student link with the student and barring.
	ApprovedLinks(ctx context.Context) ([]mypt.LinkCheck, error)
	// EndAccess ends one link, records why and queues email, in one transaction; false when
	// the link was no longer approved.
	EndAccess(ctx context.Context, accountID int64, studentID string, reason mypt.Ineligibility, detail string,
		email *mypt.OutboxMessage) (bool, error)
	// NotifyLockedAccounts queues the "account locked" email once per lock.
	NotifyLockedAccounts(ctx context.Context, compose func(a mypt.Account) (mypt.OutboxMessage, error)) (int, error)
	// PurgeRetention removes what the retention policy no longer keeps.
	PurgeRetention(ctx context.Context, now time.Time, p mypt.RetentionPolicy) (mypt.PurgeCounts, error)
	// ExpireConsentRequests rejects requests whose student consent link expired unanswered.
	ExpireConsentRequests(ctx context.Context, compose func(q mypt.StoredAccountRequest) (mypt.OutboxMessage, error)) (int, error)
	// CountAccounts feeds the account gauges.
	CountAccounts(ctx context.Context) (mypt.AccountCounts, error)
}

// EligibilityOptions configure NewEligibility. Store is required.
type EligibilityOptions struct {
	Store      AccountsStore
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	Now        func() time.Time
	Location   *time.Location // the college's time zone for "today" (Europe/London when nil)
	Policy     mypt.EligibilityPolicy
	Retention  mypt.RetentionPolicy
	Mail       mypt.MailSettings
	// Interval is how often a sweep runs without a trigger (default 10m).
	Interval time.Duration
	// LockNoticeInterval is how often locked accounts are looked for between sweeps, so the
	// "account locked" email goes out soon after the lock (default 30s).
	LockNoticeInterval time.Duration
}

// Eligibility re-checks every approved link after each sync and on a timer: a student who
// turned 19 (25 with an EHCP), left, vanished from the MIS, or whose contact became barred
// loses their parents' access at once; the parent is emailed and staff can see why. The same
// sweep sends "account locked" emails, applies retention and updates the account gauges.
type Eligibility struct {
	opts     EligibilityOptions
	log      *slog.Logger
	trigger  chan struct{}
	accounts *prometheus.GaugeVec
	pending  *prometheus.GaugeVec
}

// SweepResult says what one sweep did.
type SweepResult struct {
	Checked, Ended, LockNotices, ConsentExpired int
	Purged                                      mypt.PurgeCounts
}

// NewEligibility builds the sweep and registers mypt_accounts{state} and
// mypt_account_requests_pending{stage}, every label value at 0 (PM-2).
func NewEligibility(opts EligibilityOptions) (*Eligibility, error) {
	if opts.Store == nil {
		return nil, errors.New("syncer: eligibility: Store is required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Location == nil {
		loc, err := time.LoadLocation("Europe/London")
		if err != nil {
			return nil, fmt.Errorf("syncer: eligibility: load Europe/London: %w", err)
		}
		opts.Location = loc
	}
	if opts.Policy == (mypt.EligibilityPolicy{}) {
		opts.Policy = mypt.DefaultEligibility()
	}
	if err := opts.Policy.Validate(); err != nil {
		return nil, fmt.Errorf("syncer: eligibility: %w", err)
	}
	if opts.Retention == (mypt.RetentionPolicy{}) {
		opts.Retention = mypt.DefaultRetention()
	}
	if opts.Interval <= 0 {
		opts.Interval = 10 * time.Minute
	}
	if opts.LockNoticeInterval <= 0 {
		opts.LockNoticeInterval = 30 * time.Second
	}
	e := &Eligibility{opts: opts, log: opts.Logger, trigger: make(chan struct{}, 1)}
	e.accounts = registerOrReuse(opts.Registerer, prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "mypt_accounts", Help: "Parent accounts by state (active, locked, no_children).",
	}, []string{"state"}))
	e.pending = registerOrReuse(opts.Registerer, prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "mypt_account_requests_pending", Help: "Account requests waiting, by stage.",
	}, []string{"stage"}))
	for _, st := range []string{"active", "locked", "no_children"} {
		e.accounts.WithLabelValues(st).Set(0)
	}
	for _, st := range mypt.PendingRequestStates {
		e.pending.WithLabelValues(string(st)).Set(0)
	}
	return e, nil
}

// Notify asks for a sweep now (call it after every sync pass or applied push batch). It never
// blocks: a sweep already asked for covers this one.
func (e *Eligibility) Notify() {
	select {
	case e.trigger <- struct{}{}:
	default:
	}
}

// Run sweeps at start, on every Notify and every Interval until ctx ends. A failed sweep is
// logged and retried at the next tick.
func (e *Eligibility) Run(ctx context.Context) error {
	t := time.NewTicker(e.opts.Interval)
	defer t.Stop()
	locks := time.NewTicker(e.opts.LockNoticeInterval)
	defer locks.Stop()
	for {
		if _, err := e.Sweep(ctx); err != nil && ctx.Err() == nil {
			e.log.ErrorContext(ctx, "syncer: eligibility sweep failed", "err", err)
		}
		// Between sweeps, only lock notices run.
		for sweep := false; !sweep; {
			select {
			case <-ctx.Done():
				return nil
			case <-t.C:
				sweep = true
			case <-e.trigger:
				sweep = true
			case <-locks.C:
				if _, err := e.NotifyLocks(ctx); err != nil && ctx.Err() == nil {
					e.log.ErrorContext(ctx, "syncer: lock notices failed", "err", err)
				}
			}
		}
	}
}

// NotifyLocks queues the "account locked" email for every lock not yet told (once per lock).
func (e *Eligibility) NotifyLocks(ctx context.Context) (int, error) {
	return e.opts.Store.NotifyLockedAccounts(ctx, func(a mypt.Account) (mypt.OutboxMessage, error) {
		return e.opts.Mail.Compose(mypt.EmailLocked, "locked", mypt.EmailData{ToEmail: a.Email, ToName: eligJoinName(a.FirstName, a.LastName)})
	})
}

// Sweep runs one pass: end every link that is no longer allowed, queue lock notices, apply
// retention and update the gauges.
func (e *Eligibility) Sweep(ctx context.Context) (SweepResult, error) {
	var res SweepResult
	now := e.opts.Now()
	today := mypt.DateOf(now.In(e.opts.Location))
	links, err := e.opts.Store.ApprovedLinks(ctx)
	if err != nil {
		return res, fmt.Errorf("syncer: eligibility: %w", err)
	}
	var errs []error
	for _, l := range links {
		res.Checked++
		why := mypt.LinkEligibility(e.opts.Policy, l, today)
		if why == mypt.Eligible {
			continue
		}
		detail := e.detail(l, why, today)
		var email *mypt.OutboxMessage
		if l.Email != "" {
			m, err := e.opts.Mail.Compose(mypt.EmailAccessEnded, fmt.Sprintf("access_ended:%d:%s:%s", l.AccountID, l.StudentID, now.UTC().Format(time.RFC3339Nano)),
				mypt.EmailData{ToEmail: l.Email, ToName: eligJoinName(l.FirstName, l.LastName), StudentName: eligStudentName(l.Student), Reason: why.ParentReason()})
			if err != nil {
				errs = append(errs, err)
				continue
			}
			email = &m
		}
		ended, err := e.opts.Store.EndAccess(ctx, l.AccountID, l.StudentID, why, detail, email)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if ended {
			res.Ended++
			e.log.InfoContext(ctx, "syncer: parent access ended", "account_id", l.AccountID, "reason", string(why))
		}
	}
	n, err := e.NotifyLocks(ctx)
	res.LockNotices = n
	if err != nil {
		errs = append(errs, err)
	}
	res.ConsentExpired, err = e.opts.Store.ExpireConsentRequests(ctx, func(q mypt.StoredAccountRequest) (mypt.OutboxMessage, error) {
		return e.opts.Mail.Compose(mypt.EmailRejected, q.EventKey("rejected"),
			mypt.EmailData{ToEmail: q.Email, ToName: eligJoinName(q.ParentFirstName, q.ParentLastName)})
	})
	if err != nil {
		errs = append(errs, err)
	}
	if res.Purged, err = e.opts.Store.PurgeRetention(ctx, now, e.opts.Retention); err != nil {
		errs = append(errs, err)
	}
	if c, err := e.opts.Store.CountAccounts(ctx); err != nil {
		errs = append(errs, err)
	} else {
		e.accounts.WithLabelValues("active").Set(float64(c.Active))
		e.accounts.WithLabelValues("locked").Set(float64(c.Locked))
		e.accounts.WithLabelValues("no_children").Set(float64(c.NoChildren))
		for _, st := range mypt.PendingRequestStates {
			e.pending.WithLabelValues(string(st)).Set(float64(c.Pending[st]))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return res, fmt.Errorf("syncer: eligibility: %w", err)
	}
	return res, nil
}

// detail is the staff's record of why: precise, with the figures.
func (e *Eligibility) detail(l mypt.LinkCheck, why mypt.Ineligibility, today mypt.Date) string {
	switch why {
	case mypt.TooOld:
		ref := e.opts.Policy.ReferenceDate(today)
		limit := e.opts.Policy.MaxAge
		if l.Student.HasEHCP {
			limit = e.opts.Policy.MaxAgeEHCP
		}
		return fmt.Sprintf("born %s, aged %d on %s; limit %d (EHCP %t)", l.Student.DateOfBirth.UK(),
			mypt.AgeOn(l.Student.DateOfBirth, ref), ref.UK(), limit, l.Student.HasEHCP)
	case mypt.LeftCollege:
		return fmt.Sprintf("status %q, left %s, grace %d days", l.Student.Status, l.Student.LeftDate.UK(), e.opts.Policy.LeftGraceDays)
	case mypt.ContactBarred:
		return fmt.Sprintf("contact %q (or a contact with the account's email) is barred from portal access", l.ContactID)
	case mypt.StudentNotInMIS:
		return "the MIS no longer has the student"
	case mypt.ContactNotInMIS:
		return fmt.Sprintf("the MIS no longer has contact %q, on whom the link was approved", l.ContactID)
	}
	return why.Describe()
}

func eligJoinName(first, last string) string {
	switch {
	case first == "":
		return last
	case last == "":
		return first
	}
	return first + " " + last
}

func eligStudentName(s mypt.Student) string {
	first := s.PreferredName
	if first == "" {
		first = s.LegalFirstNames
	}
	if n := eligJoinName(first, s.LegalLastName); n != "" {
		return n
	}
	return "your child"
}
