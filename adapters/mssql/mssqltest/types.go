package mssqltest

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
)

// TDS type ids used on the wire (MS-TDS 2.2.5.4).
const (
	tdsNull           = 0x1f
	tdsGUID           = 0x24
	tdsIntN           = 0x26
	tdsBitN           = 0x68
	tdsFltN           = 0x6d
	tdsDateTimeN      = 0x6f
	tdsDateN          = 0x28
	tdsTimeN          = 0x29
	tdsDateTime2N     = 0x2a
	tdsDateTimeOffset = 0x2b
	tdsBigVarBin      = 0xa5
	tdsBigVarChar     = 0xa7
	tdsBigBinary      = 0xad
	tdsBigChar        = 0xaf
	tdsNVarChar       = 0xe7
	tdsNChar          = 0xef
	tdsDecimalN       = 0x6a
	tdsNumericN       = 0x6c
	tdsMoneyN         = 0x6e
	tdsInt1           = 0x30
	tdsBit            = 0x32
	tdsInt2           = 0x34
	tdsInt4           = 0x38
	tdsInt8           = 0x7f
	tdsFlt8           = 0x3e
	tdsDateTime       = 0x3d
)

// Kind is a SQL Server column type the test server can put on the wire.
type Kind int

// The SQL Server types mssqltest can hold and encode.
const (
	KindInt Kind = iota + 1
	KindBigInt
	KindBit
	KindNVarChar // Len in characters; Len 0 means nvarchar(max)
	KindDate
	KindTime // Scale 0..7
	KindDateTime
	KindDateTime2 // Scale 0..7
	KindUniqueIdentifier
	KindVarBinary // Len 0 means varbinary(max)
	KindBinary    // Len bytes
	KindRowVersion
	KindFloat
)

// Type is a SQL Server column type such as nvarchar(200) or datetime2(3).
type Type struct {
	Kind  Kind
	Len   int // characters (nvarchar) or bytes (binary); 0 = max
	Scale int
}

// ParseType reads a T-SQL type name: int, bigint, bit, nvarchar(n|max), date, time(n),
// datetime, datetime2(n), uniqueidentifier, varbinary(n|max), binary(n), rowversion, float.
func ParseType(s string) (Type, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	name, arg := s, ""
	if i := strings.IndexByte(s, '('); i >= 0 && strings.HasSuffix(s, ")") {
		name, arg = strings.TrimSpace(s[:i]), strings.TrimSpace(s[i+1:len(s)-1])
	}
	num := func(def int) (int, error) {
		if arg == "" {
			return def, nil
		}
		if arg == "max" {
			return 0, nil
		}
		return strconv.Atoi(arg)
	}
	var t Type
	var err error
	switch name {
	case "int":
		t.Kind = KindInt
	case "bigint":
		t.Kind = KindBigInt
	case "bit":
		t.Kind = KindBit
	case "nvarchar", "nchar", "varchar", "char", "sysname":
		t.Kind = KindNVarChar
		t.Len, err = num(30)
	case "date":
		t.Kind = KindDate
	case "time":
		t.Kind = KindTime
		t.Scale, err = num(7)
	case "datetime", "smalldatetime":
		t.Kind = KindDateTime
	case "datetime2":
		t.Kind = KindDateTime2
		t.Scale, err = num(7)
	case "uniqueidentifier":
		t.Kind = KindUniqueIdentifier
	case "varbinary":
		t.Kind = KindVarBinary
		t.Len, err = num(1)
	case "binary":
		t.Kind = KindBinary
		t.Len, err = num(1)
	case "rowversion", "timestamp":
		t.Kind = KindRowVersion
	case "float", "real":
		t.Kind = KindFloat
	default:
		return t, fmt.Errorf("mssqltest: unsupported type %q", s)
	}
	if err != nil {
		return t, fmt.Errorf("mssqltest: type %q: %w", s, err)
	}
	if t.Scale < 0 || t.Scale > 7 {
		return t, fmt.Errorf("mssqltest: type %q: scale out of range", s)
	}
	return t, nil
}

