package mail

import "context"

// Transport delivers one message. An error is an *Error: Permanent() tells a rejection that
// a retry cannot cure from a temporary failure (network, throttling, an outcome not known).
// A transport may be called again for a message it already delivered (at-least-once outbox);
// the message's Message-ID is then the same.
type Transport interface {
	Send(ctx context.Context, m *Message) error
}

// Transport names, used as the transport label of the outbox metrics and stored on the row.
const (
	TransportSMTP  = "smtp"
	TransportGraph = "graph"
	TransportFile  = "file"
)

// TransportNames lists every transport name, for metrics that start each label value at 0.
var TransportNames = []string{TransportSMTP, TransportGraph, TransportFile}
