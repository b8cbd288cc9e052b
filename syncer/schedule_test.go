package syncer_test

import (
	"testing"
	"time"

	"mypt/syncer"
)

// DM-4: a nightly job runs exactly once on both daylight-saving change days, whether its wall
// time is skipped (01:30 on 30 March 2025), doubled (01:30 on 26 October 2025) or ordinary (02:30).
func TestDailyRunsOnceOnDSTChangeDays(t *testing.T) {
	t.Parallel()
	london, err := time.LoadLocation("Europe/London")
	if err != nil {
		t.Fatal(err)
	}
	for _, at := range []string{"01:30", "02:30", "00:30", "01:00", "23:59"} {
		d, err := syncer.ParseDaily(at, london)
		if err != nil {
			t.Fatal(err)
		}
		for _, day := range []time.Time{
			time.Date(2025, 3, 30, 0, 0, 0, 0, london),
			time.Date(2025, 10, 26, 0, 0, 0, 0, london),
			time.Date(2025, 6, 1, 0, 0, 0, 0, london),
		} {
			end := time.Date(day.Year(), day.Month(), day.Day()+1, 0, 0, 0, 0, london)
			var runs []time.Time
			// Walk from the day before, as the loop does: each run scheduled from the previous one.
			for next := d.Next(day.Add(-24 * time.Hour)); next.Before(end); next = d.Next(next) {
				if !next.Before(day) {
					runs = append(runs, next)
				}
			}
			if len(runs) != 1 {
				t.Errorf("%s on %s: %d runs %v, want exactly 1", at, day.Format("2006-01-02"), len(runs), runs)
				continue
			}
			// Also from any moment of the day: never a second run the same day.
			for m := day; m.Before(end); m = m.Add(10 * time.Minute) {
				if n := d.Next(m); n.Before(end) && !n.Equal(runs[0]) {
					t.Errorf("%s on %s: from %s the next run is %s, a second run", at, day.Format("2006-01-02"), m, n)
					break
				}
			}
		}
	}
	d, _ := syncer.ParseDaily("01:30", london)
	// On 26 October 01:30 happens twice: the first (BST, 00:30 UTC) is the run.
	if got := d.Next(time.Date(2025, 10, 26, 0, 0, 0, 0, time.UTC)); !got.Equal(time.Date(2025, 10, 26, 0, 30, 0, 0, time.UTC)) {
		t.Errorf("26 October: %s", got.UTC())
	}
	// On 30 March 01:30 does not exist: the run is just after the gap (01:30 GMT = 02:30 BST).
	if got := d.Next(time.Date(2025, 3, 29, 12, 0, 0, 0, time.UTC)); !got.Equal(time.Date(2025, 3, 30, 1, 30, 0, 0, time.UTC)) {
		t.Errorf("30 March: %s", got.UTC())
	}
	if _, err := syncer.ParseDaily("2:30", london); err == nil {
		t.Error("2:30 accepted")
	}
}

// FuzzParseDaily: mis.reconcile_at comes from the config file; any input parses or is refused,
// and a parsed time always has a next run in the future, on the next calendar day at the latest.
func FuzzParseDaily(f *testing.F) {
	for _, s := range []string{"02:30", "01:30", "24:00", "2:30", "", "23:59", "00:00", "ab:cd"} {
		f.Add(s, int64(1743292800))
	}
	london, err := time.LoadLocation("Europe/London")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, s string, unix int64) {
		d, err := syncer.ParseDaily(s, london)
		if err != nil {
			return
		}
		from := time.Unix(unix%(1<<34), 0)
		next := d.Next(from)
		if !next.After(from) || next.Sub(from) > 50*time.Hour {
			t.Fatalf("%q from %s: next %s", s, from, next)
		}
	})
}
