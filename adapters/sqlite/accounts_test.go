package sqlite_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"mypt"
	"mypt/adapters/sqlite"
)

func insertStudent(t *testing.T, s *sqlite.Store, id, first, last, dob string) {
	t.Helper()
	_, err := s.WriteDB().Exec(`INSERT INTO student (student_id, legal_first_names, legal_last_name, date_of_birth, college_email, status, row_hash)
		VALUES (?, ?, ?, ?, ?, 'current', x'00')`, id, first, last, dob, strings.ToLower(id)+"@students.example.ac.uk")
	if err != nil {
		t.Fatal(err)
	}
}

func storedRequest(email, studentID string) mypt.StoredAccountRequest {
	return mypt.StoredAccountRequest{AccountRequest: mypt.AccountRequest{ParentFirstName: "Siobhán", ParentLastName: "O’Neill",
		Email: email, StudentID: studentID, StudentFirstNames: "José", StudentLastName: "D'Arcy",
		StudentDOB: mypt.NewDate(2010, 4, 5), Relationship: "Mother", MobilePhone: "+447700900123"}, PasswordHash: "hash-" + studentID}
}

func composeVerify(token *string) func(int64, string) (mypt.OutboxMessage, error) {
	return func(id int64, raw string) (mypt.OutboxMessage, error) {
		*token = raw
		m := email(fmt.Sprintf("verify:%d:%s", id, mypt.SecretKey(raw)))
		m.Text = "link " + raw
		return m, nil
	}
}

func TestAccountRequestLifecycle(t *testing.T) {
	t.Parallel()
	s, clock := openOutboxStore(t)
	ctx := context.Background()
	var tok string
	id, err := s.CreateAccountRequest(ctx, storedRequest("Parent@Example.org", "S1"), 48*time.Hour, composeVerify(&tok))
	if err != nil {
		t.Fatal(err)
	}
	q, err := s.AccountRequestByToken(ctx, mypt.TokenVerify, tok)
	if err != nil || q.ID != id || q.State != mypt.RequestUnverified || q.Email != "parent@example.org" || q.ParentLastName != "O’Neill" {
		t.Fatalf("by token: %+v %v", q, err)
	}
	// Peeking does not use the token; a wrong purpose does not find it.
	if _, err := s.AccountRequestByToken(ctx, mypt.TokenConsent, tok); !errors.Is(err, mypt.ErrNotFound) {
		t.Fatalf("consent purpose found a verify token: %v", err)
	}
	rep := &mypt.MatchReport{Outcome: mypt.MatchApproved, Checks: []mypt.MatchCheck{{Name: "student_exists", Passed: true, Detail: "ok"}}}
	approved := email("approved:1")
	got, err := s.DecideAccountRequest(ctx, id, &mypt.TokenUse{Purpose: mypt.TokenVerify, Raw: tok}, mypt.RequestDecision{
		From: []mypt.RequestState{mypt.RequestUnverified}, To: mypt.RequestApproved, Match: rep, Verified: true,
		DecidedBy: "auto", ContactID: "C1", Emails: []mypt.OutboxMessage{approved},
		Audit: []mypt.AuditEntry{{Actor: "system", Action: "approve"}}})
	if err != nil {
		t.Fatal(err)
	}
	if got.State != mypt.RequestApproved || got.AccountID == 0 || got.PasswordHash != "" || got.VerifiedAt.IsZero() {
		t.Fatalf("decided: %+v", got)
	}
	// Single use.
	_, err = s.DecideAccountRequest(ctx, id, &mypt.TokenUse{Purpose: mypt.TokenVerify, Raw: tok}, mypt.RequestDecision{
		From: []mypt.RequestState{mypt.RequestUnverified}, To: mypt.RequestApproved})
	if !errors.Is(err, mypt.ErrNotFound) {
		t.Fatalf("second use: %v", err)
	}
	a, err := s.AccountByEmail(ctx, "parent@example.org")
	if err != nil || a.PasswordHash != "hash-S1" {
		t.Fatalf("account %+v %v", a, err)
	}
	links, _ := s.LinkedStudents(ctx, a.ID)
	if len(links) != 1 || links[0].StudentID != "S1" || links[0].ContactID != "C1" {
		t.Fatalf("links %+v", links)
	}
	back, _ := s.AccountRequest(ctx, id)
	if back.Match == nil || back.Match.Outcome != mypt.MatchApproved || len(back.Match.Checks) != 1 {
		t.Fatalf("report not stored: %+v", back.Match)
	}
	if _, err := s.FindEmail(ctx, "approved:1"); err != nil {
		t.Fatalf("approved email not queued: %v", err)
	}

	// A second child from the same email joins the same account; its password stays.
	clock.Advance(time.Hour)
	id2, err := s.CreateAccountRequest(ctx, storedRequest("parent@example.org", "S2"), 48*time.Hour, composeVerify(&tok))
	if err != nil {
		t.Fatal(err)
	}
	got2, err := s.DecideAccountRequest(ctx, id2, nil, mypt.RequestDecision{From: []mypt.RequestState{mypt.RequestUnverified},
		To: mypt.RequestApproved, DecidedBy: "staff:1"})
	if err != nil || got2.AccountID != a.ID || !got2.AddedToExisting || got2.PasswordHash != "" {
		t.Fatalf("second child: %+v %v", got2, err)
	}
	a2, _ := s.AccountByEmail(ctx, "parent@example.org")
	if a2.PasswordHash != "hash-S1" {
		t.Fatalf("password %q, want the account's own hash-S1", a2.PasswordHash)
	}
	links, _ = s.LinkedStudents(ctx, a.ID)
	if len(links) != 2 {
		t.Fatalf("links %+v", links)
	}
	// A decided request cannot be decided again.
	if _, err := s.DecideAccountRequest(ctx, id2, nil, mypt.RequestDecision{From: []mypt.RequestState{mypt.RequestAwaitingStaff},
		To: mypt.RequestRejected}); !errors.Is(err, mypt.ErrConflict) {
		t.Fatalf("re-decide: %v", err)
	}
}

