package mssqltest

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// PRELOGIN ENCRYPTION values.
const (
	encOff    = 0
	encOn     = 1
	encNotSup = 2
	encReq    = 3
	encStrict = 4
)

// bufConn reads through a bufio.Reader (so the first byte can be peeked) and writes straight.
type bufConn struct {
	net.Conn
	r *bufio.Reader
}

func (b *bufConn) Read(p []byte) (int, error) { return b.r.Read(p) }

// handshakeConn carries the TLS handshake inside TDS PRELOGIN packets, as the protocol
// requires before TDS 8; after the handshake, records flow on the raw connection.
type handshakeConn struct {
	net.Conn
	raw  *bufConn
	in   []byte
	out  []byte
	done bool
}

func (h *handshakeConn) Read(p []byte) (int, error) {
	if h.done {
		return h.raw.Read(p)
	}
	if err := h.flush(); err != nil {
		return 0, err
	}
	var hdr [headerLen]byte
	for len(h.in) == 0 {
		typ, _, payload, err := readPacket(h.raw, &hdr, nil)
		if err != nil {
			return 0, err
		}
		if typ != pktPrelogin {
			return 0, fmt.Errorf("mssqltest: packet type %d during TLS handshake", typ)
		}
		h.in = payload
	}
	n := copy(p, h.in)
	h.in = h.in[n:]
	return n, nil
}

func (h *handshakeConn) Write(p []byte) (int, error) {
	if h.done {
		return h.raw.Write(p)
	}
	h.out = append(h.out, p...)
	return len(p), nil
}

// flush sends the buffered handshake flight as one PRELOGIN message.
func (h *handshakeConn) flush() error {
	if len(h.out) == 0 {
		return nil
	}
	pw := newPacketWriter(h.raw, 4096)
	pw.typ = pktPrelogin
	if _, err := pw.Write(h.out); err != nil {
		return err
	}
	h.out = h.out[:0]
	return pw.endMessage()
}

type message struct {
	typ  byte
	body []byte
}

type namedArg struct {
	name  string
	value any
}

// stmtResult says how a statement ended.
type stmtResult int

const (
	stmtOK      stmtResult = iota
	stmtFailed             // an ERROR token was written; the request ends with an error DONE
	stmtAborted            // the message was already ended (attention answered)
	stmtDead               // the connection is gone
)

type conn struct {
	s      *Server
	nc     net.Conn
	raw    *bufConn
	rw     io.ReadWriter
	pw     *packetWriter
	ctx    context.Context
	cancel context.CancelFunc

	user      string
	tranid    uint64
	txIso     byte
	iso       byte
	nextTx    uint64
	buf       []byte
	werr      error
	attn      atomic.Int32 // attention packets received but not yet answered
	attnEarly int          // attentions answered inside a response
	txMinRV   uint64       // first rowversion written in the open transaction (guarded by s.mu)
}

func newConn(s *Server, nc net.Conn) *conn {
	ctx, cancel := context.WithCancel(context.Background())
	return &conn{s: s, nc: nc, ctx: ctx, cancel: cancel}
}

func (c *conn) serve() {
	defer c.nc.Close()
	defer c.cancel()
	if err := c.handshake(); err != nil {
		c.s.logf("mssqltest: %s: %v", c.nc.RemoteAddr(), err)
		return
	}
	c.run()
}

func (c *conn) write(b []byte) {
	if c.werr != nil {
		return
	}
	_, c.werr = c.pw.Write(b)
}

func (c *conn) end() {
	if c.werr != nil {
		return
	}
	c.werr = c.pw.endMessage()
}

