package mssql

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"

	"mypt"
	"mypt/adapters/mssql/mssqltest"
)

// CreateContract creates every view of the contract as a table of the test server, with the
// contract's SQL Server types and a RowVer rowversion column.
func CreateContract(ctx context.Context, srv *mssqltest.Server) error {
	for _, v := range Contract {
		cols := make([]mssqltest.Column, 0, len(v.Columns)+1)
		for _, c := range v.Columns {
			cols = append(cols, mssqltest.Column{Name: c.Name, Type: c.Type, Nullable: c.Nullable, Key: c.Name == v.Key})
		}
		cols = append(cols, mssqltest.Column{Name: "RowVer", Type: "rowversion"})
		if err := srv.CreateTable(ctx, v.View, cols...); err != nil {
			return err
		}
	}
	return nil
}

// LoadRows writes domain rows into the test server's contract tables, as the MIS would hold
// them: instants as Europe/London wall-clock datetimes, documents as varbinary. Rows of one
// entity are loaded in one transaction, each with a fresh rowversion.
func LoadRows(ctx context.Context, srv *mssqltest.Server, loc *time.Location, rows []mypt.Row) error {
	if loc == nil {
		var err error
		if loc, err = time.LoadLocation("Europe/London"); err != nil {
			return err
		}
	}
	byEntity := map[mypt.Entity][]mypt.Row{}
	for _, r := range rows {
		byEntity[r.EntityName()] = append(byEntity[r.EntityName()], r)
	}
	for _, e := range mypt.Entities {
		list := byEntity[e]
		if len(list) == 0 {
			continue
		}
		spec, err := SpecFor(e)
		if err != nil {
			return err
		}
		kinds, err := fieldKinds(e)
		if err != nil {
			return err
		}
		names := make([]string, len(spec.Columns))
		for i, c := range spec.Columns {
			names[i] = c.Name
		}
		i := 0
		var convErr error
		err = srv.Load(ctx, spec.View, names, func(out []any) bool {
			if i == len(list) || convErr != nil {
				return false
			}
			vals, err := misValues(list[i], spec, kinds, loc)
			if err != nil {
				convErr = err
				return false
			}
			copy(out, vals)
			i++
			return true
		})
		if convErr != nil {
			return convErr
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// MISValues renders one domain row as the values of its view's columns (in Contract order).
func misValues(r mypt.Row, spec ViewSpec, kinds map[string]fieldKind, loc *time.Location) ([]any, error) {
	data, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, err
	}
	out := make([]any, len(spec.Columns))
	for i, c := range spec.Columns {
		v, ok := m[c.Name]
		if !ok || v == nil {
			continue
		}
		switch kinds[c.Name] {
		case kString:
			s, _ := v.(string)
			if s == "" && c.Nullable {
				continue
			}
			out[i] = s
		case kBool, kBoolPtr:
			out[i] = v
		case kInt:
			f, _ := v.(float64)
			out[i] = int64(f)
		case kDate:
			s, _ := v.(string)
			if s == "" {
				continue
			}
			out[i] = s
		case kInstant:
			s, _ := v.(string)
			t, err := time.Parse(time.RFC3339Nano, s)
			if err != nil {
				return nil, fmt.Errorf("mssql: %s %s: %w", spec.Entity, c.Name, err)
			}
			if t.IsZero() {
				continue
			}
			out[i] = t.In(loc).Format("2006-01-02 15:04:05.9999999")
		case kBytes:
			s, _ := v.(string)
			b, err := base64.StdEncoding.DecodeString(s)
			if err != nil {
				return nil, err
			}
			out[i] = b
		}
	}
	return out, nil
}

// ContractRow renders one domain row as the MIS holds it (as LoadRows does): its view and the
// values of the view's columns in Contract order (nil for NULL). Tests use it to load a real
// SQL Server with INSERTs.
func ContractRow(r mypt.Row, loc *time.Location) (ViewSpec, []any, error) {
	if loc == nil {
		var err error
		if loc, err = time.LoadLocation("Europe/London"); err != nil {
			return ViewSpec{}, nil, err
		}
	}
	spec, err := SpecFor(r.EntityName())
	if err != nil {
		return ViewSpec{}, nil, err
	}
	kinds, err := fieldKinds(r.EntityName())
	if err != nil {
		return ViewSpec{}, nil, err
	}
	vals, err := misValues(r, spec, kinds, loc)
	return spec, vals, err
}
