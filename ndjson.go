package mypt

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// The push batch format (DESIGN §4), application/x-ndjson: a header line, then one record per line.
//
//	{"batch":"2026-12-02-nightly","mode":"delta"}
//	{"entity":"student","op":"upsert","data":{"StudentID":"S1", ...}}
//	{"entity":"attendance_mark","op":"delete","key":"M1"}

// ParseLimits bound what ParseBatch accepts. Zero fields take the defaults.
type ParseLimits struct {
	// MaxLineBytes is the longest line accepted (default 32 MiB: a 20 MiB document in base64).
	MaxLineBytes int
	// MaxRecords is the most records in one batch (default 5,000,000).
	MaxRecords int
	// MaxErrors is how many bad lines are listed before the rest are only counted (default 1,000).
	MaxErrors int
}

// Default parse limits.
const (
	DefaultMaxLineBytes = 32 << 20
	DefaultMaxRecords   = 5_000_000
	DefaultMaxErrors    = 1000
	// MaxBatchIDBytes is the longest batch id.
	MaxBatchIDBytes = 128
)

func (l ParseLimits) withDefaults() ParseLimits {
	if l.MaxLineBytes <= 0 {
		l.MaxLineBytes = DefaultMaxLineBytes
	}
	if l.MaxRecords <= 0 {
		l.MaxRecords = DefaultMaxRecords
	}
	if l.MaxErrors <= 0 {
		l.MaxErrors = DefaultMaxErrors
	}
	return l
}

// LineError is one bad line of a batch. Entity, Op and Key are set when they could be read.
type LineError struct {
	Line   int    `json:"line"`
	Entity Entity `json:"entity,omitempty"`
	Op     Op     `json:"op,omitempty"`
	Key    string `json:"key,omitempty"`
	Reason string `json:"reason"`
}

func (e LineError) String() string { return fmt.Sprintf("line %d: %s", e.Line, e.Reason) }

// BatchError lists every bad line of a batch (up to ParseLimits.MaxErrors; More counts the
// rest). It wraps ErrInvalid.
type BatchError struct {
	Lines []LineError
	More  int
}

func (e *BatchError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "batch: %d bad line(s)", len(e.Lines)+e.More)
	for i, l := range e.Lines {
		if i == 10 {
			b.WriteString("; …")
			break
		}
		b.WriteString("; ")
		b.WriteString(l.String())
	}
	return b.String()
}

// Unwrap makes errors.Is(err, ErrInvalid) true.
func (e *BatchError) Unwrap() error { return ErrInvalid }

type batchHeader struct {
	Batch    *string  `json:"batch"`
	Mode     string   `json:"mode"`
	Entities []string `json:"entities"`
	Force    bool     `json:"force"`
}

type batchLine struct {
	Entity *string          `json:"entity"`
	Op     *string          `json:"op"`
	Data   *json.RawMessage `json:"data"`
	Key    *string          `json:"key"`
}

// ParseBatch reads an NDJSON batch. Every bad line is reported, with its number and reason, in
// a *BatchError (wrapping ErrInvalid); a batch with any bad line returns no records. An error
// reading r (such as *http.MaxBytesError) is returned wrapped, not as a BatchError. Rows are
// decoded and validated with DecodeRow. The returned batch has no Source; the caller sets it,
// and AllOrNothing, to its own rule.
func ParseBatch(r io.Reader, limits ParseLimits) (Batch, error) {
	limits = limits.withDefaults()
	p := &batchParser{limits: limits}
	br := bufio.NewReaderSize(r, 64<<10)
	var b Batch
	var line []byte
	header := false
	for n := 1; ; n++ {
		var tooLong bool
		var err error
		line, tooLong, err = readLine(br, line[:0], limits.MaxLineBytes)
		if err != nil && !errors.Is(err, io.EOF) {
			return Batch{}, fmt.Errorf("batch: read line %d: %w", n, err)
		}
		eof := errors.Is(err, io.EOF)
		if eof && len(line) == 0 && !tooLong {
			if !header {
				p.fail(LineError{Line: max(n, 1), Reason: "the batch is empty: the first line must be the header, e.g. {\"batch\":\"2026-12-02-nightly\",\"mode\":\"delta\"}"})
			}
			break
		}
		if n == 1 {
			line = bytes.TrimPrefix(line, []byte("\xef\xbb\xbf")) // a byte-order mark some exporters write
		}
		switch {
		case tooLong:
			p.fail(LineError{Line: n, Reason: fmt.Sprintf("the line is longer than %d bytes", limits.MaxLineBytes)})
		case !header:
			header = true
			p.header(&b, n, line)
		case len(bytes.TrimSpace(line)) == 0:
			// Blank lines between records are ignored.
		case len(b.Records) >= limits.MaxRecords:
			p.fail(LineError{Line: n, Reason: fmt.Sprintf("the batch has more than %d records; split it", limits.MaxRecords)})
			eof = true
		default:
			if rec, ok := p.record(n, line); ok {
				b.Records = append(b.Records, rec)
			}
		}
		if eof {
			break
		}
	}
	if len(p.errs) > 0 || p.more > 0 {
		return Batch{}, &BatchError{Lines: p.errs, More: p.more}
	}
	return b, nil
}