func (c *conn) handshake() error {
	c.raw = &bufConn{Conn: c.nc, r: bufio.NewReaderSize(c.nc, 32<<10)}
	c.rw = c.raw
	first, err := c.raw.r.Peek(1)
	if err != nil {
		return err
	}
	strict := false
	if first[0] == 0x16 { // a TLS ClientHello: TDS 8 (encrypt=strict) puts TLS first
		if c.s.tlsCfg == nil {
			return errors.New("TLS-first connection but the server has no TLS")
		}
		tc := tls.Server(c.raw, c.s.tlsCfg)
		if err := tc.HandshakeContext(c.ctx); err != nil {
			return fmt.Errorf("strict TLS handshake: %w", err)
		}
		c.rw, strict = tc, true
	}
	typ, msg, err := readMessage(c.rw)
	if err != nil {
		return fmt.Errorf("read prelogin: %w", err)
	}
	if typ != pktPrelogin {
		return fmt.Errorf("expected PRELOGIN, got packet type %d", typ)
	}
	clientEnc := preloginEncryption(msg)
	reply := byte(encNotSup)
	switch {
	case strict:
		reply = encOff
	case c.s.tlsCfg == nil:
		reply = encNotSup
	case clientEnc == encOn || clientEnc == encReq:
		reply = encOn
	case c.s.opts.TLS == TLSRequired:
		reply = encReq
		if clientEnc == encOff {
			reply = encOn
		}
	case clientEnc == encOff:
		reply = encOff
	}
	c.pw = newPacketWriter(c.rw, 4096)
	c.write(preloginReply(reply))
	c.end()
	if c.werr != nil {
		return c.werr
	}
	if !strict && reply != encNotSup {
		hs := &handshakeConn{Conn: c.nc, raw: c.raw}
		tc := tls.Server(hs, c.s.tlsCfg)
		if err := tc.HandshakeContext(c.ctx); err != nil {
			_ = hs.flush() // the alert, so the client learns why
			return fmt.Errorf("TLS handshake: %w", err)
		}
		if err := hs.flush(); err != nil {
			return err
		}
		hs.done = true
		c.rw = tc
		c.pw = newPacketWriter(c.rw, 4096)
	}
	typ, msg, err = readMessage(c.rw)
	if err != nil {
		return fmt.Errorf("read login: %w", err)
	}
	if typ != pktLogin7 {
		return fmt.Errorf("expected LOGIN7, got packet type %d", typ)
	}
	if !strict && reply == encOff { // encryption for the login packet only
		c.rw = c.raw
		c.pw = newPacketWriter(c.rw, 4096)
	}
	l, err := parseLogin7(msg)
	if err != nil {
		return err
	}
	c.user = l.user
	if f := c.s.takeFault(true, ""); f != nil {
		n := f.Number
		if n == 0 {
			n = 18456
		}
		text := fmt.Sprintf("Login failed for user '%s'.", l.user)
		if n == 40613 {
			text = fmt.Sprintf("Database '%s' on server 'mssqltest' is not currently available. Please retry the connection later.", c.s.opts.Database)
		}
		return c.loginError(n, text)
	}
	if l.user != c.s.opts.User || l.password != c.s.opts.Password {
		return c.loginError(18456, fmt.Sprintf("Login failed for user '%s'.", l.user))
	}
	dbName := c.s.opts.Database
	if l.database != "" && !strings.EqualFold(l.database, c.s.opts.Database) {
		c.s.mu.Lock()
		known := c.s.databases[strings.ToLower(l.database)] || strings.EqualFold(l.database, "master")
		c.s.mu.Unlock()
		if !known {
			return c.loginError(4060, fmt.Sprintf("Cannot open database \"%s\" requested by the login. The login failed.", l.database))
		}
		dbName = l.database
	}
	size := int(l.packetSize)
	if size < 512 || size > maxPacketSize {
		size = 4096
	}
	b := appendEnvChangeString(nil, envDatabase, dbName, "master")
	b = appendEnvChangeString(b, envPacketSize, strconv.Itoa(size), "4096")
	b = appendLoginAck(b, "Microsoft SQL Server")
	b = appendDone(b, tokDone, 0, 0, 0)
	c.write(b)
	c.end()
	c.pw.resize(size)
	if c.werr == nil {
		c.s.logins.Add(1)
	}
	return c.werr
}

func (c *conn) loginError(number int32, text string) error {
	b := appendError(nil, number, 1, 14, text, "mssqltest")
	b = appendDone(b, tokDone, doneError, 0, 0)
	c.write(b)
	c.end()
	return fmt.Errorf("login refused with %d", number)
}

