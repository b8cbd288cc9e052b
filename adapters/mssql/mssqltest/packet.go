package mssqltest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// TDS packet types (MS-TDS 2.2.3.1.1).
const (
	pktSQLBatch   = 1
	pktRPC        = 3
	pktReply      = 4
	pktAttention  = 6
	pktTransMgr   = 14
	pktLogin7     = 16
	pktPrelogin   = 18
	statusEOM     = 0x01
	headerLen     = 8
	maxPacketSize = 32767
)

// readPacket reads one TDS packet: its type, status and payload.
func readPacket(r io.Reader, hdr *[headerLen]byte, buf []byte) (typ, status byte, payload []byte, err error) {
	if _, err = io.ReadFull(r, hdr[:]); err != nil {
		return 0, 0, nil, err
	}
	size := int(binary.BigEndian.Uint16(hdr[2:4]))
	if size < headerLen || size > maxPacketSize {
		return 0, 0, nil, fmt.Errorf("mssqltest: bad packet size %d", size)
	}
	if cap(buf) < size-headerLen {
		buf = make([]byte, size-headerLen)
	}
	buf = buf[:size-headerLen]
	if _, err = io.ReadFull(r, buf); err != nil {
		return 0, 0, nil, err
	}
	return hdr[0], hdr[1], buf, nil
}

// readMessage reads packets until end of message and returns the type and whole payload.
func readMessage(r io.Reader) (typ byte, msg []byte, err error) {
	var hdr [headerLen]byte
	var buf []byte
	for n := 0; ; n++ {
		t, st, p, err := readPacket(r, &hdr, buf)
		if err != nil {
			return 0, nil, err
		}
		if n == 0 {
			typ = t
		} else if t != typ {
			return 0, nil, errors.New("mssqltest: packet type changed inside a message")
		}
		msg = append(msg, p...)
		buf = p[:0]
		if st&statusEOM != 0 {
			return typ, msg, nil
		}
		if len(msg) > 64<<20 {
			return 0, nil, errors.New("mssqltest: message too large")
		}
	}
}

// packetWriter splits a response message into packets of the negotiated size.
type packetWriter struct {
	w    io.Writer
	size int
	typ  byte
	buf  []byte // header + payload of the packet being filled
	seq  byte
}

func newPacketWriter(w io.Writer, size int) *packetWriter {
	return &packetWriter{w: w, size: size, typ: pktReply, buf: make([]byte, headerLen, size)}
}

func (p *packetWriter) resize(size int) {
	if size < 512 {
		size = 512
	}
	if size > maxPacketSize {
		size = maxPacketSize
	}
	p.size = size
	if cap(p.buf) < size {
		nb := make([]byte, len(p.buf), size)
		copy(nb, p.buf)
		p.buf = nb
	}
}

// Write appends message bytes, sending full packets as they fill.
func (p *packetWriter) Write(b []byte) (int, error) {
	total := len(b)
	for len(b) > 0 {
		room := p.size - len(p.buf)
		if room == 0 {
			if err := p.flush(0); err != nil {
				return total - len(b), err
			}
			continue
		}
		n := min(room, len(b))
		p.buf = append(p.buf, b[:n]...)
		b = b[n:]
	}
	return total, nil
}

func (p *packetWriter) flush(status byte) error {
	h := p.buf[:headerLen]
	h[0] = p.typ
	h[1] = status
	binary.BigEndian.PutUint16(h[2:4], uint16(len(p.buf)))
	h[4], h[5] = 0, 0
	p.seq++
	h[6] = p.seq
	h[7] = 0
	_, err := p.w.Write(p.buf)
	p.buf = p.buf[:headerLen]
	return err
}

// pending reports whether message bytes are buffered but not yet sent.
func (p *packetWriter) pending() bool { return len(p.buf) > headerLen }

// sendPartial sends what is buffered as a non-final packet (so the client sees the rows
// already produced, e.g. before a stall).
func (p *packetWriter) sendPartial() error {
	if !p.pending() {
		return nil
	}
	return p.flush(0)
}

// endMessage sends the last packet of the message.
func (p *packetWriter) endMessage() error {
	err := p.flush(statusEOM)
	p.seq = 0
	return err
}