// String gives the T-SQL spelling, also used as the SQLite declared type.
func (t Type) String() string {
	switch t.Kind {
	case KindInt:
		return "int"
	case KindBigInt:
		return "bigint"
	case KindBit:
		return "bit"
	case KindNVarChar:
		if t.Len == 0 {
			return "nvarchar(max)"
		}
		return fmt.Sprintf("nvarchar(%d)", t.Len)
	case KindDate:
		return "date"
	case KindTime:
		return fmt.Sprintf("time(%d)", t.Scale)
	case KindDateTime:
		return "datetime"
	case KindDateTime2:
		return fmt.Sprintf("datetime2(%d)", t.Scale)
	case KindUniqueIdentifier:
		return "uniqueidentifier"
	case KindVarBinary:
		if t.Len == 0 {
			return "varbinary(max)"
		}
		return fmt.Sprintf("varbinary(%d)", t.Len)
	case KindBinary:
		return fmt.Sprintf("binary(%d)", t.Len)
	case KindRowVersion:
		return "rowversion"
	case KindFloat:
		return "float"
	}
	return "?"
}

// sqliteDecl is the declared type of the SQLite column: the T-SQL name, which SQLite keeps
// and reports back (so a result column's SQL Server type is known), except where SQLite's
// driver would reinterpret the value (it turns DATE/DATETIME text into time.Time).
func (t Type) sqliteDecl() string {
	switch t.Kind {
	case KindDate:
		return "mssql_date"
	case KindDateTime:
		return "mssql_datetime"
	case KindUniqueIdentifier:
		return "uniqueidentifier COLLATE NOCASE"
	}
	return `"` + t.String() + `"`
}

// typeFromDecl maps a SQLite declared type back to the SQL Server type.
func typeFromDecl(decl string) (Type, bool) {
	d := strings.ToLower(strings.TrimSpace(decl))
	switch d {
	case "":
		return Type{}, false
	case "mssql_date":
		return Type{Kind: KindDate}, true
	case "mssql_datetime":
		return Type{Kind: KindDateTime}, true
	case "integer":
		return Type{Kind: KindBigInt}, true
	case "text":
		return Type{Kind: KindNVarChar}, true
	case "blob":
		return Type{Kind: KindVarBinary}, true
	}
	t, err := ParseType(d)
	return t, err == nil
}

// typeOfValue infers a wire type for an expression column (no declared type).
func typeOfValue(v any) Type {
	switch v := v.(type) {
	case int64, int, int32:
		return Type{Kind: KindBigInt}
	case float64:
		return Type{Kind: KindFloat}
	case bool:
		return Type{Kind: KindBit}
	case []byte:
		if len(v) == 8 {
			return Type{Kind: KindBinary, Len: 8}
		}
		return Type{Kind: KindVarBinary}
	case time.Time:
		return Type{Kind: KindDateTime2, Scale: 7}
	}
	return Type{Kind: KindNVarChar}
}

// writeTypeInfo appends the TYPE_INFO of t (MS-TDS 2.2.5.6).
func (t Type) writeTypeInfo(b []byte) []byte {
	switch t.Kind {
	case KindInt:
		return append(b, tdsIntN, 4)
	case KindBigInt:
		return append(b, tdsIntN, 8)
	case KindBit:
		return append(b, tdsBitN, 1)
	case KindFloat:
		return append(b, tdsFltN, 8)
	case KindNVarChar:
		b = append(b, tdsNVarChar)
		if t.Len == 0 || t.Len > 4000 {
			b = binary.LittleEndian.AppendUint16(b, 0xffff)
		} else {
			b = binary.LittleEndian.AppendUint16(b, uint16(t.Len*2)) // lengths in TYPE_INFO are bytes
		}
		return append(b, collation...)
	case KindDate:
		return append(b, tdsDateN)
	case KindTime:
		return append(b, tdsTimeN, byte(t.Scale))
	case KindDateTime:
		return append(b, tdsDateTimeN, 8)
	case KindDateTime2:
		return append(b, tdsDateTime2N, byte(t.Scale))
	case KindUniqueIdentifier:
		return append(b, tdsGUID, 16)
	case KindVarBinary:
		b = append(b, tdsBigVarBin)
		if t.Len == 0 || t.Len > 8000 {
			return binary.LittleEndian.AppendUint16(b, 0xffff)
		}
		return binary.LittleEndian.AppendUint16(b, uint16(t.Len))
	case KindBinary:
		return binary.LittleEndian.AppendUint16(append(b, tdsBigBinary), uint16(t.Len))
	case KindRowVersion:
		return binary.LittleEndian.AppendUint16(append(b, tdsBigBinary), 8)
	}
	panic("mssqltest: no type info for kind")
}