func preloginEncryption(msg []byte) byte {
	for i := 0; i+5 <= len(msg) && msg[i] != 0xff; i += 5 {
		if msg[i] == 1 {
			off := int(binary.BigEndian.Uint16(msg[i+1:]))
			if off < len(msg) {
				return msg[off]
			}
		}
	}
	return encOff
}

func preloginReply(enc byte) []byte {
	type opt struct {
		token byte
		data  []byte
	}
	opts := []opt{
		{0, []byte{16, 0, 0x10, 0x00, 0, 0}}, // VERSION 16.0.4096
		{1, []byte{enc}},                     // ENCRYPTION
		{2, []byte{0}},                       // INSTOPT
		{3, nil},                             // THREADID
		{4, []byte{0}},                       // MARS off
	}
	off := 5*len(opts) + 1
	var head, data []byte
	for _, o := range opts {
		head = append(head, o.token)
		head = binary.BigEndian.AppendUint16(head, uint16(off+len(data)))
		head = binary.BigEndian.AppendUint16(head, uint16(len(o.data)))
		data = append(data, o.data...)
	}
	head = append(head, 0xff)
	return append(head, data...)
}

type login7 struct {
	user, password, database string
	packetSize               uint32
}

func parseLogin7(b []byte) (login7, error) {
	var l login7
	if len(b) < 94 {
		return l, errors.New("short LOGIN7")
	}
	l.packetSize = binary.LittleEndian.Uint32(b[8:])
	field := func(at int) ([]byte, error) {
		off := int(binary.LittleEndian.Uint16(b[at:]))
		n := int(binary.LittleEndian.Uint16(b[at+2:])) * 2
		if off+n > len(b) {
			return nil, errors.New("LOGIN7 field out of range")
		}
		return b[off : off+n], nil
	}
	u, err := field(40)
	if err != nil {
		return l, err
	}
	p, err := field(44)
	if err != nil {
		return l, err
	}
	d, err := field(68)
	if err != nil {
		return l, err
	}
	clear := make([]byte, len(p))
	for i, m := range p {
		x := m ^ 0xa5
		clear[i] = x<<4 | x>>4
	}
	l.user, l.password, l.database = fromUCS2(u), fromUCS2(clear), fromUCS2(d)
	return l, nil
}

func (c *conn) run() {
	msgs := make(chan message, 8)
	go func() {
		defer close(msgs)
		for {
			typ, body, err := readMessage(c.rw)
			if err != nil {
				c.cancel()
				return
			}
			if typ == pktAttention {
				c.attn.Add(1)
			}
			select {
			case msgs <- message{typ, body}:
			case <-c.ctx.Done():
				return
			}
		}
	}()
	for m := range msgs {
		switch m.typ {
		case pktAttention:
			if c.attnEarly > 0 {
				c.attnEarly--
				continue
			}
			if c.attn.Load() > 0 {
				c.attn.Add(-1)
			}
			c.write(appendDone(nil, tokDone, doneAttn, 0, 0))
			c.end()
		case pktSQLBatch:
			text, err := skipAllHeaders(m.body)
			if err != nil {
				c.fail(err)
				break
			}
			c.execute(fromUCS2(text), nil, false)
		case pktRPC:
			c.handleRPC(m.body)
		case pktTransMgr:
			c.handleTransMgr(m.body)
		default:
			c.fail(fmt.Errorf("unsupported packet type %d", m.typ))
		}
		if c.werr != nil {
			return
		}
	}
}

// fail answers the request with a protocol error.
func (c *conn) fail(err error) {
	b := appendError(nil, 50000, 1, 16, err.Error(), "mssqltest")
	c.write(appendDone(b, tokDone, doneError, 0, 0))
	c.end()
}

func skipAllHeaders(b []byte) ([]byte, error) {
	if len(b) < 4 {
		return nil, errors.New("short request")
	}
	n := int(binary.LittleEndian.Uint32(b))
	if n < 4 || n > len(b) {
		return nil, errors.New("bad ALL_HEADERS length")
	}
	return b[n:], nil
}

