package mssql

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	gomssql "github.com/microsoft/go-mssqldb"

	"mypt"
)

// fieldKind is the Go shape of a domain field, which decides how an SQL value is converted.
type fieldKind int

const (
	kString fieldKind = iota + 1
	kBool
	kBoolPtr
	kInt
	kDate
	kInstant
	kBytes
)

var (
	dateType    = reflect.TypeOf(mypt.Date{})
	timeType    = reflect.TypeOf(time.Time{})
	bytesType   = reflect.TypeOf([]byte(nil))
	boolPtrType = reflect.TypeOf((*bool)(nil))
)

// fieldKinds maps each JSON (view column) name of entity e's row type to its kind.
func fieldKinds(e mypt.Entity) (map[string]fieldKind, error) {
	r, err := mypt.NewRow(e)
	if err != nil {
		return nil, err
	}
	t := reflect.TypeOf(r).Elem()
	out := map[string]fieldKind{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		switch {
		case f.Type == dateType:
			out[name] = kDate
		case f.Type == timeType:
			out[name] = kInstant
		case f.Type == bytesType:
			out[name] = kBytes
		case f.Type == boolPtrType:
			out[name] = kBoolPtr
		case f.Type.Kind() == reflect.String:
			out[name] = kString
		case f.Type.Kind() == reflect.Bool:
			out[name] = kBool
		case f.Type.Kind() == reflect.Int:
			out[name] = kInt
		default:
			return nil, fmt.Errorf("mssql: field %s of %s has unsupported type %s", name, e, f.Type)
		}
	}
	return out, nil
}

// converter turns one result row of an entity's query into a domain row.
type converter struct {
	entity   mypt.Entity
	key      string
	names    []string
	dbTypes  []string
	kinds    []fieldKind
	keyIdx   int
	rowVer   int
	loc      *time.Location
	maxBytes int
}

func newConverter(e mypt.Entity, key string, cts []*sql.ColumnType, loc *time.Location, maxBytes int) (*converter, error) {
	kinds, err := fieldKinds(e)
	if err != nil {
		return nil, err
	}
	c := &converter{entity: e, key: key, keyIdx: -1, rowVer: -1, loc: loc, maxBytes: maxBytes}
	for i, ct := range cts {
		name := ct.Name()
		c.names = append(c.names, name)
		c.dbTypes = append(c.dbTypes, strings.ToUpper(ct.DatabaseTypeName()))
		if strings.EqualFold(name, "RowVer") {
			c.rowVer = i
			c.kinds = append(c.kinds, 0)
			continue
		}
		k, ok := kinds[name]
		if !ok {
			return nil, fmt.Errorf("mssql: the query for %s returns column %q, which %s does not have (columns are named as the view's, DESIGN §3)", e, name, e.View())
		}
		c.kinds = append(c.kinds, k)
		if name == key {
			c.keyIdx = i
		}
	}
	if c.keyIdx < 0 {
		return nil, fmt.Errorf("mssql: the query for %s does not return its key column %s", e, key)
	}
	if c.rowVer < 0 {
		return nil, fmt.Errorf("mssql: the query for %s does not return RowVer", e)
	}
	return c, nil
}

// convert maps the scanned values to a row. It returns the key and RowVer even when the row is
// rejected, so the rejection can be reported and the watermark move past it.
func (c *converter) convert(vals []any) (key string, rowVer []byte, row mypt.Row, reject error) {
	rv, ok := vals[c.rowVer].([]byte)
	if ok && len(rv) == 8 {
		rowVer = append([]byte(nil), rv...)
	}
	m := make(map[string]any, len(vals))
	var problems []string
	for i, v := range vals {
		if i == c.rowVer || v == nil {
			continue
		}
		out, err := c.value(i, v)
		if err != nil {
			problems = append(problems, c.names[i]+": "+err.Error())
			continue
		}
		m[c.names[i]] = out
	}
	if s, ok := m[c.key].(string); ok {
		key = s
	}
	if rowVer == nil {
		return key, nil, nil, fmt.Errorf("RowVer is not an 8-byte rowversion (got %T)", vals[c.rowVer])
	}
	if key == "" {
		problems = append(problems, c.key+": is required")
	}
	if len(problems) > 0 {
		return key, rowVer, nil, fmt.Errorf("%w: %s", mypt.ErrInvalid, strings.Join(problems, "; "))
	}
	data, err := json.Marshal(m)
	if err != nil {
		return key, rowVer, nil, fmt.Errorf("%w: %v", mypt.ErrInvalid, err)
	}
	row, err = mypt.DecodeRow(c.entity, data)
	if err != nil {
		return key, rowVer, nil, err
	}
	return key, rowVer, row, nil
}