// userType is the COLMETADATA UserType: 80 marks a timestamp/rowversion column.
func (t Type) userType() uint32 {
	if t.Kind == KindRowVersion {
		return 80
	}
	return 0
}

func (t Type) isPLP() bool {
	return (t.Kind == KindNVarChar && (t.Len == 0 || t.Len > 4000)) ||
		(t.Kind == KindVarBinary && (t.Len == 0 || t.Len > 8000))
}

// collation is Latin1_General_CI_AS (LCID 0x0409, flags, sort id 52).
var collation = []byte{0x09, 0x04, 0xd0, 0x00, 0x34}

// plpChunk is the chunk size used for (max) values.
const plpChunk = 8000

// appendValue appends the wire encoding of one column value of type t (v from SQLite).
func (t Type) appendValue(b []byte, v any) ([]byte, error) {
	if v == nil {
		switch {
		case t.isPLP():
			return binary.LittleEndian.AppendUint64(b, math.MaxUint64), nil
		case t.Kind == KindNVarChar, t.Kind == KindVarBinary, t.Kind == KindBinary, t.Kind == KindRowVersion:
			return binary.LittleEndian.AppendUint16(b, 0xffff), nil
		}
		return append(b, 0), nil
	}
	switch t.Kind {
	case KindInt, KindBigInt:
		n, err := toInt(v)
		if err != nil {
			return b, err
		}
		if t.Kind == KindInt {
			return binary.LittleEndian.AppendUint32(append(b, 4), uint32(int32(n))), nil
		}
		return binary.LittleEndian.AppendUint64(append(b, 8), uint64(n)), nil
	case KindBit:
		n, err := toInt(v)
		if err != nil {
			return b, err
		}
		if n != 0 {
			n = 1
		}
		return append(b, 1, byte(n)), nil
	case KindFloat:
		var f float64
		switch v := v.(type) {
		case float64:
			f = v
		default:
			n, err := toInt(v)
			if err != nil {
				return b, err
			}
			f = float64(n)
		}
		return binary.LittleEndian.AppendUint64(append(b, 8), math.Float64bits(f)), nil
	case KindNVarChar:
		s := toString(v)
		u := ucs2(s)
		if t.isPLP() {
			return appendPLP(b, u), nil
		}
		if t.Len > 0 && len(u) > t.Len*2 {
			return b, fmt.Errorf("value of %d characters is too long for %s", len(u)/2, t)
		}
		b = binary.LittleEndian.AppendUint16(b, uint16(len(u)))
		return append(b, u...), nil
	case KindVarBinary, KindBinary, KindRowVersion:
		var raw []byte
		switch v := v.(type) {
		case []byte:
			raw = v
		case string:
			raw = []byte(v)
		default:
			return b, fmt.Errorf("value %T is not binary", v)
		}
		if t.isPLP() {
			return appendPLP(b, raw), nil
		}
		b = binary.LittleEndian.AppendUint16(b, uint16(len(raw)))
		return append(b, raw...), nil
	case KindUniqueIdentifier:
		g, err := guidWire(toString(v))
		if err != nil {
			return b, err
		}
		return append(append(b, 16), g...), nil
	case KindDate, KindTime, KindDateTime, KindDateTime2:
		tm, err := toTime(v)
		if err != nil {
			return b, err
		}
		switch t.Kind {
		case KindDate:
			d := days(tm)
			return append(b, 3, byte(d), byte(d>>8), byte(d>>16)), nil
		case KindTime:
			tb := timeBytes(tm, t.Scale)
			return append(append(b, byte(len(tb))), tb...), nil
		case KindDateTime2:
			tb := timeBytes(tm, t.Scale)
			d := days(tm)
			b = append(b, byte(len(tb)+3))
			b = append(b, tb...)
			return append(b, byte(d), byte(d>>8), byte(d>>16)), nil
		case KindDateTime:
			d := days(tm) - days(time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC))
			secs := tm.Hour()*3600 + tm.Minute()*60 + tm.Second()
			ticks := secs*300 + int(math.Round(float64(tm.Nanosecond())*3/1e7))
			b = append(b, 8)
			b = binary.LittleEndian.AppendUint32(b, uint32(int32(d)))
			return binary.LittleEndian.AppendUint32(b, uint32(ticks)), nil
		}
	}
	return b, fmt.Errorf("cannot encode %T as %s", v, t)
}