func (c *conn) handleTransMgr(body []byte) {
	p, err := skipAllHeaders(body)
	if err != nil || len(p) < 2 {
		c.fail(errors.New("bad transaction manager request"))
		return
	}
	switch binary.LittleEndian.Uint16(p) {
	case 5: // begin
		iso := byte(0)
		if len(p) > 2 {
			iso = p[2]
		}
		c.begin()
		c.txIso = iso
	case 7:
		c.finish(envCommitTran)
	case 8:
		c.finish(envRollback)
	default:
		c.fail(errors.New("unsupported transaction manager request"))
		return
	}
	c.write(appendDone(nil, tokDone, 0, 0, 0))
	c.end()
}

func (c *conn) begin() {
	if c.tranid == 0 {
		c.nextTx++
		c.tranid = c.nextTx<<16 | 0x51
	}
	c.write(appendEnvChangeBytes(nil, envBeginTran, binary.LittleEndian.AppendUint64(nil, c.tranid), nil))
}

func (c *conn) finish(typ byte) {
	old := binary.LittleEndian.AppendUint64(nil, c.tranid)
	c.tranid, c.txIso = 0, 0
	c.s.mu.Lock()
	c.txMinRV = 0
	c.s.mu.Unlock()
	c.write(appendEnvChangeBytes(nil, typ, nil, old))
}

func (c *conn) handleRPC(body []byte) {
	p, err := skipAllHeaders(body)
	if err != nil || len(p) < 4 {
		c.fail(errors.New("bad RPC request"))
		return
	}
	nameLen := binary.LittleEndian.Uint16(p)
	p = p[2:]
	if nameLen == 0xffff {
		id := binary.LittleEndian.Uint16(p)
		p = p[2:]
		if id != 10 {
			c.procNotFound(fmt.Sprintf("proc id %d", id))
			return
		}
	} else {
		if len(p) < int(nameLen)*2 {
			c.fail(errors.New("bad RPC name"))
			return
		}
		name := fromUCS2(p[:int(nameLen)*2])
		p = p[int(nameLen)*2:]
		if n := strings.ToLower(name); n != "sp_executesql" && n != "sys.sp_executesql" {
			c.procNotFound(name)
			return
		}
	}
	if len(p) < 2 {
		c.fail(errors.New("bad RPC flags"))
		return
	}
	p = p[2:] // option flags
	var args []namedArg
	var stmt string
	for i := 0; len(p) > 0; i++ {
		if len(p) < 2 {
			c.fail(errors.New("bad RPC parameter"))
			return
		}
		n := int(p[0]) * 2
		if 1+n+1 > len(p) {
			c.fail(errors.New("bad RPC parameter name"))
			return
		}
		name := fromUCS2(p[1 : 1+n])
		p = p[1+n+1:] // name + status flags
		v, rest, err := readParam(p)
		if err != nil {
			c.fail(fmt.Errorf("parameter %d: %w", i, err))
			return
		}
		p = rest
		switch i {
		case 0:
			s, _ := v.(string)
			stmt = s
		case 1: // declarations; types come with each value
		default:
			args = append(args, namedArg{name: strings.TrimPrefix(name, "@"), value: v})
		}
	}
	c.execute(stmt, args, true)
}

func (c *conn) procNotFound(name string) {
	b := appendError(nil, 2812, 62, 16, fmt.Sprintf("Could not find stored procedure '%s'.", name), "mssqltest")
	c.write(appendDone(b, tokDone, doneError, 0, 0))
	c.end()
}

// execute runs a batch (or an sp_executesql statement) statement by statement.
func (c *conn) execute(text string, args []namedArg, inProc bool) {
	stmts := splitStatements(text)
	doneTok := byte(tokDone)
	if inProc {
		doneTok = tokDoneInProc
	}
	failed := false
	for i, st := range stmts {
		more := uint16(doneMore)
		if i == len(stmts)-1 && !inProc {
			more = 0
		}
		switch c.execStmt(st, args, doneTok, more) {
		case stmtOK:
			continue
		case stmtFailed:
			failed = true
		case stmtAborted, stmtDead:
			return
		}
		break
	}
	switch {
	case inProc:
		st := uint16(0)
		if failed {
			st = doneError
		}
		b := binary.LittleEndian.AppendUint32([]byte{tokReturnStatus}, 0)
		c.write(appendDone(b, tokDoneProc, st, 0, 0))
	case failed:
		c.write(appendDone(nil, tokDone, doneError, 0, 0))
	case len(stmts) == 0:
		c.write(appendDone(nil, tokDone, 0, 0, 0))
	}
	c.end()
}

