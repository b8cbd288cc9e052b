package mssqltest

import (
	"encoding/binary"
)

// Token ids (MS-TDS 2.2.7).
const (
	tokReturnStatus = 0x79
	tokColMetadata  = 0x81
	tokError        = 0xaa
	tokInfo         = 0xab
	tokLoginAck     = 0xad
	tokRow          = 0xd1
	tokEnvChange    = 0xe3
	tokDone         = 0xfd
	tokDoneProc     = 0xfe
	tokDoneInProc   = 0xff
)

// DONE status bits.
const (
	doneMore  = 0x01
	doneError = 0x02
	doneCount = 0x10
	doneAttn  = 0x20
)

const cmdSelect = 0xc1

// ENVCHANGE types.
const (
	envDatabase   = 1
	envPacketSize = 4
	envBeginTran  = 8
	envCommitTran = 9
	envRollback   = 10
)

// tdsVersion74 is the version the LOGINACK announces (sent big-endian).
const tdsVersion74 = 0x74000004

func appendBVarChar(b []byte, s string) []byte {
	u := ucs2(s)
	b = append(b, byte(len(u)/2))
	return append(b, u...)
}

func appendUSVarChar(b []byte, s string) []byte {
	u := ucs2(s)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(u)/2))
	return append(b, u...)
}

func appendDone(b []byte, tok byte, status uint16, cmd uint16, rows uint64) []byte {
	b = append(b, tok)
	b = binary.LittleEndian.AppendUint16(b, status)
	b = binary.LittleEndian.AppendUint16(b, cmd)
	return binary.LittleEndian.AppendUint64(b, rows)
}

// appendError appends an ERROR token (or INFO when class is 10 or less).
func appendError(b []byte, number int32, state, class byte, msg, server string) []byte {
	body := binary.LittleEndian.AppendUint32(nil, uint32(number))
	body = append(body, state, class)
	body = appendUSVarChar(body, msg)
	body = appendBVarChar(body, server)
	body = appendBVarChar(body, "")
	body = binary.LittleEndian.AppendUint32(body, 1)
	tok := byte(tokError)
	if class <= 10 {
		tok = tokInfo
	}
	b = append(b, tok)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(body)))
	return append(b, body...)
}

func appendLoginAck(b []byte, prog string) []byte {
	body := []byte{1} // interface: SQL
	body = binary.BigEndian.AppendUint32(body, tdsVersion74)
	body = appendBVarChar(body, prog)
	body = append(body, 16, 0, 0x10, 0x00) // version 16.0.4096
	b = append(b, tokLoginAck)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(body)))
	return append(b, body...)
}

func appendEnvChangeString(b []byte, typ byte, newV, oldV string) []byte {
	body := []byte{typ}
	body = appendBVarChar(body, newV)
	body = appendBVarChar(body, oldV)
	b = append(b, tokEnvChange)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(body)))
	return append(b, body...)
}

func appendEnvChangeBytes(b []byte, typ byte, newV, oldV []byte) []byte {
	body := []byte{typ, byte(len(newV))}
	body = append(body, newV...)
	body = append(body, byte(len(oldV)))
	body = append(body, oldV...)
	b = append(b, tokEnvChange)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(body)))
	return append(b, body...)
}

// column is one result column: its name and SQL Server type.
type column struct {
	name     string
	typ      Type
	nullable bool
}

func appendColMetadata(b []byte, cols []column) []byte {
	b = append(b, tokColMetadata)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(cols)))
	for _, c := range cols {
		b = binary.LittleEndian.AppendUint32(b, c.typ.userType())
		var flags uint16 = 0x0008 // updateable: unknown
		if c.nullable {
			flags |= 0x0001
		}
		b = binary.LittleEndian.AppendUint16(b, flags)
		b = c.typ.writeTypeInfo(b)
		b = appendBVarChar(b, c.name)
	}
	return b
}
