package syncer_test

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"mypt"
	"mypt/adapters/sqlite"
	"mypt/syncer"
)

var _ syncer.AccountsStore = (*sqlite.Store)(nil)

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Set(t time.Time) { c.mu.Lock(); c.now = t; c.mu.Unlock() }

func TestEligibilitySweepEndsAccessAtNineteen(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clk := &clock{now: time.Date(2026, 8, 30, 12, 0, 0, 0, time.UTC)}
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "mypt.db"), sqlite.Options{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// Born 1 September 2007: 18 on 31 August 2026, 19 on 31 August 2027 (the default reference date).
	for _, q := range []string{
		`INSERT INTO student (student_id, legal_first_names, legal_last_name, date_of_birth, status, row_hash) VALUES ('S1', 'José', 'D''Arcy', '2007-09-01', 'current', x'00')`,
		`INSERT INTO student (student_id, legal_first_names, legal_last_name, date_of_birth, status, row_hash) VALUES ('S2', 'Ann', 'Lee', '2010-01-01', 'current', x'00')`,
		`INSERT INTO contact (contact_id, student_id, first_name, last_name, email, portal_access_barred, row_hash) VALUES ('C1', 'S1', 'Siobhán', 'D''Arcy', 'siobhan@example.org', 0, x'00')`,
		`INSERT INTO contact (contact_id, student_id, first_name, last_name, email, portal_access_barred, row_hash) VALUES ('C2', 'S2', 'Pat', 'Lee', 'pat@example.org', 0, x'00')`,
	} {
		if _, err := s.WriteDB().Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	a1, _ := s.CreateAccount(ctx, mypt.Account{Email: "siobhan@example.org", FirstName: "Siobhán", LastName: "D'Arcy", PasswordHash: "x"})
	a2, _ := s.CreateAccount(ctx, mypt.Account{Email: "pat@example.org", FirstName: "Pat", LastName: "Lee", PasswordHash: "x"})
	s.LinkStudent(ctx, mypt.StudentLink{AccountID: a1, StudentID: "S1", ContactID: "C1"})
	s.LinkStudent(ctx, mypt.StudentLink{AccountID: a2, StudentID: "S2", ContactID: "C2"})

	reg := prometheus.NewRegistry()
	e, err := syncer.NewEligibility(syncer.EligibilityOptions{Store: s, Registerer: reg, Now: clk.Now,
		Mail: mypt.MailSettings{CollegeName: "Croydon College", SupportEmail: "support@college.example.ac.uk", PublicBaseURL: "https://portal.example.ac.uk"}})
	if err != nil {
		t.Fatal(err)
	}
	// Building it twice on one registry must not panic (PM-1).
	if _, err := syncer.NewEligibility(syncer.EligibilityOptions{Store: s, Registerer: reg, Now: clk.Now}); err != nil {
		t.Fatal(err)
	}
	res, err := e.Sweep(ctx)
	if err != nil || res.Ended != 0 || res.Checked != 2 {
		t.Fatalf("before the birthday: %+v %v", res, err)
	}
	clk.Set(time.Date(2027, 8, 31, 9, 0, 0, 0, time.UTC)) // academic year 2027/28 begins: measured on 31/08/2027
	res, err = e.Sweep(ctx)
	if err != nil || res.Ended != 1 {
		t.Fatalf("after the birthday: %+v %v", res, err)
	}
	recs, _ := s.AccessEndedFor(ctx, a1)
	if len(recs) != 1 || recs[0].Reason != mypt.TooOld || !strings.Contains(recs[0].Detail, "aged 19") {
		t.Fatalf("record %+v", recs)
	}
	links, _ := s.LinkedStudents(ctx, a1)
	if links[0].Status != mypt.LinkEnded {
		t.Fatalf("link %+v", links[0])
	}
	emails, _ := s.ListEmails(ctx, 10)
	if len(emails) != 1 || emails[0].ToEmail != "siobhan@example.org" || !strings.Contains(emails[0].Text, "age limit") {
		t.Fatalf("emails %+v", emails)
	}
	// A second sweep sends nothing more.
	if res, _ := e.Sweep(ctx); res.Ended != 0 {
		t.Fatalf("ended twice: %+v", res)
	}
	// The contact becomes barred: access ends at the next sweep.
	if _, err := s.WriteDB().Exec(`UPDATE contact SET portal_access_barred = 1 WHERE contact_id = 'C2'`); err != nil {
		t.Fatal(err)
	}
	e.Notify()
	res, _ = e.Sweep(ctx)
	if res.Ended != 1 {
		t.Fatalf("barred: %+v", res)
	}
	recs, _ = s.AccessEndedFor(ctx, a2)
	if len(recs) != 1 || recs[0].Reason != mypt.ContactBarred {
		t.Fatalf("record %+v", recs)
	}
	emails, _ = s.ListEmails(ctx, 10)
	for _, m := range emails {
		if strings.Contains(strings.ToLower(m.Text), "court") || strings.Contains(m.Text, "barred") {
			t.Errorf("parent email reveals the bar: %s", m.Text)
		}
	}
	if v := testutil.ToFloat64(mustGauge(t, reg, "mypt_accounts", "no_children")); v != 2 {
		t.Errorf("mypt_accounts{no_children} = %v, want 2", v)
	}
}

func TestEligibilitySweepEndsAccessWhenContactLeavesMIS(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clk := &clock{now: time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)}
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "mypt.db"), sqlite.Options{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.WriteDB().Exec(`INSERT INTO student (student_id, legal_first_names, legal_last_name, date_of_birth, status, row_hash) VALUES ('S1', 'Ann', 'Lee', '2010-01-01', 'current', x'00')`)
	a, _ := s.CreateAccount(ctx, mypt.Account{Email: "pat@example.org", FirstName: "Pat", LastName: "Lee", PasswordHash: "x"})
	s.LinkStudent(ctx, mypt.StudentLink{AccountID: a, StudentID: "S1", ContactID: "C-gone"})
	e, err := syncer.NewEligibility(syncer.EligibilityOptions{Store: s, Now: clk.Now,
		Mail: mypt.MailSettings{CollegeName: "Croydon College", PublicBaseURL: "https://portal.example.ac.uk"}})
	if err != nil {
		t.Fatal(err)
	}
	if res, err := e.Sweep(ctx); err != nil || res.Ended != 1 {
		t.Fatalf("sweep %+v %v", res, err)
	}
	recs, _ := s.AccessEndedFor(ctx, a)
	if len(recs) != 1 || recs[0].Reason != mypt.ContactNotInMIS || !strings.Contains(recs[0].Detail, "C-gone") {
		t.Fatalf("records %+v", recs)
	}
}