func (c *conn) errorToken(number int32, class byte, msg string) {
	c.write(appendError(nil, number, 1, class, msg, "mssqltest"))
}

func (c *conn) execStmt(st string, args []namedArg, doneTok byte, more uint16) stmtResult {
	c.s.recordQuery(st)
	word := firstWord(st)
	upper := strings.ToUpper(strings.Join(strings.Fields(st), " "))
	switch word {
	case "SET":
		switch {
		case strings.HasPrefix(upper, "SET TRANSACTION ISOLATION LEVEL SNAPSHOT"):
			c.iso = 5
		case strings.HasPrefix(upper, "SET TRANSACTION ISOLATION LEVEL"):
			c.iso = 2
		}
		c.write(appendDone(nil, doneTok, more, 0, 0))
		return stmtOK
	case "BEGIN":
		if strings.HasPrefix(upper, "BEGIN TRAN") {
			c.begin()
			c.write(appendDone(nil, doneTok, more, 0, 0))
			return stmtOK
		}
	case "COMMIT", "ROLLBACK":
		if c.tranid != 0 {
			typ := byte(envCommitTran)
			if word == "ROLLBACK" {
				typ = envRollback
			}
			c.finish(typ)
		}
		c.write(appendDone(nil, doneTok, more, 0, 0))
		return stmtOK
	case "SELECT", "WITH":
		return c.query(st, args, doneTok, more)
	}
	if handled, err := c.adminStmt(st, word); handled {
		if err != nil {
			c.sqliteError(err)
			return stmtFailed
		}
		c.write(appendDone(nil, doneTok, more, 0, 0))
		return stmtOK
	}
	minA, dbts := c.s.versions()
	q := rewrite(st, minA, dbts)
	var n int64
	if t := c.s.writeTable(q); t != nil && (word == "INSERT" || word == "UPDATE") {
		var err error
		if n, err = c.execWrite(q, args, t); err != nil {
			c.sqliteError(err)
			return stmtFailed
		}
	} else {
		q, bound := bindArgs(q, args)
		res, err := c.s.db.ExecContext(c.ctx, q, bound...)
		if err != nil {
			c.sqliteError(err)
			return stmtFailed
		}
		n, _ = res.RowsAffected()
		if word == "DROP" {
			c.s.forgetTable(q)
		}
	}
	c.write(appendDone(nil, doneTok, more|doneCount, 0, uint64(n)))
	return stmtOK
}

// bindArgs turns the @name parameters of q that args supply into numbered ones (?N), which
// SQLite binds in constant time (named ones cost a scan each: quadratic for a many-row INSERT).
func bindArgs(q string, args []namedArg) (string, []any) {
	if len(args) == 0 {
		return q, nil
	}
	index := make(map[string]int, len(args))
	for i, a := range args {
		index[strings.ToLower(a.name)] = i + 1
	}
	var b strings.Builder
	last, maxN := 0, 0
	for _, m := range reParam.FindAllStringSubmatchIndex(q, -1) {
		if m[0] > 0 && q[m[0]-1] == '@' {
			continue
		}
		n, ok := index[strings.ToLower(q[m[2]:m[3]])]
		if !ok {
			continue
		}
		b.WriteString(q[last:m[0]])
		b.WriteString("?" + strconv.Itoa(n))
		last, maxN = m[1], max(maxN, n)
	}
	b.WriteString(q[last:])
	out := make([]any, maxN) // up to the highest one used: SQLite counts parameters so
	for i := range out {
		out[i] = args[i].value
	}
	return b.String(), out
}

