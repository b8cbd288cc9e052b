package mssql

import (
	"database/sql"
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
	fs, _, err := structFields(e)
	if err != nil {
		return nil, err
	}
	out := map[string]fieldKind{}
	for name, f := range fs {
		out[name] = f.kind
	}
	return out, nil
}

type structField struct {
	index int
	kind  fieldKind
}

// structFields maps each JSON (view column) name of entity e's row type to its field.
func structFields(e mypt.Entity) (map[string]structField, reflect.Type, error) {
	r, err := mypt.NewRow(e)
	if err != nil {
		return nil, nil, err
	}
	t := reflect.TypeOf(r).Elem()
	out := map[string]structField{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		var k fieldKind
		switch {
		case f.Type == dateType:
			k = kDate
		case f.Type == timeType:
			k = kInstant
		case f.Type == bytesType:
			k = kBytes
		case f.Type == boolPtrType:
			k = kBoolPtr
		case f.Type.Kind() == reflect.String:
			k = kString
		case f.Type.Kind() == reflect.Bool:
			k = kBool
		case f.Type.Kind() == reflect.Int:
			k = kInt
		default:
			return nil, nil, fmt.Errorf("mssql: field %s of %s has unsupported type %s", name, e, f.Type)
		}
		out[name] = structField{index: i, kind: k}
	}
	return out, t, nil
}

// converter turns one result row of an entity's query into a domain row.
type converter struct {
	entity   mypt.Entity
	key      string
	names    []string
	dbTypes  []string
	kinds    []fieldKind
	fields   []int // struct field index per column (-1 for RowVer)
	rowType  reflect.Type
	keyIdx   int
	rowVer   int
	loc      *time.Location
	maxBytes int
}

func newConverter(e mypt.Entity, key string, cts []*sql.ColumnType, loc *time.Location, maxBytes int) (*converter, error) {
	names := make([]string, len(cts))
	dbTypes := make([]string, len(cts))
	for i, ct := range cts {
		names[i], dbTypes[i] = ct.Name(), ct.DatabaseTypeName()
	}
	return newColumnConverter(e, key, names, dbTypes, loc, maxBytes)
}

// newColumnConverter is newConverter from the result's column names and SQL Server type names.
func newColumnConverter(e mypt.Entity, key string, names, dbTypes []string, loc *time.Location, maxBytes int) (*converter, error) {
	fs, rt, err := structFields(e)
	if err != nil {
		return nil, err
	}
	c := &converter{entity: e, key: key, keyIdx: -1, rowVer: -1, loc: loc, maxBytes: maxBytes, rowType: rt}
	for i, name := range names {
		c.names = append(c.names, name)
		c.dbTypes = append(c.dbTypes, strings.ToUpper(dbTypes[i]))
		if strings.EqualFold(name, "RowVer") {
			c.rowVer = i
			c.kinds = append(c.kinds, 0)
			c.fields = append(c.fields, -1)
			continue
		}
		f, ok := fs[name]
		if !ok {
			return nil, fmt.Errorf("mssql: the query for %s returns column %q, which %s does not have (columns are named as the view's, DESIGN §3)", e, name, e.View())
		}
		c.kinds = append(c.kinds, f.kind)
		c.fields = append(c.fields, f.index)
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
	if b, ok := vals[c.rowVer].([]byte); ok && len(b) == 8 {
		rowVer = append([]byte(nil), b...)
	}
	rv := reflect.New(c.rowType).Elem()
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
		f := rv.Field(c.fields[i])
		switch x := out.(type) {
		case string:
			f.SetString(x)
			if i == c.keyIdx {
				key = x
			}
		case bool:
			if c.kinds[i] == kBoolPtr {
				f.Set(reflect.ValueOf(&x))
			} else {
				f.SetBool(x)
			}
		case int64:
			f.SetInt(x)
		case mypt.Date:
			f.Set(reflect.ValueOf(x))
		case time.Time:
			f.Set(reflect.ValueOf(x))
		case []byte:
			f.SetBytes(x)
		}
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
	row = rv.Interface().(mypt.Row)
	if err := row.Validate(); err != nil {
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
				return int64(1), nil
			}
			return int64(0), nil
		case string:
			n, err := strconv.ParseInt(strings.TrimSpace(x), 10, 64)
			if err != nil {
				return nil, fmt.Errorf("%q is not a whole number", x)
			}
			return n, nil
		case []byte: // decimal
			n, err := strconv.ParseFloat(string(x), 64)
			if err != nil || n != float64(int64(n)) {
				return nil, fmt.Errorf("%s is not a whole number", x)
			}
			return int64(n), nil
		}
	case kDate:
		switch x := v.(type) {
		case time.Time:
			return mypt.DateOf(x), nil
		case string:
			d, err := mypt.ParseDate(strings.TrimSpace(x))
			if err != nil {
				return nil, err
			}
			return d, nil
		}
	case kInstant:
		switch x := v.(type) {
		case time.Time:
			return x.UTC(), nil
		case string:
			t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(x))
			if err != nil {
				return nil, fmt.Errorf("%q is not an instant (RFC 3339)", x)
			}
			return t.UTC(), nil
		}
	case kBytes:
		switch x := v.(type) {
		case []byte:
			if c.maxBytes > 0 && len(x) > c.maxBytes {
				return nil, fmt.Errorf("is %d bytes, more than the limit of %d (mis.max_document_bytes)", len(x), c.maxBytes)
			}
			return append([]byte(nil), x...), nil
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