func TestVerifyTokenExpiresAndReRequestVoidsOld(t *testing.T) {
	t.Parallel()
	s, clock := openOutboxStore(t)
	ctx := context.Background()
	var old, fresh string
	if _, err := s.CreateAccountRequest(ctx, storedRequest("p@example.org", "S1"), 48*time.Hour, composeVerify(&old)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateAccountRequest(ctx, storedRequest("p@example.org", "S1"), 48*time.Hour, composeVerify(&fresh)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AccountRequestByToken(ctx, mypt.TokenVerify, old); !errors.Is(err, mypt.ErrNotFound) {
		t.Fatalf("old link still works: %v", err)
	}
	if _, err := s.AccountRequestByToken(ctx, mypt.TokenVerify, fresh); err != nil {
		t.Fatal(err)
	}
	clock.Advance(48*time.Hour - time.Second)
	if _, err := s.AccountRequestByToken(ctx, mypt.TokenVerify, fresh); err != nil {
		t.Fatalf("expired early: %v", err)
	}
	clock.Advance(time.Second)
	if _, err := s.AccountRequestByToken(ctx, mypt.TokenVerify, fresh); !errors.Is(err, mypt.ErrNotFound) {
		t.Fatalf("not expired at 48h: %v", err)
	}
}

func TestResetPasswordClearsLockAndSessions(t *testing.T) {
	t.Parallel()
	s, _ := openOutboxStore(t)
	ctx := context.Background()
	id, err := s.CreateAccount(ctx, mypt.Account{Email: "p@example.org", FirstName: "P", LastName: "Q", PasswordHash: "old"})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := s.RecordLoginFailure(ctx, id, 3); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := s.CreateSession(ctx, id, "127.0.0.1"); err != nil {
		t.Fatal(err)
	}
	found, err := s.IssueResetToken(ctx, "nobody@example.org", time.Hour, nil)
	if err != nil || found {
		t.Fatalf("unknown email: %v %v", found, err)
	}
	var tok string
	found, err = s.IssueResetToken(ctx, "P@example.org", time.Hour, func(a mypt.Account, raw string) (mypt.OutboxMessage, error) {
		tok = raw
		return email("reset:" + mypt.SecretKey(raw)), nil
	})
	if err != nil || !found {
		t.Fatalf("known email: %v %v", found, err)
	}
	a, err := s.ResetPassword(ctx, tok, "new", mypt.AuditEntry{Action: "password_reset"}, func(a mypt.Account) (mypt.OutboxMessage, error) {
		return email("changed:1"), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if a.Locked() || a.FailedAttempts != 0 || a.PasswordHash != "new" {
		t.Fatalf("after reset %+v", a)
	}
	if _, err := s.FindEmail(ctx, "changed:1"); err != nil {
		t.Fatalf("the password-changed notice is not queued with the reset: %v", err)
	}
	var n int
	s.ReadDB().QueryRow(`SELECT COUNT(*) FROM session WHERE account_id = ?`, id).Scan(&n)
	if n != 0 {
		t.Fatalf("%d sessions survive the reset", n)
	}
	if _, err := s.ResetPassword(ctx, tok, "again", mypt.AuditEntry{}, func(a mypt.Account) (mypt.OutboxMessage, error) {
		return email("changed:2"), nil
	}); !errors.Is(err, mypt.ErrNotFound) {
		t.Fatalf("reset token reused: %v", err)
	}
}

func TestEndAccessAndCounts(t *testing.T) {
	t.Parallel()
	s, _ := openOutboxStore(t)
	ctx := context.Background()
	insertStudent(t, s, "S1", "José", "D'Arcy", "2010-04-05")
	id, _ := s.CreateAccount(ctx, mypt.Account{Email: "p@example.org", FirstName: "P", LastName: "Q", PasswordHash: "x"})
	if err := s.LinkStudent(ctx, mypt.StudentLink{AccountID: id, StudentID: "S1", ContactID: "C1"}); err != nil {
		t.Fatal(err)
	}
	links, err := s.ApprovedLinks(ctx)
	if err != nil || len(links) != 1 || !links[0].StudentFound || links[0].Student.DateOfBirth != (mypt.NewDate(2010, 4, 5)) {
		t.Fatalf("links %+v %v", links, err)
	}
	c, _ := s.CountAccounts(ctx)
	if c.Active != 1 || c.NoChildren != 0 {
		t.Fatalf("counts %+v", c)
	}
	m := email("ended:1")
	ended, err := s.EndAccess(ctx, id, "S1", mypt.TooOld, "turned 19", &m)
	if err != nil || !ended {
		t.Fatalf("end: %v %v", ended, err)
	}
	ended, _ = s.EndAccess(ctx, id, "S1", mypt.TooOld, "again", &m)
	if ended {
		t.Fatal("ended twice")
	}
	recs, _ := s.AccessEndedFor(ctx, id)
	if len(recs) != 1 || recs[0].Reason != mypt.TooOld {
		t.Fatalf("records %+v", recs)
	}
	c, _ = s.CountAccounts(ctx)
	if c.Active != 0 || c.NoChildren != 1 {
		t.Fatalf("counts %+v", c)
	}
}

func TestPurgeRetention(t *testing.T) {
	t.Parallel()
	s, clock := openOutboxStore(t)
	ctx := context.Background()
	var tok string
	unverified, _ := s.CreateAccountRequest(ctx, storedRequest("u@example.org", "S1"), time.Hour, composeVerify(&tok))
	rejected, _ := s.CreateAccountRequest(ctx, storedRequest("r@example.org", "S1"), time.Hour, composeVerify(&tok))
	if _, err := s.DecideAccountRequest(ctx, rejected, nil, mypt.RequestDecision{From: []mypt.RequestState{mypt.RequestUnverified},
		To: mypt.RequestRejected}); err != nil {
		t.Fatal(err)
	}
	lonely, _ := s.CreateAccount(ctx, mypt.Account{Email: "lonely@example.org", FirstName: "L", LastName: "Q", PasswordHash: "x"})
	p := mypt.DefaultRetention()
	clock.Advance(13 * 24 * time.Hour)
	if c, err := s.PurgeRetention(ctx, clock.Now(), p); err != nil || c.Unverified != 0 || c.Accounts != 0 {
		t.Fatalf("day 13: %+v %v", c, err)
	}
	clock.Advance(2 * 24 * time.Hour)
	if c, _ := s.PurgeRetention(ctx, clock.Now(), p); c.Unverified != 1 || c.Rejected != 0 {
		t.Fatalf("day 15: %+v", c)
	}
	if _, err := s.AccountRequest(ctx, unverified); !errors.Is(err, mypt.ErrNotFound) {
		t.Fatal("unverified request survived")
	}
	clock.Advance(20 * 24 * time.Hour)
	if c, _ := s.PurgeRetention(ctx, clock.Now(), p); c.Accounts != 1 {
		t.Fatalf("day 35: %+v", c)
	}
	if _, err := s.Account(ctx, lonely); !errors.Is(err, mypt.ErrNotFound) {
		t.Fatal("childless account survived")
	}
	clock.Advance(60 * 24 * time.Hour)
	if c, _ := s.PurgeRetention(ctx, clock.Now(), p); c.Rejected != 1 {
		t.Fatalf("day 95: %+v", c)
	}
}

func TestStaffUsersAndSessions(t *testing.T) {
	t.Parallel()
	s, _ := openOutboxStore(t)
	ctx := context.Background()
	id, err := s.CreateStaffUser(ctx, "Staff@College.ac.uk", "Sam", "h")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateStaffUser(ctx, "staff@college.ac.uk", "Sam", "h"); !errors.Is(err, mypt.ErrConflict) {
		t.Fatalf("duplicate: %v", err)
	}
	u, err := s.StaffUserByEmail(ctx, "STAFF@college.ac.uk")
	if err != nil || u.ID != id {
		t.Fatal(u, err)
	}
	raw, _, err := s.CreateStaffSession(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	sess, err := s.StaffSession(ctx, raw)
	if err != nil || sess.StaffID != id || sess.CSRFToken == "" {
		t.Fatal(sess, err)
	}
	for i := range 5 {
		locked, _ := s.RecordStaffLoginFailure(ctx, id, 5)
		if locked != (i == 4) {
			t.Fatalf("attempt %d locked=%v", i+1, locked)
		}
	}
	if err := s.RecordStaffLogin(ctx, id); !errors.Is(err, mypt.ErrLocked) {
		t.Fatalf("locked staff signed in: %v", err)
	}
}

func TestVerifyTokenUsedOnceUnderRace(t *testing.T) {
	t.Parallel()
	s, _ := openOutboxStore(t)
	ctx := context.Background()
	var tok string
	id, err := s.CreateAccountRequest(ctx, storedRequest("race@example.org", "S1"), time.Hour, composeVerify(&tok))
	if err != nil {
		t.Fatal(err)
	}
	const n = 8
	errs := make(chan error, n)
	for i := range n {
		go func() {
			_, err := s.DecideAccountRequest(ctx, id, &mypt.TokenUse{Purpose: mypt.TokenVerify, Raw: tok}, mypt.RequestDecision{
				From: []mypt.RequestState{mypt.RequestUnverified}, To: mypt.RequestApproved, DecidedBy: "auto",
				Emails: []mypt.OutboxMessage{email(fmt.Sprintf("approved:race:%d", i))}})
			errs <- err
		}()
	}
	ok := 0
	for range n {
		if err := <-errs; err == nil {
			ok++
		} else if !errors.Is(err, mypt.ErrNotFound) {
			t.Errorf("unexpected error: %v", err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d decisions succeeded, want exactly 1", ok)
	}
	if n, _ := s.CountPendingEmails(ctx); n != 2 { // the verification email and one approval
		t.Fatalf("%d emails queued, want 2", n)
	}
}

// An approval for an email that already has an account never changes that account: whoever
// filled in the request proved (by the verify link) only that the email reaches them, not that
// they know the account's password. The pen test's takeover: the attacker requests with the
// victim's email and a password of their choosing; the victim confirms. Under both approval
// policies (auto at verification, manual by staff) the account keeps its password, names,
// password-changed time and sessions; the child is linked; the request's hash is cleared; and
// the approval email is the "added to your account" variant.
func TestApproveForExistingEmailKeepsTheAccount(t *testing.T) {
	t.Parallel()
	for _, policy := range []string{"auto", "manual"} {
		t.Run(policy, func(t *testing.T) {
			t.Parallel()
			s, clock := openOutboxStore(t)
			ctx := context.Background()
			owner := mypt.Account{Email: "victim@example.org", FirstName: "Aoife", LastName: "Owner", PasswordHash: "owner-hash"}
			acctID, err := s.CreateAccount(ctx, owner)
			if err != nil {
				t.Fatal(err)
			}
			sessID, _, err := s.CreateSession(ctx, acctID, "127.0.0.1")
			if err != nil {
				t.Fatal(err)
			}
			before, _ := s.Account(ctx, acctID)
			clock.Advance(time.Hour)

			attack := storedRequest("Victim@Example.org", "S7")
			attack.ParentFirstName, attack.ParentLastName, attack.PasswordHash = "Mallory", "Attacker", "attacker-hash"
			var tok string
			id, err := s.CreateAccountRequest(ctx, attack, 48*time.Hour, composeVerify(&tok))
			if err != nil {
				t.Fatal(err)
			}
			var existingSeen []bool
			approvalEmail := func(existing bool) (mypt.OutboxMessage, error) {
				existingSeen = append(existingSeen, existing)
				kind := "approved"
				if existing {
					kind = "child_added"
				}
				return email(fmt.Sprintf("request:%d:%s", id, kind)), nil
			}
			verify := mypt.RequestDecision{From: []mypt.RequestState{mypt.RequestUnverified}, Verified: true, ContactID: "C7",
				DecidedBy: "auto", To: mypt.RequestApproved, ApprovalEmail: approvalEmail}
			if policy == "manual" {
				verify = mypt.RequestDecision{From: []mypt.RequestState{mypt.RequestUnverified}, Verified: true, ContactID: "C7",
					To: mypt.RequestAwaitingStaff}
			}
			got, err := s.DecideAccountRequest(ctx, id, &mypt.TokenUse{Purpose: mypt.TokenVerify, Raw: tok}, verify)
			if err != nil {
				t.Fatal(err)
			}
			if policy == "manual" {
				if got.State != mypt.RequestAwaitingStaff || got.PasswordHash != "attacker-hash" {
					t.Fatalf("waiting for staff: %+v", got)
				}
				clock.Advance(time.Hour)
				got, err = s.DecideAccountRequest(ctx, id, nil, mypt.RequestDecision{From: []mypt.RequestState{mypt.RequestAwaitingStaff},
					To: mypt.RequestApproved, DecidedBy: "staff:1", Reason: "approved by staff", ApprovalEmail: approvalEmail})
				if err != nil {
					t.Fatal(err)
				}
			}
			if got.State != mypt.RequestApproved || got.AccountID != acctID || !got.AddedToExisting || got.PasswordHash != "" {
				t.Fatalf("approved request: %+v", got)
			}
			if len(existingSeen) != 1 || !existingSeen[0] {
				t.Fatalf("approval email built with existing=%v, want [true]", existingSeen)
			}
			after, err := s.Account(ctx, acctID)
			if err != nil {
				t.Fatal(err)
			}
			if after.PasswordHash != "owner-hash" || after.FirstName != "Aoife" || after.LastName != "Owner" ||
				!after.PasswordChangedAt.Equal(before.PasswordChangedAt) || after.Email != "victim@example.org" {
				t.Fatalf("account changed by the approval:\nbefore %+v\nafter  %+v", before, after)
			}
			if sess, err := s.Session(ctx, sessID); err != nil || sess.AccountID != acctID {
				t.Fatalf("the owner's session ended: %+v %v", sess, err)
			}
			links, _ := s.LinkedStudents(ctx, acctID)
			if len(links) != 1 || links[0].StudentID != "S7" || links[0].ContactID != "C7" || links[0].Status != mypt.LinkApproved {
				t.Fatalf("links %+v", links)
			}
			if _, err := s.FindEmail(ctx, fmt.Sprintf("request:%d:child_added", id)); err != nil {
				t.Fatalf("child-added email not queued: %v", err)
			}
			if _, err := s.FindEmail(ctx, fmt.Sprintf("request:%d:approved", id)); !errors.Is(err, mypt.ErrNotFound) {
				t.Fatalf("new-account email queued for an existing account: %v", err)
			}
			var stored string
			if err := s.ReadDB().QueryRow(`SELECT password_hash FROM account_request WHERE request_id = ?`, id).Scan(&stored); err != nil || stored != "" {
				t.Fatalf("request keeps the password hash %q at rest (%v)", stored, err)
			}
			var n int
			s.ReadDB().QueryRow(`SELECT COUNT(*) FROM account`).Scan(&n)
			if n != 1 {
				t.Fatalf("%d accounts, want the one", n)
			}
		})
	}
}

// A request's password hash is kept only while the request can still become an account: every
// decided outcome clears it, and an unverified request whose link expired loses it at the next
// purge, long before the request itself goes.
func TestRequestPasswordHashIsNotKeptOnceUseless(t *testing.T) {
	t.Parallel()
	s, clock := openOutboxStore(t)
	ctx := context.Background()
	stored := func(id int64) string {
		t.Helper()
		var h string
		if err := s.ReadDB().QueryRow(`SELECT password_hash FROM account_request WHERE request_id = ?`, id).Scan(&h); err != nil {
			t.Fatal(err)
		}
		return h
	}
	var tok string
	newAcct, _ := s.CreateAccountRequest(ctx, storedRequest("new@example.org", "S1"), 48*time.Hour, composeVerify(&tok))
	rejected, _ := s.CreateAccountRequest(ctx, storedRequest("rej@example.org", "S1"), 48*time.Hour, composeVerify(&tok))
	consent, _ := s.CreateAccountRequest(ctx, storedRequest("con@example.org", "S1"), 48*time.Hour, composeVerify(&tok))
	waiting, _ := s.CreateAccountRequest(ctx, storedRequest("wait@example.org", "S1"), 48*time.Hour, composeVerify(&tok))
	lapsed, _ := s.CreateAccountRequest(ctx, storedRequest("lapsed@example.org", "S1"), 48*time.Hour, composeVerify(&tok))
	fresh, _ := s.CreateAccountRequest(ctx, storedRequest("fresh@example.org", "S1"), 48*time.Hour, composeVerify(&tok))
	from := []mypt.RequestState{mypt.RequestUnverified}
	for _, d := range []struct {
		id int64
		d  mypt.RequestDecision
	}{
		{newAcct, mypt.RequestDecision{From: from, To: mypt.RequestApproved, DecidedBy: "auto"}},
		{rejected, mypt.RequestDecision{From: from, To: mypt.RequestRejected, DecidedBy: "auto"}},
		{consent, mypt.RequestDecision{From: from, To: mypt.RequestAwaitingConsent, ConsentTTL: time.Hour,
			ConsentEmail: func(string) (mypt.OutboxMessage, error) { return email("consent:1"), nil }}},
		{waiting, mypt.RequestDecision{From: from, To: mypt.RequestAwaitingStaff}},
	} {
		if _, err := s.DecideAccountRequest(ctx, d.id, nil, d.d); err != nil {
			t.Fatal(err)
		}
	}
	if stored(newAcct) != "" || stored(rejected) != "" {
		t.Fatalf("decided requests keep their hash: %q %q", stored(newAcct), stored(rejected))
	}
	if stored(consent) == "" || stored(waiting) == "" {
		t.Fatal("a request still waiting lost the password it may open an account with")
	}
	// The consent link expires unanswered: rejected, hash gone.
	clock.Advance(2 * time.Hour)
	if n, err := s.ExpireConsentRequests(ctx, func(mypt.StoredAccountRequest) (mypt.OutboxMessage, error) {
		return email("consent-expired:1"), nil
	}); err != nil || n != 1 {
		t.Fatalf("expire consent: %d %v", n, err)
	}
	if stored(consent) != "" {
		t.Fatal("the expired consent request keeps its hash")
	}
	// Staff reject the one waiting.
	if _, err := s.DecideAccountRequest(ctx, waiting, nil, mypt.RequestDecision{From: []mypt.RequestState{mypt.RequestAwaitingStaff},
		To: mypt.RequestRejected, DecidedBy: "staff:1", Reason: "no"}); err != nil {
		t.Fatal(err)
	}
	if stored(waiting) != "" {
		t.Fatal("the staff-rejected request keeps its hash")
	}
	// The verify links: one lapses (48 h), the other was sent later and still works.
	if _, err := s.WriteDB().Exec(`UPDATE one_time_token SET expires_at = ? WHERE request_id = ?`,
		sqlite.FormatTime(clock.Now().Add(100*time.Hour)), fresh); err != nil {
		t.Fatal(err)
	}
	clock.Advance(48 * time.Hour)
	if _, err := s.PurgeRetention(ctx, clock.Now(), mypt.DefaultRetention()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AccountRequest(ctx, lapsed); err != nil {
		t.Fatalf("the lapsed request went before its retention: %v", err)
	}
	if stored(lapsed) != "" {
		t.Fatal("an unverified request whose link expired keeps its hash")
	}
	if stored(fresh) != "hash-S1" {
		t.Fatalf("an unverified request whose link still works lost its hash: %q", stored(fresh))
	}
}

// The re-hash at sign-in replaces only the hash the sign-in verified: a reset committed in
// between keeps its new password (a re-hash of the old one must not undo it).
func TestSetPasswordHashReplacesOnlyTheVerifiedHash(t *testing.T) {
	t.Parallel()
	s, _ := openOutboxStore(t)
	ctx := context.Background()
	id, err := s.CreateAccount(ctx, mypt.Account{Email: "p@example.org", FirstName: "P", LastName: "Q", PasswordHash: "old-cost"})
	if err != nil {
		t.Fatal(err)
	}
	sess, _, err := s.CreateSession(ctx, id, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetPasswordHash(ctx, id, "old-cost", "new-cost"); err != nil {
		t.Fatal(err)
	}
	if a, _ := s.Account(ctx, id); a.PasswordHash != "new-cost" {
		t.Fatalf("hash %q after the re-hash", a.PasswordHash)
	}
	if _, err := s.Session(ctx, sess); err != nil {
		t.Fatalf("a re-hash ended the session: %v", err)
	}
	// A reset changed the password after the sign-in read "new-cost"... and before its re-hash.
	if _, err := s.WriteDB().Exec(`UPDATE account SET password_hash = 'after-reset' WHERE account_id = ?`, id); err != nil {
		t.Fatal(err)
	}
	if err := s.SetPasswordHash(ctx, id, "new-cost", "rehash-of-old-password"); !errors.Is(err, mypt.ErrConflict) {
		t.Fatalf("stale re-hash: %v, want ErrConflict", err)
	}
	if a, _ := s.Account(ctx, id); a.PasswordHash != "after-reset" {
		t.Fatalf("a stale re-hash replaced the reset's password: %q", a.PasswordHash)
	}
}