func (c *conn) sqliteError(err error) {
	msg := err.Error()
	var se sqlError
	switch {
	case errors.As(err, &se):
		c.errorToken(se.number, 16, se.msg)
	case strings.Contains(msg, "no such table"):
		name := msg[strings.Index(msg, "no such table")+len("no such table: "):]
		c.errorToken(208, 16, fmt.Sprintf("Invalid object name '%s'.", strings.TrimSpace(name)))
	case strings.Contains(msg, "no such column"):
		name := msg[strings.Index(msg, "no such column")+len("no such column: "):]
		c.errorToken(207, 16, fmt.Sprintf("Invalid column name '%s'.", strings.TrimSpace(name)))
	case strings.Contains(msg, "syntax error"):
		c.errorToken(102, 15, "Incorrect syntax: "+msg)
	default:
		c.errorToken(50000, 16, msg)
	}
}

func (c *conn) isolation() byte {
	if c.tranid != 0 && c.txIso != 0 {
		return c.txIso
	}
	return c.iso
}

func (c *conn) query(st string, args []namedArg, doneTok byte, more uint16) stmtResult {
	fault := c.s.takeFault(false, st)
	if fault != nil && fault.Kind == FaultError {
		n := fault.Number
		if n == 0 {
			n = 1205
		}
		text := fmt.Sprintf("Injected error %d.", n)
		switch n {
		case 1205:
			text = "Transaction (Process ID 57) was deadlocked on lock resources with another process and has been chosen as the deadlock victim. Rerun the transaction."
		case 40613:
			text = fmt.Sprintf("Database '%s' on server 'mssqltest' is not currently available. Please retry the connection later.", c.s.opts.Database)
		}
		c.errorToken(n, 13, text)
		return stmtFailed
	}
	if c.isolation() == 5 && c.s.noSnapshot.Load() {
		c.errorToken(3952, 16, fmt.Sprintf("Snapshot isolation transaction failed accessing database '%s' because snapshot isolation is not allowed in this database. Use ALTER DATABASE to allow snapshot isolation.", c.s.opts.Database))
		return stmtFailed
	}
	minA, dbts := c.s.versions()
	q := rewrite(st, minA, dbts)
	q, bound := bindArgs(q, args)
	rows, err := c.s.db.QueryContext(c.ctx, q, bound...)
	if err != nil {
		c.sqliteError(err)
		return stmtFailed
	}
	defer rows.Close()
	cts, err := rows.ColumnTypes()
	if err != nil {
		c.sqliteError(err)
		return stmtFailed
	}
	vals := make([]any, len(cts))
	ptrs := make([]any, len(cts))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	next := func() (bool, error) {
		if !rows.Next() {
			return false, rows.Err()
		}
		return true, rows.Scan(ptrs...)
	}
	has, err := next()
	if err != nil {
		c.sqliteError(err)
		return stmtFailed
	}
	cols := make([]column, len(cts))
	for i, ct := range cts {
		t, ok := typeFromDecl(ct.DatabaseTypeName())
		if !ok {
			t = Type{Kind: KindNVarChar, Len: 4000}
			if has {
				t = typeOfValue(vals[i])
			}
		}
		cols[i] = column{name: ct.Name(), typ: t, nullable: true}
	}
	c.write(appendColMetadata(nil, cols))
	var count uint64
	for has {
		if fault != nil && int(count) >= fault.Rows {
			return c.applyFault(fault)
		}
		if c.attn.Load() > 0 {
			return c.answerAttention()
		}
		b := append(c.buf[:0], tokRow)
		for i := range cols {
			b, err = cols[i].typ.appendValue(b, vals[i])
			if err != nil {
				c.buf = b[:0]
				c.errorToken(245, 16, fmt.Sprintf("Conversion failed for column %s: %v", cols[i].name, err))
				return stmtFailed
			}
		}
		c.buf = b
		c.write(b)
		if c.werr != nil {
			return stmtDead
		}
		count++
		c.s.rowsSent.Add(1)
		if has, err = next(); err != nil {
			c.sqliteError(err)
			return stmtFailed
		}
	}
	if fault != nil {
		return c.applyFault(fault)
	}
	c.write(appendDone(nil, doneTok, more|doneCount, cmdSelect, count))
	return stmtOK
}

