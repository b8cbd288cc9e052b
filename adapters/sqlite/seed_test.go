package sqlite

import (
	"context"
	"fmt"
	"testing"

	"mypt"
	"mypt/internal/synth"
)

// The seed guide's attendance table (DESIGN §3's acceptance example), pushed through ApplyBatch
// and read back from the precomputed rows: 21 weeks, 63 / 60 / 1, 95.2% / 98.3%.
func TestSeedTableThroughIngest(t *testing.T) {
	t.Parallel()
	seed, err := synth.LoadSeedTable()
	if err != nil {
		t.Fatal(err)
	}
	rows := []mypt.Row{
		mypt.MarkType{Mark: "/", Description: "Present (morning)", Status: 1},
		mypt.MarkType{Mark: `\`, Description: "Present (afternoon)", Status: 1},
		mypt.MarkType{Mark: "O", Description: "Absent", Status: 0},
		mypt.MarkType{Mark: "L", Description: "Late", Status: 1, IsLate: true},
	}
	for wi, w := range seed.Weeks {
		mon, err := mypt.ParseUKDate(w.WC)
		if err != nil {
			t.Fatal(err)
		}
		for i, m := range w.Marks {
			rows = append(rows, mypt.AttendanceMark{MarkID: fmt.Sprintf("M%02d%d", wi, i), StudentID: "S1", EnrolmentID: "E1",
				SessionDate: mon.AddDays(i % 5), StartTime: "09:00", EndTime: "10:00", Mark: m})
		}
	}
	s := MustOpen(t)
	mustApply(t, s, mypt.Batch{ID: "seed", Source: "push", AllOrNothing: true, Records: upsert(rows...)})
	checkAttendance(t, s)

	ctx := context.Background()
	dbRows, err := s.ReadDB().QueryContext(ctx, `SELECT week_start, present, late, absent, authorised_absent, neutral, unmarked
		FROM attendance_week WHERE student_id = 'S1' AND academic_year = 2018
		AND present + late + absent + authorised_absent > 0 ORDER BY week_start`)
	if err != nil {
		t.Fatal(err)
	}
	var i int
	for ; dbRows.Next(); i++ {
		var ws string
		var tl mypt.Tally
		if err := dbRows.Scan(&ws, &tl.Present, &tl.Late, &tl.Absent, &tl.AuthorisedAbsent, &tl.Neutral, &tl.Unmarked); err != nil {
			t.Fatal(err)
		}
		if i >= len(seed.Weeks) {
			continue
		}
		w := seed.Weeks[i]
		if d, _ := mypt.ParseDate(ws); d.UK() != w.WC || tl.AttendancePct().Number() != w.AttendancePct || tl.PunctualityPct().Number() != w.PunctualityPct {
			t.Errorf("week %d: w/c %s %s / %s, want %s %s / %s", i, ws, tl.AttendancePct(), tl.PunctualityPct(), w.WC, w.AttendancePct, w.PunctualityPct)
		}
	}
	dbRows.Close()
	if i != 21 || len(seed.Weeks) != 21 {
		t.Errorf("%d weeks shown, want 21", i)
	}
	var tl mypt.Tally
	if err := s.ReadDB().QueryRowContext(ctx, `SELECT present, late, absent, authorised_absent FROM attendance_year
		WHERE student_id = 'S1' AND academic_year = 2018 AND enrolment_id = ''`).Scan(&tl.Present, &tl.Late, &tl.Absent, &tl.AuthorisedAbsent); err != nil {
		t.Fatal(err)
	}
	tot := seed.Totals
	if tl.Possible() != 63 || tl.Attended() != 60 || tl.Late != 1 || tl.AttendancePct().String() != "95.2%" || tl.PunctualityPct().String() != "98.3%" ||
		tot.TotalMarks != 63 || tot.Attended != 60 || tot.Late != 1 {
		t.Errorf("year = %d / %d / %d, %s / %s; want 63 / 60 / 1, 95.2%% / 98.3%%", tl.Possible(), tl.Attended(), tl.Late,
			tl.AttendancePct(), tl.PunctualityPct())
	}
}
