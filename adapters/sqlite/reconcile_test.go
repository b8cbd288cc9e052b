package sqlite

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"testing"

	"mypt"
)

// Keys that need care: typographic and ASCII apostrophes, Unicode in composed and decomposed
// forms, case variants (SQL Server would call them equal; the cache does not), GUIDs in both
// cases, and a key that sorts before everything else in bytes.
var careKeys = []string{
	"O’Neill", "D'Arcy", "Zoë", "Zoe\u0308", "zoë", "日本語-1", "Ωmega",
	"6F9619FF-8B86-D011-B42D-00C04FC964FF", "6f9619ff-8b86-d011-b42d-00c04fc964ff",
	"{0E984725-C51C-4BF4-9960-E1C80E27ABA0}", "!first", "C1", "c1", "C10", "C2",
}

func courses(keys ...string) []mypt.Row {
	rows := make([]mypt.Row, len(keys))
	for i, k := range keys {
		rows[i] = mypt.Course{CourseID: k, Code: "X", Title: "Course " + k, AcademicYear: 2018}
	}
	return rows
}

func cachedCourses(t *testing.T, s *Store) []string {
	t.Helper()
	var keys []string
	if err := s.EntityKeys(context.Background(), mypt.EntityCourse, func(k string) error {
		keys = append(keys, k)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return keys
}

func yieldAll(keys []string) func(yield func(string) error) error {
	return func(yield func(string) error) error {
		for _, k := range keys {
			if err := yield(k); err != nil {
				return err
			}
		}
		return nil
	}
}

func noScratchLeft(t *testing.T, s *Store) {
	t.Helper()
	if left, _ := filepath.Glob(ScratchPattern(s.Path())); len(left) > 0 {
		t.Errorf("scratch files left behind: %v", left)
	}
}

type counts struct{ mis, cached, missing int }

func TestMissingKeys(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := MustOpen(t)
	mustApply(t, s, mypt.Batch{Source: "test", ID: "b1", Records: upsert(courses(careKeys...)...)})

	// The MIS has every other key, one twice, and keys the cache has never seen.
	var mis, want []string
	for i, k := range careKeys {
		if i%2 == 0 {
			mis = append(mis, k)
		} else {
			want = append(want, k)
		}
	}
	mis = append(mis, careKeys[0], "new-in-the-MIS", "ZOË")
	slices.Sort(want)

	var got []string
	var c counts
	err := s.MissingKeys(ctx, mypt.EntityCourse, yieldAll(mis),
		func(misKeys, cached, missing int) error { c = counts{misKeys, cached, missing}; return nil },
		func(k string) error {
			got = append(got, k)
			// fn may write to the cache while the missing keys are streamed.
			_, err := s.ApplyBatch(ctx, mypt.Batch{Source: "test", Mode: mypt.ModeDelta, Records: del(mypt.EntityCourse, k)})
			return err
		})
	if err != nil {
		t.Fatal(err)
	}
	if wantC := (counts{len(mis) - 1, len(careKeys), len(want)}); c != wantC {
		t.Errorf("check got %+v, want %+v", c, wantC)
	}
	if !slices.Equal(got, want) {
		t.Errorf("missing keys\n got %q\nwant %q", got, want)
	}
	left := cachedCourses(t, s)
	var wantLeft []string
	for i, k := range careKeys {
		if i%2 == 0 {
			wantLeft = append(wantLeft, k)
		}
	}
	slices.Sort(wantLeft)
	if !slices.Equal(left, wantLeft) {
		t.Errorf("cache after deletions\n got %q\nwant %q", left, wantLeft)
	}
	noScratchLeft(t, s)

	// Nothing missing: check sees 0, fn is not called.
	err = s.MissingKeys(ctx, mypt.EntityCourse, yieldAll(mis),
		func(misKeys, cached, missing int) error { c = counts{misKeys, cached, missing}; return nil },
		func(k string) error { t.Errorf("fn(%q) with nothing missing", k); return nil })
	if err != nil || c != (counts{len(mis) - 1, len(wantLeft), 0}) {
		t.Errorf("nothing missing: %+v %v", c, err)
	}
	noScratchLeft(t, s)
}

func TestMissingKeysEmptyMISGuardAndForce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := MustOpen(t)
	mustApply(t, s, mypt.Batch{Source: "test", ID: "b1", Records: upsert(courses(careKeys...)...)})
	empty := func(func(string) error) error { return nil }

	// An empty MIS: everything is missing; a refusing check stops it, its error returned as is.
	refused := errors.New("refused by check")
	var c counts
	err := s.MissingKeys(ctx, mypt.EntityCourse, empty,
		func(misKeys, cached, missing int) error { c = counts{misKeys, cached, missing}; return refused },
		func(k string) error { t.Errorf("fn(%q) after check refused", k); return nil })
	if err != refused {
		t.Fatalf("refused: %v", err)
	}
	if c != (counts{0, len(careKeys), len(careKeys)}) {
		t.Errorf("empty MIS: check got %+v", c)
	}
	if n := len(cachedCourses(t, s)); n != len(careKeys) {
		t.Errorf("a refused reconciliation deleted rows: %d left", n)
	}
	noScratchLeft(t, s)

	// Forced: every key is deleted, in batches as the syncer makes them.
	var batch []string
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		_, err := s.ApplyBatch(ctx, mypt.Batch{Source: "test", Mode: mypt.ModeDelta, Force: true, Records: del(mypt.EntityCourse, batch...)})
		batch = batch[:0]
		return err
	}
	err = s.MissingKeys(ctx, mypt.EntityCourse, empty, func(int, int, int) error { return nil },
		func(k string) error {
			if batch = append(batch, k); len(batch) == 4 {
				return flush()
			}
			return nil
		})
	if err == nil {
		err = flush()
	}
	if err != nil {
		t.Fatal(err)
	}
	if left := cachedCourses(t, s); len(left) != 0 {
		t.Errorf("forced delete of everything left %q", left)
	}
	// An empty cache and an empty MIS.
	err = s.MissingKeys(ctx, mypt.EntityCourse, empty,
		func(misKeys, cached, missing int) error { c = counts{misKeys, cached, missing}; return nil },
		func(k string) error { t.Errorf("fn(%q) on an empty cache", k); return nil })
	if err != nil || c != (counts{}) {
		t.Errorf("empty cache: %+v %v", c, err)
	}
	noScratchLeft(t, s)
}

func TestMissingKeysErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := MustOpen(t)
	mustApply(t, s, mypt.Batch{Source: "test", ID: "b1", Records: upsert(courses("C1", "C2", "C3")...)})
	ok := func(int, int, int) error { return nil }

	// The source fails part-way (more keys than one INSERT takes): its error comes back as it is,
	// so the syncer can tell a transient one.
	lost := errors.New("connection lost")
	err := s.MissingKeys(ctx, mypt.EntityCourse, func(yield func(string) error) error {
		for i := range 3 * scratchInsertRows {
			if err := yield(string(rune('a' + i%26))); err != nil {
				return err
			}
		}
		return lost
	}, func(int, int, int) error { t.Error("check called after the source failed"); return nil }, nil)
	if err != lost {
		t.Errorf("source error: %v", err)
	}
	// fn's error stops the stream and comes back as it is.
	stop := errors.New("stop")
	calls := 0
	err = s.MissingKeys(ctx, mypt.EntityCourse, yieldAll(nil), ok, func(string) error { calls++; return stop })
	if err != stop || calls != 1 {
		t.Errorf("fn error: %v after %d calls", err, calls)
	}
	if err := s.MissingKeys(ctx, "nonsense", yieldAll(nil), ok, nil); !errors.Is(err, mypt.ErrInvalid) {
		t.Errorf("unknown entity: %v", err)
	}
	// A cancelled context.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.MissingKeys(cctx, mypt.EntityCourse, yieldAll([]string{"C1"}), ok, nil); err == nil {
		t.Error("a cancelled context: no error")
	}
	noScratchLeft(t, s)
	if n := len(cachedCourses(t, s)); n != 3 {
		t.Errorf("failed reconciliations changed the cache: %d courses", n)
	}
}

// The scratch connection has the cache attached read-only: nothing run on it can write the
// cache.
func TestScratchCannotWriteTheCache(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := MustOpen(t)
	mustApply(t, s, mypt.Batch{Source: "test", ID: "b1", Records: upsert(courses("C1")...)})
	sc, err := s.openScratch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sc.conn.ExecContext(ctx, `DELETE FROM cache.course`); err == nil {
		t.Error("the scratch connection deleted from the cache")
	}
	if err := sc.close(); err != nil {
		t.Fatal(err)
	}
	if n := len(cachedCourses(t, s)); n != 1 {
		t.Errorf("%d courses", n)
	}
	noScratchLeft(t, s)
}