func (c *conn) answerAttention() stmtResult {
	c.attn.Add(-1)
	c.attnEarly++
	c.write(appendDone(nil, tokDone, doneAttn, 0, 0))
	c.end()
	return stmtAborted
}

// applyFault sends what is buffered, then drops or stalls the connection.
func (c *conn) applyFault(f *Fault) stmtResult {
	if c.werr == nil {
		c.werr = c.pw.sendPartial()
	}
	switch f.Kind {
	case FaultDrop:
		c.nc.Close()
	case FaultStall:
		select {
		case <-c.s.closing:
		case <-c.ctx.Done():
		}
	}
	c.werr = errClosed
	return stmtDead
}

// readParam reads one RPC parameter's TYPE_INFO and value, returning a SQLite bind value.
func readParam(p []byte) (any, []byte, error) {
	short := errors.New("truncated parameter")
	if len(p) < 1 {
		return nil, nil, short
	}
	typ := p[0]
	p = p[1:]
	take := func(n int) ([]byte, error) {
		if n > len(p) {
			return nil, short
		}
		b := p[:n]
		p = p[n:]
		return b, nil
	}
	// byteLenScalar reads a value after its one-byte length (0 is NULL) and decodes it.
	byteLenScalar := func(typ, scale byte) (any, []byte, error) {
		l, err := take(1)
		if err != nil {
			return nil, nil, err
		}
		b, err := take(int(l[0]))
		if err != nil {
			return nil, nil, err
		}
		if len(b) == 0 {
			return nil, p, nil
		}
		v, err := decodeScalar(typ, scale, b)
		return v, p, err
	}
	fixed := map[byte]int{tdsNull: 0, tdsInt1: 1, tdsBit: 1, tdsInt2: 2, tdsInt4: 4, tdsInt8: 8, tdsFlt8: 8, tdsDateTime: 8}
	if n, ok := fixed[typ]; ok {
		b, err := take(n)
		if err != nil {
			return nil, nil, err
		}
		if typ == tdsNull {
			return nil, p, nil
		}
		v, err := decodeScalar(typ, 0, b)
		return v, p, err
	}
	switch typ {
	case tdsIntN, tdsBitN, tdsFltN, tdsDateTimeN, tdsGUID, tdsMoneyN, tdsDecimalN, tdsNumericN:
		if _, err := take(1); err != nil { // max size
			return nil, nil, err
		}
		var scale byte
		if typ == tdsDecimalN || typ == tdsNumericN {
			ps, err := take(2)
			if err != nil {
				return nil, nil, err
			}
			scale = ps[1]
		}
		return byteLenScalar(typ, scale)
	case tdsDateN, tdsTimeN, tdsDateTime2N, tdsDateTimeOffset:
		var scale byte
		if typ != tdsDateN {
			s, err := take(1)
			if err != nil {
				return nil, nil, err
			}
			scale = s[0]
		}
		return byteLenScalar(typ, scale)
	case tdsNVarChar, tdsNChar, tdsBigVarChar, tdsBigChar, tdsBigVarBin, tdsBigBinary:
		ml, err := take(2)
		if err != nil {
			return nil, nil, err
		}
		if typ != tdsBigVarBin && typ != tdsBigBinary {
			if _, err := take(5); err != nil {
				return nil, nil, err
			}
		}
		var data []byte
		null := false
		if binary.LittleEndian.Uint16(ml) == 0xffff { // PLP
			h, err := take(8)
			if err != nil {
				return nil, nil, err
			}
			if binary.LittleEndian.Uint64(h) == math.MaxUint64 {
				null = true
			} else {
				data = []byte{}
				for {
					cl, err := take(4)
					if err != nil {
						return nil, nil, err
					}
					n := binary.LittleEndian.Uint32(cl)
					if n == 0 {
						break
					}
					chunk, err := take(int(n))
					if err != nil {
						return nil, nil, err
					}
					data = append(data, chunk...)
				}
			}
		} else {
			l, err := take(2)
			if err != nil {
				return nil, nil, err
			}
			if binary.LittleEndian.Uint16(l) == 0xffff {
				null = true
			} else if data, err = take(int(binary.LittleEndian.Uint16(l))); err != nil {
				return nil, nil, err
			}
		}
		if null {
			return nil, p, nil
		}
		switch typ {
		case tdsNVarChar, tdsNChar:
			return fromUCS2(data), p, nil
		case tdsBigVarChar, tdsBigChar:
			return string(data), p, nil
		}
		return append([]byte{}, data...), p, nil
	}
	return nil, nil, fmt.Errorf("unsupported parameter type 0x%02x", typ)
}