// value converts one non-NULL column value for a field of kind c.kinds[i].
func (c *converter) value(i int, v any) (any, error) {
	db := c.dbTypes[i]
	// Normalise by the SQL Server type first.
	switch db {
	case "UNIQUEIDENTIFIER":
		b, ok := v.([]byte)
		if !ok {
			return nil, fmt.Errorf("uniqueidentifier arrived as %T", v)
		}
		var g gomssql.UniqueIdentifier
		if err := g.Scan(b); err != nil { // undoes SQL Server's byte order (MS-1)
			return nil, err
		}
		v = g.String()
	case "DATETIME", "DATETIME2", "SMALLDATETIME":
		t, ok := v.(time.Time)
		if !ok {
			return nil, fmt.Errorf("%s arrived as %T", strings.ToLower(db), v)
		}
		// The driver labels wall-clock values UTC; they are the college's local time (MS-2).
		v = time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), c.loc)
	}
	switch c.kinds[i] {
	case kString:
		switch x := v.(type) {
		case string:
			return x, nil
		case int64:
			return strconv.FormatInt(x, 10), nil
		case []byte:
			return string(x), nil
		case bool:
			return strconv.FormatBool(x), nil
		case time.Time:
			if db == "TIME" {
				return x.Format("15:04"), nil
			}
			return nil, fmt.Errorf("%s is not text", strings.ToLower(db))
		}
	case kBool, kBoolPtr:
		switch x := v.(type) {
		case bool:
			return x, nil
		case int64:
			return x != 0, nil
		case string:
			switch strings.ToLower(strings.TrimSpace(x)) {
			case "1", "true", "y", "yes":
				return true, nil
			case "0", "false", "n", "no":
				return false, nil
			}
			return nil, fmt.Errorf("%q is not a yes/no value", x)
		}
	case kInt:
		switch x := v.(type) {
		case int64:
			return x, nil
		case bool:
			if x {
				return 1, nil
			}
			return 0, nil
		case string:
			n, err := strconv.Atoi(strings.TrimSpace(x))
			if err != nil {
				return nil, fmt.Errorf("%q is not a whole number", x)
			}
			return n, nil
		case []byte: // decimal
			n, err := strconv.ParseFloat(string(x), 64)
			if err != nil || n != float64(int(n)) {
				return nil, fmt.Errorf("%s is not a whole number", x)
			}
			return int(n), nil
		}
	case kDate:
		switch x := v.(type) {
		case time.Time:
			return x.Format("2006-01-02"), nil
		case string:
			return x, nil
		}
	case kInstant:
		switch x := v.(type) {
		case time.Time:
			return x.UTC().Format(time.RFC3339Nano), nil
		case string:
			return x, nil
		}
	case kBytes:
		switch x := v.(type) {
		case []byte:
			if c.maxBytes > 0 && len(x) > c.maxBytes {
				return nil, fmt.Errorf("is %d bytes, more than the limit of %d (mis.max_document_bytes)", len(x), c.maxBytes)
			}
			return x, nil
		case string:
			return []byte(x), nil
		}
	}
	return nil, fmt.Errorf("cannot use %s value of Go type %T here", strings.ToLower(db), v)
}

// guidKey renders a uniqueidentifier in wire order as its canonical string (MS-1).
func guidKey(b []byte) (string, error) {
	var g gomssql.UniqueIdentifier
	if err := g.Scan(b); err != nil {
		return "", err
	}
	return g.String(), nil
}