func appendPLP(b, data []byte) []byte {
	b = binary.LittleEndian.AppendUint64(b, uint64(len(data)))
	for len(data) > 0 {
		n := min(len(data), plpChunk)
		b = binary.LittleEndian.AppendUint32(b, uint32(n))
		b = append(b, data[:n]...)
		data = data[n:]
	}
	return binary.LittleEndian.AppendUint32(b, 0)
}

func toInt(v any) (int64, error) {
	switch v := v.(type) {
	case int64:
		return v, nil
	case int:
		return int64(v), nil
	case bool:
		if v {
			return 1, nil
		}
		return 0, nil
	case float64:
		return int64(v), nil
	case string:
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("conversion failed converting %q to int", v)
		}
		return n, nil
	}
	return 0, fmt.Errorf("cannot convert %T to int", v)
}

func toString(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case []byte:
		return string(v)
	case int64:
		return strconv.FormatInt(v, 10)
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64)
	case bool:
		if v {
			return "1"
		}
		return "0"
	case time.Time:
		return v.Format("2006-01-02 15:04:05.9999999")
	}
	return fmt.Sprint(v)
}

var timeLayouts = []string{
	"2006-01-02 15:04:05.9999999",
	"2006-01-02T15:04:05.9999999",
	"2006-01-02T15:04:05.9999999Z07:00",
	"2006-01-02 15:04",
	"2006-01-02T15:04",
	"2006-01-02",
	"15:04:05.9999999",
	"15:04",
}

func toTime(v any) (time.Time, error) {
	switch v := v.(type) {
	case time.Time:
		return v, nil
	case string:
		s := strings.TrimSpace(v)
		for _, l := range timeLayouts {
			if tm, err := time.Parse(l, s); err == nil {
				return tm, nil
			}
		}
		return time.Time{}, fmt.Errorf("conversion failed when converting %q to date and/or time", v)
	}
	return time.Time{}, fmt.Errorf("cannot convert %T to a date or time", v)
}

// days counts days since 0001-01-01 (the TDS date epoch).
func days(t time.Time) int {
	y := t.Year() - 1
	return y*365 + y/4 - y/100 + y/400 + t.YearDay() - 1
}

// timeBytes encodes the time of day in units of 10^-scale seconds.
func timeBytes(t time.Time, scale int) []byte {
	ns := int64(t.Hour()*3600+t.Minute()*60+t.Second())*1e9 + int64(t.Nanosecond())
	units := ns / int64(math.Pow10(9-scale))
	size := 5
	switch {
	case scale <= 2:
		size = 3
	case scale <= 4:
		size = 4
	}
	out := make([]byte, size)
	for i := range out {
		out[i] = byte(units >> (8 * i))
	}
	return out
}

// guidWire turns a canonical GUID string into SQL Server's wire order, where the first three
// groups are little-endian (the reason MS-1 exists).
func guidWire(s string) ([]byte, error) {
	h := strings.ReplaceAll(strings.Trim(s, "{}"), "-", "")
	raw, err := hex.DecodeString(h)
	if err != nil || len(raw) != 16 {
		return nil, fmt.Errorf("conversion failed when converting %q to uniqueidentifier", s)
	}
	out := make([]byte, 16)
	copy(out, raw)
	out[0], out[1], out[2], out[3] = raw[3], raw[2], raw[1], raw[0]
	out[4], out[5] = raw[5], raw[4]
	out[6], out[7] = raw[7], raw[6]
	return out, nil
}

// guidString is the inverse of guidWire: canonical upper-case text.
func guidString(w []byte) string {
	r := make([]byte, 16)
	copy(r, w)
	r[0], r[1], r[2], r[3] = w[3], w[2], w[1], w[0]
	r[4], r[5] = w[5], w[4]
	r[6], r[7] = w[7], w[6]
	h := strings.ToUpper(hex.EncodeToString(r))
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func ucs2(s string) []byte {
	u := utf16.Encode([]rune(s))
	out := make([]byte, 2*len(u))
	for i, c := range u {
		binary.LittleEndian.PutUint16(out[2*i:], c)
	}
	return out
}

func fromUCS2(b []byte) string {
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(b[2*i:])
	}
	return string(utf16.Decode(u))
}