const textTime = "2006-01-02 15:04:05.9999999"

func decodeScalar(typ, scale byte, b []byte) (any, error) {
	switch typ {
	case tdsInt1, tdsBit, tdsBitN, tdsInt2, tdsInt4, tdsInt8, tdsIntN:
		switch len(b) {
		case 1:
			return int64(b[0]), nil
		case 2:
			return int64(int16(binary.LittleEndian.Uint16(b))), nil
		case 4:
			return int64(int32(binary.LittleEndian.Uint32(b))), nil
		case 8:
			return int64(binary.LittleEndian.Uint64(b)), nil
		}
	case tdsFlt8, tdsFltN:
		switch len(b) {
		case 4:
			return float64(math.Float32frombits(binary.LittleEndian.Uint32(b))), nil
		case 8:
			return math.Float64frombits(binary.LittleEndian.Uint64(b)), nil
		}
	case tdsGUID:
		if len(b) == 16 {
			return guidString(b), nil
		}
	case tdsDateTime, tdsDateTimeN:
		if len(b) == 8 {
			d := int32(binary.LittleEndian.Uint32(b))
			ticks := binary.LittleEndian.Uint32(b[4:])
			t := time.Date(1900, 1, 1+int(d), 0, 0, 0, 0, time.UTC).Add(time.Duration(ticks) * time.Second / 300)
			return t.Format(textTime), nil
		}
	case tdsDateN:
		return dateFromDays(b).Format("2006-01-02"), nil
	case tdsTimeN:
		return timeOfDay(b, scale).Format("15:04:05.9999999"), nil
	case tdsDateTime2N:
		n := len(b) - 3
		t := dateFromDays(b[n:]).Add(timeOfDay(b[:n], scale).Sub(time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC)))
		return t.Format(textTime), nil
	case tdsDateTimeOffset:
		n := len(b) - 5
		off := int(int16(binary.LittleEndian.Uint16(b[len(b)-2:])))
		utc := dateFromDays(b[n : n+3]).Add(timeOfDay(b[:n], scale).Sub(time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC)))
		return utc.In(time.FixedZone("", off*60)).Format(textTime), nil
	case tdsDecimalN, tdsNumericN, tdsMoneyN:
		if typ == tdsMoneyN && len(b) == 8 {
			v := int64(uint64(binary.LittleEndian.Uint32(b))<<32 | uint64(binary.LittleEndian.Uint32(b[4:])))
			return float64(v) / 10000, nil
		}
		if len(b) >= 5 {
			var m uint64
			for i := min(len(b)-1, 8); i >= 1; i-- {
				m = m<<8 | uint64(b[i])
			}
			f := float64(m) / math.Pow10(int(scale))
			if b[0] == 0 {
				f = -f
			}
			return f, nil
		}
	}
	return nil, fmt.Errorf("cannot decode type 0x%02x of %d bytes", typ, len(b))
}

func dateFromDays(b []byte) time.Time {
	d := int(b[0]) | int(b[1])<<8 | int(b[2])<<16
	return time.Date(1, 1, 1+d, 0, 0, 0, 0, time.UTC)
}

func timeOfDay(b []byte, scale byte) time.Time {
	var units uint64
	for i := len(b) - 1; i >= 0; i-- {
		units = units<<8 | uint64(b[i])
	}
	ns := units * uint64(math.Pow10(9-int(scale)))
	return time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(ns))
}
