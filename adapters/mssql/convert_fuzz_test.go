package mssql

import (
	"strings"
	"testing"
	"time"

	"mypt"
)

// FuzzConvertRow feeds MIS result rows of every contract view, with values of any Go type the
// driver can return, to the row converter: it must never panic, and it either rejects the row
// with a reason or returns a valid row whose key it reports.
func FuzzConvertRow(f *testing.F) {
	f.Add(uint8(2), "S1\x1fSiobhán\x1fO’Neill-Smith\x1f\x1f2008-01-02\x1f1\x1fCRO\x1f\x1f0\x1fcurrent\x1f", []byte{1, 1, 1, 0, 1, 1, 1, 0, 1, 1, 0})
	f.Add(uint8(6), "M1\x1fS1\x1fE1\x1f2019-02-11\x1f09:00\x1f10:00\x1fO", []byte{1, 1, 1, 5, 1, 1, 1})
	f.Add(uint8(7), "D1\x1fS1\x1fLetter\x1f\x1f2024-07-01T09:00:00Z\x1fapplication/pdf\x1f%PDF", []byte{1, 1, 1, 0, 5, 1, 4})
	f.Add(uint8(0), "/\x1fPresent\x1f7\x1fyes\x1fmaybe", []byte{1, 1, 2, 1, 1})
	loc, err := time.LoadLocation("Europe/London")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, which uint8, values string, kinds []byte) {
		spec := Contract[int(which)%len(Contract)]
		names := []string{"RowVer"}
		dbTypes := []string{"TIMESTAMP"}
		for _, c := range spec.Columns {
			names = append(names, c.Name)
			typ, _, _ := strings.Cut(c.Type, "(")
			dbTypes = append(dbTypes, typ)
		}
		conv, err := newColumnConverter(spec.Entity, spec.Key, names, dbTypes, loc, 1<<10)
		if err != nil {
			t.Fatal(err)
		}
		parts := strings.Split(values, "\x1f")
		vals := make([]any, len(names))
		vals[0] = []byte{0, 0, 0, 0, 0, 0, 0, 1}
		for i := 1; i < len(vals); i++ {
			s := ""
			if i-1 < len(parts) {
				s = parts[i-1]
			}
			k := byte(1)
			if i-1 < len(kinds) {
				k = kinds[i-1] % 6
			}
			switch k {
			case 0:
				vals[i] = nil
			case 1:
				vals[i] = s
			case 2:
				vals[i] = int64(len(s)) - 3
			case 3:
				vals[i] = len(s)%2 == 0
			case 4:
				vals[i] = []byte(s)
			case 5:
				tm, err := time.Parse(time.RFC3339, s)
				if err != nil {
					tm = time.Date(2019, 2, 11, 9, 0, 0, 0, time.UTC)
				}
				vals[i] = tm
			}
		}
		key, rv, row, reject := conv.convert(vals)
		if len(rv) != 8 {
			t.Fatalf("RowVer lost: %x", rv)
		}
		if reject != nil {
			if reject.Error() == "" || row != nil {
				t.Fatalf("rejection %q with row %v", reject, row)
			}
			return
		}
		if row == nil || row.EntityName() != spec.Entity || row.Key() != key {
			t.Fatalf("row %#v key %q for %s", row, key, spec.Entity)
		}
		if err := row.Validate(); err != nil {
			t.Fatalf("accepted an invalid row: %v", err)
		}
		_ = mypt.Entities
	})
}
