package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"mypt"
	"mypt/adapters/sqlite"
	"mypt/config"
	"mypt/syncer"
)

// gaugeValue reads one labelled sample of a gauge from reg (-1 when absent).
func gaugeValue(t *testing.T, reg *prometheus.Registry, name, label, value string) float64 {
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
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					return m.GetGauge().GetValue()
				}
			}
		}
	}
	return -1
}

// An applied push batch that makes a student ineligible ends the parent's access at once: the
// sweep runs on the batch, not at its next tick (an hour away here).
func TestAppliedPushBatchEndsAccessAtOnce(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "mypt.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	cfg := config.Config{}
	cfg.Accounts.SweepInterval = time.Hour
	cfg.Push.Tokens = []config.Secret{testToken}
	reg := prometheus.NewRegistry()
	a := &app{cfg: cfg, log: slog.New(slog.DiscardHandler), now: time.Now, store: st, reg: reg}

	rec := func(op mypt.Op, status string) string {
		return fmt.Sprintf(`{"entity":"student","op":"%s","data":{"StudentID":"S1","LegalFirstNames":"Seán","LegalLastName":"Murphy","DateOfBirth":"2010-04-05","HasEHCP":false,"College":"north","ShareInfoConsent":false,"Status":"%s"%s}}`,
			op, status, map[string]string{"current": "", "left": `,"LeftDate":"2026-01-05"`}[status])
	}
	h, err := newPushHandler(a)
	if err != nil {
		t.Fatal(err)
	}
	send := func(id, line string) {
		t.Helper()
		req := httptest.NewRequest(http.MethodPost, "/mis/v1/batches", strings.NewReader(`{"batch":"`+id+`","mode":"delta"}`+"\n"+line+"\n"))
		req.Header.Set("Authorization", "Bearer "+testToken)
		req.Header.Set("Content-Type", "application/x-ndjson")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			t.Fatalf("push %s: %d %s", id, w.Code, w.Body)
		}
	}
	send("b1", rec(mypt.OpUpsert, "current"))
	id, err := st.CreateAccount(ctx, mypt.Account{Email: "p@example.org", FirstName: "Pat", LastName: "Murphy", PasswordHash: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.LinkStudent(ctx, mypt.StudentLink{AccountID: id, StudentID: "S1", Relationship: "Mother", Status: mypt.LinkApproved,
		ApprovedAt: time.Now(), ApprovedBy: "auto"}); err != nil {
		t.Fatal(err)
	}
	if err := a.addEligibility(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.workers[0].run(ctx) }()
	// The first sweep (at start) has run once the account gauge counts the active account.
	for i := 0; gaugeValue(t, reg, "mypt_accounts", "state", "active") != 1; i++ {
		if i == 400 {
			t.Fatal("the sweep never ran at start")
		}
		time.Sleep(25 * time.Millisecond)
	}
	if links, _ := st.LinkedStudents(ctx, id); len(links) != 1 || links[0].Status != mypt.LinkApproved {
		t.Fatalf("links before the batch: %+v", links)
	}
	send("b2", rec(mypt.OpUpsert, "left"))
	for i := 0; ; i++ {
		links, err := st.LinkedStudents(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if len(links) == 1 && links[0].Status == mypt.LinkEnded {
			break
		}
		if i == 400 {
			t.Fatalf("access not ended after the batch: %+v", links)
		}
		time.Sleep(25 * time.Millisecond)
	}
	cancel()
	<-done
}

// A pull pass notifies after its run is recorded, even a failed one (it may have committed batches).
func TestRecordRunThenNotifies(t *testing.T) {
	var n int
	var s syncDone
	s.add(func() { n++ })
	rec := recordRunThen(func(context.Context, syncer.Run) error { return fmt.Errorf("disk full") }, func(syncer.Run) { s.notify() })
	if err := rec(context.Background(), syncer.Run{Entity: mypt.EntityStudent}); err == nil || n != 1 {
		t.Fatalf("err %v, notified %d times", err, n)
	}
}