func mustGauge(t *testing.T, reg *prometheus.Registry, name, label string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetValue() == label {
					g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "x"})
					g.Set(m.GetGauge().GetValue())
					return g
				}
			}
		}
	}
	t.Fatalf("no %s{%s}", name, label)
	return nil
}

func TestEligibilityMetricsStartAtZero(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "mypt.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	reg := prometheus.NewRegistry()
	if _, err := syncer.NewEligibility(syncer.EligibilityOptions{Store: s, Registerer: reg}); err != nil {
		t.Fatal(err)
	}
	n, err := testutil.GatherAndCount(reg, "mypt_accounts", "mypt_account_requests_pending")
	if err != nil || n != 6 {
		t.Fatalf("%d series, want 6 (3 states + 3 stages): %v", n, err)
	}
}

func TestEligibilityRunSendsLockNoticeBetweenSweeps(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "mypt.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	e, err := syncer.NewEligibility(syncer.EligibilityOptions{Store: s, Interval: time.Hour, LockNoticeInterval: 20 * time.Millisecond,
		Mail: mypt.MailSettings{CollegeName: "Croydon College", PublicBaseURL: "https://portal.example.ac.uk"}})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	id, _ := s.CreateAccount(ctx, mypt.Account{Email: "p@example.org", FirstName: "P", LastName: "Q", PasswordHash: "x"})
	for range 3 {
		s.RecordLoginFailure(ctx, id, 3)
	}
	var emails []mypt.OutboxMessage
	for i := 0; i < 200 && len(emails) == 0; i++ {
		time.Sleep(10 * time.Millisecond)
		emails, _ = s.ListEmails(ctx, 10)
	}
	if len(emails) != 1 || !strings.Contains(emails[0].Subject, "locked") {
		t.Fatalf("emails %+v", emails)
	}
	time.Sleep(100 * time.Millisecond) // more lock-notice ticks: still one email
	if emails, _ = s.ListEmails(ctx, 10); len(emails) != 1 {
		t.Fatalf("%d emails for one lock", len(emails))
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
