package sqlite

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"mypt"
)

func TestPortalReadsEveryEntity(t *testing.T) {
	s := MustOpen(t)
	mustApply(t, s, mypt.Batch{ID: "b1", Source: "test", Mode: mypt.ModeDelta, Records: upsert(everyEntity()...)})
	ctx := context.Background()
	id, err := s.CreateAccount(ctx, mypt.Account{Email: "Mary@Example.org", FirstName: "Mary", LastName: "O'Neill", PasswordHash: "h"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.LinkStudent(ctx, mypt.StudentLink{AccountID: id, StudentID: "S1", ContactID: "K1"}); err != nil {
		t.Fatal(err)
	}
	a, err := s.StudentAccess(ctx, id, "S1")
	if err != nil {
		t.Fatal(err)
	}
	if a.Student.LegalLastName != "O’Neill-Smith" || !a.ContactFound || a.ContactBarred || a.Link.Status != mypt.LinkApproved || a.Version == 0 || a.DataAsOf.IsZero() {
		t.Errorf("access %+v", a)
	}
	if _, err := s.StudentAccess(ctx, id, "S2"); !errors.Is(err, mypt.ErrNotFound) {
		t.Errorf("unlinked student: %v", err)
	}
	list, err := s.StudentAccessList(ctx, id)
	if err != nil || len(list) != 1 {
		t.Errorf("access list %v %v", list, err)
	}
	check := func(what string, n int, err error, want int) {
		t.Helper()
		if err != nil || n != want {
			t.Errorf("%s: %d rows, %v (want %d)", what, n, err, want)
		}
	}
	ens, err := s.StudentEnrolments(ctx, "S1")
	check("enrolments", len(ens), err, 1)
	if len(ens) == 1 && ens[0].Course.Title != "BTEC Level 3 IT" {
		t.Errorf("enrolment course %+v", ens[0].Course)
	}
	tut, err := s.StudentTutors(ctx, "S1")
	check("tutors", len(tut), err, 1)
	marks, err := s.AttendanceMarks(ctx, "S1", 2018)
	check("marks", len(marks), err, 4)
	types, err := s.MarkTypes(ctx)
	check("mark types", len(types), err, 5)
	weeks, err := s.AttendanceWeeks(ctx, "S1", 2018)
	check("weeks", len(weeks), err, 2)
	years, err := s.AttendanceYears(ctx, "S1", 2018)
	check("years", len(years), err, 2)
	if len(years) > 0 && (years[0].EnrolmentID != "" || years[0].Tally.Possible() != 3) {
		t.Errorf("whole-year tally %+v", years[0])
	}
	yl, err := s.AttendanceYearList(ctx, "S1")
	check("year list", len(yl), err, 1)
	docs, err := s.Documents(ctx, "S1")
	check("documents", len(docs), err, 1)
	if len(docs) == 1 && (docs[0].Size != 13 || docs[0].Content != nil) {
		t.Errorf("document summary %+v", docs[0])
	}
	d, err := s.Document(ctx, "S1", "D1")
	if err != nil || string(d.Content) != "%PDF-1.4 tiny" {
		t.Errorf("document %v %v", d, err)
	}
	if _, err := s.Document(ctx, "S2", "D1"); !errors.Is(err, mypt.ErrNotFound) {
		t.Errorf("another student's document: %v", err)
	}
	ach, err := s.Achievements(ctx, "S1")
	check("achievements", len(ach), err, 1)
	tg, err := s.TargetGrades(ctx, "S1")
	check("target grades", len(tg), err, 1)
	tgt, err := s.Targets(ctx, "S1")
	check("targets", len(tgt), err, 1)
	pr, err := s.PolicyReads(ctx, "S1")
	check("policy reads", len(pr), err, 1)
	mt, err := s.Meetings(ctx, "S1")
	check("meetings", len(mt), err, 1)
	fd, err := s.FurtherDetail(ctx, "S1")
	if err != nil || fd.ConsentForVisits == nil || !*fd.ConsentForVisits || fd.ConsentForMedicalTreatment != nil {
		t.Errorf("further details %+v %v", fd, err)
	}
	if fd, err := s.FurtherDetail(ctx, "S9"); err != nil || fd.ConsentForVisits != nil {
		t.Errorf("no further details row: %+v %v", fd, err)
	}
}

func TestAccountsAndLockoutCounter(t *testing.T) {
	s := MustOpen(t)
	ctx := context.Background()
	id, err := s.CreateAccount(ctx, mypt.Account{Email: " Parent@Example.ORG ", FirstName: "P", LastName: "Q", PasswordHash: "h"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateAccount(ctx, mypt.Account{Email: "parent@example.org", LastName: "Q", PasswordHash: "h"}); !errors.Is(err, mypt.ErrConflict) {
		t.Errorf("duplicate email: %v", err)
	}
	a, err := s.AccountByEmail(ctx, "PARENT@example.org")
	if err != nil || a.ID != id || a.Email != "parent@example.org" {
		t.Fatalf("by email: %+v %v", a, err)
	}
	if _, err := s.AccountByEmail(ctx, "nobody@example.org"); !errors.Is(err, mypt.ErrNotFound) {
		t.Errorf("unknown email: %v", err)
	}
	// 8 parallel failures against a limit of 3: the counter sees all 8, exactly one locks.
	var wg sync.WaitGroup
	var mu sync.Mutex
	newly := 0
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f, err := s.RecordLoginFailure(ctx, id, 3)
			if err != nil {
				t.Error(err)
				return
			}
			if f.NewlyLocked {
				mu.Lock()
				newly++
				mu.Unlock()
			}
			if f.Attempts >= 3 && !f.Locked {
				t.Errorf("attempt %d not locked", f.Attempts)
			}
		}()
	}
	wg.Wait()
	if newly != 1 {
		t.Errorf("%d failures reported locking the account", newly)
	}
	if err := s.RecordLoginSuccess(ctx, id); !errors.Is(err, mypt.ErrLocked) {
		t.Errorf("success on a locked account: %v", err)
	}
	a, _ = s.Account(ctx, id)
	if !a.Locked() || a.FailedAttempts != 8 || a.LockReason != "failed_attempts" {
		t.Errorf("after failures: %+v", a)
	}
	if err := s.Unlock(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordLoginSuccess(ctx, id); err != nil {
		t.Errorf("after unlock: %v", err)
	}
	a, _ = s.Account(ctx, id)
	if a.Locked() || a.FailedAttempts != 0 || a.LastLoginAt.IsZero() {
		t.Errorf("after unlock and sign-in: %+v", a)
	}
	if _, err := s.RecordLoginFailure(ctx, 999, 3); !errors.Is(err, mypt.ErrNotFound) {
		t.Errorf("unknown account: %v", err)
	}
}

func TestSessions(t *testing.T) {
	now := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	s := MustOpenAt(t, t.TempDir()+"/mypt.db", Options{Now: fixedClock(now)})
	ctx := context.Background()
	id, _ := s.CreateAccount(ctx, mypt.Account{Email: "a@example.org", LastName: "A", PasswordHash: "h"})
	raw, sess, err := s.CreateSession(ctx, id, "192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	if len(raw) != 43 || len(sess.CSRFToken) != 43 {
		t.Errorf("id %q csrf %q: want 256-bit base64url values", raw, sess.CSRFToken)
	}
	var stored []byte
	if err := s.ReadDB().QueryRow(`SELECT id_hash FROM session`).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if string(stored) == raw || len(stored) != 32 {
		t.Error("the session id is not stored hashed")
	}
	got, acct, err := s.SessionAccount(ctx, raw)
	if err != nil || got.AccountID != id || acct.Email != "a@example.org" || !got.CreatedAt.Equal(now) {
		t.Errorf("lookup %+v %+v %v", got, acct, err)
	}
	if err := s.TouchSession(ctx, got.IDHash, now.Add(5*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Session(ctx, raw); !got.LastSeenAt.Equal(now.Add(5 * time.Minute)) {
		t.Errorf("touch: %v", got.LastSeenAt)
	}
	raw2, _, _ := s.CreateSession(ctx, id, "")
	if n, err := s.DeleteExpiredSessions(ctx, now.Add(time.Minute), now.Add(-time.Hour)); err != nil || n != 1 {
		t.Errorf("expired sweep removed %d (%v), want the untouched one", n, err)
	}
	if _, err := s.Session(ctx, raw2); !errors.Is(err, mypt.ErrNotFound) {
		t.Errorf("swept session: %v", err)
	}
	if err := s.DeleteAccountSessions(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.SessionAccount(ctx, raw); !errors.Is(err, mypt.ErrNotFound) {
		t.Errorf("after delete all: %v", err)
	}
}

func TestAuditLog(t *testing.T) {
	s := MustOpen(t)
	ctx := context.Background()
	at := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	if err := s.WriteAudit(ctx, mypt.AuditEntry{At: at, Actor: "account:1", Action: "view", StudentID: "S1", Page: "attendance", ClientAddr: "192.0.2.1"},
		mypt.AuditEntry{At: at.Add(time.Second), Actor: "account:1", Action: "logout"}); err != nil {
		t.Fatal(err)
	}
	es, err := s.AuditEntries(ctx, at, 10)
	if err != nil || len(es) != 2 || es[0].Page != "attendance" || !es[0].At.Equal(at) || es[1].Action != "logout" {
		t.Errorf("audit %+v %v", es, err)
	}
}

func TestSessionStudentAccess(t *testing.T) {
	s := MustOpen(t)
	mustApply(t, s, mypt.Batch{ID: "b1", Source: "test", Mode: mypt.ModeDelta, Records: upsert(everyEntity()...)})
	ctx := context.Background()
	id, _ := s.CreateAccount(ctx, mypt.Account{Email: "mary@example.org", FirstName: "Mary", LastName: "O'Neill", PasswordHash: "h"})
	if err := s.LinkStudent(ctx, mypt.StudentLink{AccountID: id, StudentID: "S1", ContactID: "K1"}); err != nil {
		t.Fatal(err)
	}
	if err := s.LinkStudent(ctx, mypt.StudentLink{AccountID: id, StudentID: "GONE", ContactID: "K9"}); err != nil {
		t.Fatal(err)
	}
	raw, _, err := s.CreateSession(ctx, id, "")
	if err != nil {
		t.Fatal(err)
	}
	sess, acct, a, linked, err := s.SessionStudentAccess(ctx, raw, "S1")
	if err != nil || !linked || sess.AccountID != id || acct.FirstName != "Mary" {
		t.Fatalf("linked student: %v %v %+v %+v", err, linked, sess, acct)
	}
	if plain, err := s.Session(ctx, raw); err != nil || !bytes.Equal(plain.IDHash, sess.IDHash) || plain.AccountID != sess.AccountID ||
		plain.CSRFToken != sess.CSRFToken || plain.CreatedAt != sess.CreatedAt || plain.LastSeenAt != sess.LastSeenAt ||
		plain.ClientAddr != sess.ClientAddr {
		t.Errorf("one-query session %+v differs from Session %+v (%v)", sess, plain, err)
	}
	if acct.ID != id || acct.LastName != "O'Neill" || acct.Locked() {
		t.Errorf("one-query account %+v", acct)
	}
	want, _ := s.StudentAccess(ctx, id, "S1")
	if a.Student != want.Student || a.Link != want.Link || a.ContactFound != want.ContactFound ||
		a.ContactBarred != want.ContactBarred || a.Version != want.Version || !a.DataAsOf.Equal(want.DataAsOf) {
		t.Errorf("one-query access %+v differs from StudentAccess %+v", a, want)
	}
	for _, other := range []string{"S2", "GONE", ""} {
		if _, _, a, linked, err := s.SessionStudentAccess(ctx, raw, other); err != nil || linked || a.Student.StudentID != "" {
			t.Errorf("%q: linked %v, %+v, %v", other, linked, a, err)
		}
	}
	if _, _, _, _, err := s.SessionStudentAccess(ctx, "no-such-session", "S1"); !errors.Is(err, mypt.ErrNotFound) {
		t.Errorf("unknown session: %v", err)
	}
	// A lock shows at once: the page ends the session.
	for i := 0; i < 3; i++ {
		if _, err := s.RecordLoginFailure(ctx, id, 3); err != nil {
			t.Fatal(err)
		}
	}
	if _, acct, _, _, err := s.SessionStudentAccess(ctx, raw, "S1"); err != nil || !acct.Locked() {
		t.Errorf("locked account reads as %+v, %v", acct, err)
	}
}

func TestParseStoredTime(t *testing.T) {
	t.Parallel()
	for _, v := range []string{
		FormatTime(time.Date(2026, 12, 3, 11, 40, 5, 123456789, time.UTC)),
		FormatTime(time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC)),
		"2026-04-31T10:00:00.000000000Z", "2026-13-01T10:00:00.000000000Z", "2026-12-03T24:00:00.000000000Z",
		"2026-12-03 11:40:05", "", "x026-12-03T11:40:05.000000000Z", "2026-12-03T11:40:05.00000000+Z",
	} {
		got, gotErr := parseStoredTime(v)
		want, wantErr := ParseTime(v)
		if got != want || (gotErr == nil) != (wantErr == nil) {
			t.Errorf("%q: got %v, %v; ParseTime %v, %v", v, got, gotErr, want, wantErr)
		}
	}
}

func FuzzParseStoredTime(f *testing.F) {
	f.Add(FormatTime(time.Date(2026, 12, 3, 11, 40, 5, 123456789, time.UTC)))
	f.Add("2026-02-30T10:00:00.000000000Z")
	f.Fuzz(func(t *testing.T, v string) {
		got, gotErr := parseStoredTime(v)
		want, wantErr := ParseTime(v)
		if got != want || (gotErr == nil) != (wantErr == nil) {
			t.Errorf("%q: got %v, %v; ParseTime %v, %v", v, got, gotErr, want, wantErr)
		}
	})
}

// BenchmarkSessionStudentAccess is the read every student page makes.
func BenchmarkSessionStudentAccess(b *testing.B) {
	s := MustOpen(b)
	mustApply(b, s, mypt.Batch{ID: "b1", Source: "test", Mode: mypt.ModeDelta, Records: upsert(everyEntity()...)})
	ctx := context.Background()
	id, _ := s.CreateAccount(ctx, mypt.Account{Email: "mary@example.org", FirstName: "Mary", LastName: "O'Neill", PasswordHash: "h"})
	if err := s.LinkStudent(ctx, mypt.StudentLink{AccountID: id, StudentID: "S1", ContactID: "K1"}); err != nil {
		b.Fatal(err)
	}
	raw, _, err := s.CreateSession(ctx, id, "")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, _, linked, err := s.SessionStudentAccess(ctx, raw, "S1"); err != nil || !linked {
			b.Fatal(linked, err)
		}
	}
}