// readLine appends the next line (without its \n or \r\n) to buf. A line longer than max is
// read to its end and discarded, and reported as tooLong.
func readLine(br *bufio.Reader, buf []byte, max int) (line []byte, tooLong bool, err error) {
	for {
		chunk, err := br.ReadSlice('\n')
		if !tooLong {
			if len(buf)+len(chunk) > max+2 { // +2: the line ending is not counted
				tooLong, buf = true, buf[:0]
			} else {
				buf = append(buf, chunk...)
			}
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		buf = bytes.TrimSuffix(buf, []byte("\n"))
		buf = bytes.TrimSuffix(buf, []byte("\r"))
		if !tooLong && len(buf) > max {
			tooLong, buf = true, buf[:0]
		}
		return buf, tooLong, err
	}
}

type batchParser struct {
	limits ParseLimits
	errs   []LineError
	more   int
}

func (p *batchParser) fail(e LineError) {
	if len(p.errs) < p.limits.MaxErrors {
		p.errs = append(p.errs, e)
	} else {
		p.more++
	}
}

// decodeStrict decodes one JSON object from line into v, refusing unknown fields and anything
// after the object.
func decodeStrict(line []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return fmt.Errorf("not a JSON object: %s", strings.TrimPrefix(err.Error(), "json: "))
		}
		return errors.New(describeJSONError(err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("more than one JSON value on the line")
	}
	return nil
}

func (p *batchParser) header(b *Batch, n int, line []byte) {
	bad := func(format string, args ...any) {
		p.fail(LineError{Line: n, Reason: "header: " + fmt.Sprintf(format, args...)})
	}
	trimmed := bytes.TrimSpace(line)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		bad(`the first line must be the header, a JSON object such as {"batch":"2026-12-02-nightly","mode":"delta"}`)
		return
	}
	var h batchHeader
	if err := decodeStrict(trimmed, &h); err != nil {
		var fields map[string]json.RawMessage
		if json.Unmarshal(trimmed, &fields) == nil && fields["batch"] == nil && (fields["entity"] != nil || fields["op"] != nil) {
			// A record where the header belongs: the header is missing, not a bad one.
			p.fail(LineError{Line: n, Reason: `the first line must be the batch header {"batch":…,"mode":"delta"|"snapshot"}; this one is a record`})
			return
		}
		// The header's fields are not a view's columns.
		bad("%s", strings.Replace(err.Error(), "unknown column ", "unknown field ", 1))
		return
	}
	switch {
	case h.Batch == nil || *h.Batch == "":
		bad(`"batch" (the batch id) is required`)
	case len(*h.Batch) > MaxBatchIDBytes:
		bad(`"batch" is longer than %d bytes`, MaxBatchIDBytes)
	case !printable(*h.Batch) || strings.TrimSpace(*h.Batch) != *h.Batch:
		bad(`"batch" has control characters, invalid UTF-8 or surrounding spaces`)
	default:
		b.ID = *h.Batch
	}
	switch Mode(h.Mode) {
	case "", ModeDelta:
		b.Mode = ModeDelta
		if len(h.Entities) > 0 {
			bad(`"entities" is only for a snapshot; a delta batch names no entities`)
		}
	case ModeSnapshot:
		b.Mode = ModeSnapshot
		if len(h.Entities) == 0 {
			bad(`a snapshot must name the entities it replaces in "entities"`)
		}
		seen := map[Entity]bool{}
		for _, name := range h.Entities {
			e, err := ParseEntity(name)
			if err != nil {
				bad(`"entities": %v`, err)
				continue
			}
			if seen[e] {
				bad(`"entities" names %s twice`, e)
				continue
			}
			seen[e] = true
			b.Entities = append(b.Entities, e)
		}
	default:
		bad(`"mode" must be "delta" or "snapshot", not %q`, h.Mode)
	}
	b.Force = h.Force
}

