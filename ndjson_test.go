package mypt

import (
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

const goodBatch = `{"batch":"2026-12-02-nightly","mode":"delta"}
{"entity":"mark_type","op":"upsert","data":{"Mark":"/","Description":"Present","Status":1,"IsLate":false,"IsAuthorisedAbsence":false}}
{"entity":"student","op":"upsert","data":{"StudentID":"S1","LegalFirstNames":"Siobhán","LegalLastName":"O’Neill-Smith","DateOfBirth":"2008-03-14","HasEHCP":false,"College":"north","ShareInfoConsent":false,"Status":"current"}}

{"entity":"attendance_mark","op":"upsert","data":{"MarkID":"M1","StudentID":"S1","EnrolmentID":"E1","SessionDate":"2018-09-10","StartTime":"09:00","EndTime":"10:30","Mark":"/"}}
{"entity":"document","op":"upsert","data":{"DocumentID":"D1","StudentID":"S1","Title":"Letter","CreatedAt":"2018-09-01T10:00:00+01:00","ContentType":"application/pdf","Content":"JVBERi0xLjQ="}}
{"entity":"attendance_mark","op":"delete","key":"M0"}
`

func TestParseBatch(t *testing.T) {
	t.Parallel()
	b, err := ParseBatch(strings.NewReader(goodBatch), ParseLimits{})
	if err != nil {
		t.Fatal(err)
	}
	if b.ID != "2026-12-02-nightly" || b.Mode != ModeDelta || b.Force || len(b.Entities) != 0 || b.Source != "" {
		t.Errorf("header = %+v", b)
	}
	if len(b.Records) != 5 {
		t.Fatalf("%d records, want 5", len(b.Records))
	}
	wantLines := []int{2, 3, 5, 6, 7}
	for i, r := range b.Records {
		if r.Line != wantLines[i] {
			t.Errorf("record %d on line %d, want %d", i, r.Line, wantLines[i])
		}
	}
	if s, ok := b.Records[1].Row.(Student); !ok || s.LegalLastName != "O’Neill-Smith" || s.DateOfBirth != NewDate(2008, 3, 14) {
		t.Errorf("student = %#v", b.Records[1].Row)
	}
	if d, ok := b.Records[3].Row.(Document); !ok || string(d.Content) != "%PDF-1.4" || d.CreatedAt.UTC().Hour() != 9 {
		t.Errorf("document = %#v", b.Records[3].Row)
	}
	if r := b.Records[4]; r.Op != OpDelete || r.Key != "M0" || r.Row != nil || r.Entity != EntityAttendanceMark {
		t.Errorf("delete = %+v", r)
	}

	snap, err := ParseBatch(iotest.OneByteReader(strings.NewReader(
		"\xef\xbb\xbf{\"batch\":\"s1\",\"mode\":\"snapshot\",\"entities\":[\"student\",\"contact\"],\"force\":true}\r\n"+
			`{"entity":"contact","op":"delete","key":"K1"}`)), ParseLimits{})
	if err != nil {
		t.Fatal(err)
	}
	if snap.Mode != ModeSnapshot || !snap.Force || len(snap.Entities) != 2 || snap.Entities[1] != EntityContact || len(snap.Records) != 1 {
		t.Errorf("snapshot = %+v", snap)
	}
}

func TestParseBatchReportsEveryBadLine(t *testing.T) {
	t.Parallel()
	in := `{"batch":"b1","mode":"delta"}
{"entity":"student","op":"upsert","data":{"StudentID":"S1","LegalFirstNames":"A","LegalLastName":"B","DateOfBirth":"31/02/2008","Status":"current"}}
{"entity":"pupil","op":"upsert","data":{}}
not json
{"entity":"student","op":"merge","key":"S1"}
{"entity":"student","op":"delete"}
{"entity":"student","op":"delete","key":"S1","data":{}}
{"entity":"student","op":"upsert"}
{"entity":"student","op":"upsert","data":{"StudentID":"S2","LegalFirstNames":"A","LegalLastName":"B","DateOfBirth":"2008-01-01","Status":"current","Shoe":9}}
{"entity":"student","op":"upsert","data":{"StudentID":"S3","LegalFirstNames":"A","LegalLastName":"","DateOfBirth":"2008-01-01","Status":"current"}}
{"entity":"student","op":"upsert","key":"S9","data":{"StudentID":"S4","LegalFirstNames":"A","LegalLastName":"B","DateOfBirth":"2008-01-01","Status":"current"}}
{"entity":"student","op":"delete","key":"S1"} {"entity":"student","op":"delete","key":"S2"}
{"entity":"student","op":"upsert","data":"S5"}
{"entity":"student","op":"upsert","data":{"StudentID":"S6","LegalFirstNames":"A","LegalLastName":"B","DateOfBirth":"2008-01-01","HasEHCP":"yes","Status":"current"}}
{"entity":"attendance_mark","op":"delete","key":"M1"}
`
	_, err := ParseBatch(strings.NewReader(in), ParseLimits{})
	var be *BatchError
	if !errors.As(err, &be) || !errors.Is(err, ErrInvalid) {
		t.Fatalf("err = %v, want a BatchError", err)
	}
	want := map[int]string{
		2:  "DateOfBirth",
		3:  "unknown entity",
		4:  "not a JSON object",
		5:  `"op" must be`,
		6:  `a delete needs "key"`,
		7:  `not "data"`,
		8:  `needs "data"`,
		9:  `unknown column "Shoe"`,
		10: "LegalLastName: is required",
		11: "does not match",
		12: "more than one JSON value",
		13: "must be a JSON object",
		14: "HasEHCP: must be a JSON boolean",
	}
	got := map[int]LineError{}
	for _, l := range be.Lines {
		got[l.Line] = l
	}
	for line, reason := range want {
		if !strings.Contains(got[line].Reason, reason) {
			t.Errorf("line %d: reason %q, want it to contain %q", line, got[line].Reason, reason)
		}
	}
	if len(be.Lines) != len(want) {
		t.Errorf("%d bad lines reported, want %d: %v", len(be.Lines), len(want), be.Lines)
	}
	if l := got[10]; l.Key != "S3" || l.Entity != EntityStudent || l.Op != OpUpsert {
		t.Errorf("line 10 names %q %q %q, want the student's key", l.Entity, l.Op, l.Key)
	}
}

func TestParseBatchHeader(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct{ in, reason string }{
		"empty body":            {"", "the batch is empty"},
		"record first":          {`[1]`, "the first line must be the header"},
		"no id":                 {`{"mode":"delta"}`, `"batch" (the batch id) is required`},
		"long id":               {`{"batch":"` + strings.Repeat("x", 129) + `"}`, "longer than 128"},
		"control characters":    {`{"batch":"a\u0007b"}`, "control characters"},
		"bad mode":              {`{"batch":"b","mode":"merge"}`, `"mode" must be`},
		"snapshot, no entities": {`{"batch":"b","mode":"snapshot"}`, "must name the entities"},
		"snapshot, bad entity":  {`{"batch":"b","mode":"snapshot","entities":["pupil"]}`, "unknown entity"},
		"snapshot, twice":       {`{"batch":"b","mode":"snapshot","entities":["student","student"]}`, "twice"},
		"delta with entities":   {`{"batch":"b","mode":"delta","entities":["student"]}`, "only for a snapshot"},
		"unknown field":         {`{"batch":"b","mode":"delta","dry_run":true}`, `header: unknown field "dry_run"`},
		"a record first":        {`{"entity":"student","op":"delete","key":"S1"}`, `the first line must be the batch header {"batch":…`},
		"a record first, data":  {`{"entity":"student","op":"upsert","data":{}}` + "\n" + `{"batch":"b"}`, `the first line must be the batch header {"batch":…`},
	} {
		_, err := ParseBatch(strings.NewReader(tc.in), ParseLimits{})
		var be *BatchError
		if !errors.As(err, &be) || len(be.Lines) == 0 || be.Lines[0].Line != 1 || !strings.Contains(be.Lines[0].Reason, tc.reason) {
			t.Errorf("%s: err = %v, want line 1 %q", name, err, tc.reason)
		}
	}
	// A record as the first line is not "unknown column", and header fields are never columns.
	_, err := ParseBatch(strings.NewReader(`{"entity":"student","op":"delete","key":"S1"}`), ParseLimits{})
	if err == nil || strings.Contains(err.Error(), "column") {
		t.Errorf("a record first: %v", err)
	}
	b, err := ParseBatch(strings.NewReader(`{"batch":"only-header"}`), ParseLimits{})
	if err != nil || b.Mode != ModeDelta || len(b.Records) != 0 {
		t.Errorf("header only, no mode: %+v, %v; want an empty delta", b, err)
	}
}

func TestParseBatchLimits(t *testing.T) {
	t.Parallel()
	long := `{"entity":"attendance_mark","op":"delete","key":"` + strings.Repeat("x", 300) + `"}`
	in := "{\"batch\":\"b\"}\n" + long + "\n" + `{"entity":"attendance_mark","op":"delete","key":"M1"}` + "\n" + long
	_, err := ParseBatch(strings.NewReader(in), ParseLimits{MaxLineBytes: 100})
	var be *BatchError
	if !errors.As(err, &be) || len(be.Lines) != 2 || be.Lines[0].Line != 2 || be.Lines[1].Line != 4 ||
		!strings.Contains(be.Lines[0].Reason, "longer than 100 bytes") {
		t.Fatalf("err = %v, want lines 2 and 4 too long", err)
	}

	var many strings.Builder
	many.WriteString("{\"batch\":\"b\"}\n")
	for range 10 {
		many.WriteString("nope\n")
	}
	_, err = ParseBatch(strings.NewReader(many.String()), ParseLimits{MaxErrors: 3})
	if !errors.As(err, &be) || len(be.Lines) != 3 || be.More != 7 || !strings.Contains(err.Error(), "10 bad line(s)") {
		t.Errorf("capped errors: %v (%+v)", err, be)
	}
	_, err = ParseBatch(strings.NewReader(goodBatch), ParseLimits{MaxRecords: 2})
	if !errors.As(err, &be) || !strings.Contains(be.Lines[0].Reason, "more than 2 records") {
		t.Errorf("record limit: %v", err)
	}
}

func TestParseBatchReadError(t *testing.T) {
	t.Parallel()
	boom := errors.New("connection reset")
	_, err := ParseBatch(io.MultiReader(strings.NewReader("{\"batch\":\"b\"}\n"), iotest.ErrReader(boom)), ParseLimits{})
	var be *BatchError
	if !errors.Is(err, boom) || errors.As(err, &be) {
		t.Errorf("err = %v, want the read error, not a BatchError", err)
	}
}

func FuzzParseBatch(f *testing.F) {
	f.Add(goodBatch)
	f.Add(`{"batch":"s","mode":"snapshot","entities":["student"],"force":true}` + "\n" + `{"entity":"student","op":"delete","key":"S1"}`)
	f.Add("")
	f.Add("\n\n\n")
	f.Add(`{"batch":"b"}` + "\n" + `{"entity":"further_detail","op":"upsert","data":{"StudentID":"S1","ConsentForVisits":null}}`)
	f.Add(`{"batch":"b"}` + "\n" + `{"entity":"target","op":"upsert","data":{"TargetID":"T","StudentID":"S","Text":"x","SetDate":"2019-02-29","Status":"Open"}}`)
	f.Add(`{"batch":"b"}` + "\n" + `{"entity":"policy_read","op":"upsert","data":{"PolicyReadID":"P","StudentID":"S","Policy":"x","ReadAt":"2024-13-01T00:00:00Z"}}`)
	f.Add("{\"batch\":\"b\"}\r\n{\"entity\":\"document\",\"op\":\"upsert\",\"data\":{\"Content\":\"!!!\"}}\r\n")
	f.Add(`{"batch":"\ud800"}`)
	f.Add(`{"batch":"b"}` + "\n" + `{"entity":"course","op":"upsert","data":{"CourseID":"C","Code":"c","Title":"t","AcademicYear":1e400}}`)
	f.Fuzz(func(t *testing.T, in string) {
		b, err := ParseBatch(strings.NewReader(in), ParseLimits{MaxLineBytes: 4096, MaxErrors: 50})
		if err != nil {
			var be *BatchError
			if !errors.As(err, &be) {
				t.Fatalf("a strings.Reader cannot fail to read, but: %v", err)
			}
			if len(be.Lines) == 0 {
				t.Fatal("a BatchError with no lines")
			}
			prev := 0
			for _, l := range be.Lines {
				if l.Line < 1 || l.Line < prev || l.Reason == "" {
					t.Fatalf("bad line error %+v after line %d", l, prev)
				}
				prev = l.Line
			}
			if len(b.Records) != 0 {
				t.Fatal("records returned with an error")
			}
			return
		}
		if b.ID == "" || (b.Mode != ModeDelta && b.Mode != ModeSnapshot) {
			t.Fatalf("accepted header %+v", b)
		}
		prev := 1
		for _, r := range b.Records {
			if r.Line <= prev || !r.Entity.Valid() || r.Key == "" {
				t.Fatalf("accepted record %+v after line %d", r, prev)
			}
			prev = r.Line
			switch r.Op {
			case OpDelete:
				if r.Row != nil {
					t.Fatalf("delete with a row: %+v", r)
				}
			case OpUpsert:
				if r.Row == nil || r.Row.Key() != r.Key || r.Row.EntityName() != r.Entity || r.Row.Validate() != nil {
					t.Fatalf("accepted upsert %+v", r)
				}
			default:
				t.Fatalf("accepted op %q", r.Op)
			}
		}
	})
}

// An unknown field beside "data" is named as a record field, not as a view's column; one
// inside "data" is a column.
func TestRecordFieldsAreNotColumns(t *testing.T) {
	in := "{\"batch\":\"b1\"}\n" +
		`{"entity":"student","op":"upsert","dta":{}}` + "\n" +
		`{"entity":"mark_type","op":"upsert","data":{"Mark":"/","Description":"Present","Status":1,"Colour":"red"}}` + "\n"
	_, err := ParseBatch(strings.NewReader(in), ParseLimits{})
	var be *BatchError
	if !errors.As(err, &be) || len(be.Lines) != 2 {
		t.Fatalf("err = %v", err)
	}
	if r := be.Lines[0].Reason; !strings.Contains(r, `unknown record field`) || !strings.Contains(r, `"dta"`) {
		t.Errorf("line 2: %q", r)
	}
	if r := be.Lines[1].Reason; !strings.Contains(r, `unknown column "Colour"`) {
		t.Errorf("line 3: %q", r)
	}
}
