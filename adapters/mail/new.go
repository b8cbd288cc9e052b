package mail

import (
	"fmt"
	"log/slog"
)

// Options choose and configure the transport behind a Sender: cmd/mypt copies them from
// config.MailConfig.
type Options struct {
	Transport       string // smtp | graph | file
	From            Address
	ReplyTo         *Address // nil: no Reply-To
	MessageIDDomain string   // default the From domain
	SMTP            SMTPOptions
	Graph           GraphOptions // Graph.Sender defaults to From.Email
	FileDir         string
	Logger          *slog.Logger
}

// New builds the configured transport and the Sender that the outbox worker delivers through.
// The Sender's Name is the transport label for metrics.
func New(o Options) (*Sender, error) {
	var t Transport
	switch o.Transport {
	case TransportSMTP:
		s, err := NewSMTP(o.SMTP)
		if err != nil {
			return nil, err
		}
		t = s
	case TransportGraph:
		g := o.Graph
		if g.Sender == "" {
			g.Sender = o.From.Email
		}
		if g.Logger == nil {
			g.Logger = o.Logger
		}
		gr, err := NewGraph(g)
		if err != nil {
			return nil, err
		}
		t = gr
	case TransportFile:
		f, err := NewFileSink(o.FileDir)
		if err != nil {
			return nil, err
		}
		t = f
	default:
		return nil, fmt.Errorf("mail: transport %q: want smtp, graph or file", o.Transport)
	}
	return NewSender(SenderOptions{
		From: o.From, ReplyTo: o.ReplyTo, Transport: t, Name: o.Transport, MessageIDDomain: o.MessageIDDomain,
	})
}

// Transport returns the transport the Sender delivers through (e.g. the *FileSink, to list its
// files on the demo's staff page).
func (s *Sender) Transport() Transport { return s.opts.Transport }