func (p *batchParser) record(n int, line []byte) (Record, bool) {
	le := LineError{Line: n}
	bad := func(format string, args ...any) (Record, bool) {
		le.Reason = fmt.Sprintf(format, args...)
		p.fail(le)
		return Record{}, false
	}
	trimmed := bytes.TrimSpace(line)
	if trimmed[0] != '{' {
		return bad(`not a JSON object; each record is {"entity":…,"op":…,"data":{…}} or {"entity":…,"op":"delete","key":…}`)
	}
	var l batchLine
	if err := decodeStrict(trimmed, &l); err != nil {
		// The record's own fields (entity, op, key, data) are not a view's columns.
		return bad("%s", strings.Replace(err.Error(), "unknown column ", `unknown record field (a record has "entity", "op", "key" and "data") `, 1))
	}
	if l.Entity == nil {
		return bad(`"entity" is required`)
	}
	e, err := ParseEntity(*l.Entity)
	if err != nil {
		return bad("%v", err)
	}
	le.Entity = e
	if l.Key != nil {
		le.Key = *l.Key
	}
	if l.Op == nil {
		return bad(`"op" is required ("upsert" or "delete")`)
	}
	switch Op(*l.Op) {
	case OpDelete:
		le.Op = OpDelete
		if l.Data != nil {
			return bad(`a delete carries "key", not "data"`)
		}
		if l.Key == nil || *l.Key == "" {
			return bad(`a delete needs "key", the row's %s`, keyColumn(e))
		}
		return Record{Line: n, Entity: e, Op: OpDelete, Key: *l.Key}, true
	case OpUpsert:
		le.Op = OpUpsert
		if l.Data == nil {
			return bad(`an upsert needs "data", an object of the view's columns`)
		}
		data := bytes.TrimSpace(*l.Data)
		if len(data) == 0 || data[0] != '{' {
			return bad(`"data" must be a JSON object of the view's columns`)
		}
		row, err := DecodeRow(e, data)
		if err != nil {
			// Name the row if its key can be read, so the reason can be traced in the MIS.
			if le.Key == "" {
				le.Key = peekKey(e, data)
			}
			reason := strings.TrimPrefix(err.Error(), ErrInvalid.Error()+": ")
			if f := badColumn(e, data); f != "" && !strings.Contains(reason, f) {
				reason = f + ": " + reason
			}
			return bad("%s", reason)
		}
		if l.Key != nil && *l.Key != row.Key() {
			le.Key = row.Key()
			return bad(`"key" %q does not match the data's %s %q`, *l.Key, keyColumn(e), row.Key())
		}
		return Record{Line: n, Entity: e, Op: OpUpsert, Key: row.Key(), Row: row}, true
	}
	return bad(`"op" must be "upsert" or "delete", not %q`, *l.Op)
}

// keyColumn names entity e's key column, for messages.
func keyColumn(e Entity) string {
	switch e {
	case EntityStudent, EntityFurtherDetail:
		return "StudentID"
	case EntityContact:
		return "ContactID"
	case EntityCourse:
		return "CourseID"
	case EntityEnrolment, EntityTargetGrade:
		return "EnrolmentID"
	case EntityTutor:
		return "TutorID"
	case EntityMarkType:
		return "Mark"
	case EntityAttendanceMark:
		return "MarkID"
	case EntityDocument:
		return "DocumentID"
	case EntityAchievement:
		return "AchievementID"
	case EntityTarget:
		return "TargetID"
	case EntityPolicyRead:
		return "PolicyReadID"
	case EntityMeeting:
		return "MeetingID"
	}
	return "key"
}

// peekKey reads the key column from data that failed to decode, or "".
func peekKey(e Entity, data []byte) string {
	var m map[string]json.RawMessage
	if json.Unmarshal(data, &m) != nil {
		return ""
	}
	var k string
	if json.Unmarshal(m[keyColumn(e)], &k) != nil || len(k) > 64 || !printable(k) {
		return ""
	}
	return k
}

// badColumn finds the column of data that fails to decode on its own (a date that is not
// YYYY-MM-DD, say, whose error does not name its field), or "". Only used on the error path.
func badColumn(e Entity, data []byte) string {
	var m map[string]json.RawMessage
	if json.Unmarshal(data, &m) != nil {
		return ""
	}
	for k, v := range m {
		row, err := NewRow(e)
		if err != nil {
			return ""
		}
		one, _ := json.Marshal(map[string]json.RawMessage{k: v})
		if json.Unmarshal(one, row) != nil {
			return k
		}
	}
	return ""
}
