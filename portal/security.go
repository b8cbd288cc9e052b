package portal

import (
	"context"
	"net/http"

	"mypt"
)

// routeKey carries the matched route pattern in a request's context (set by Server.handle).
type routeKey struct{}

func withRoute(r *http.Request, pattern string) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), routeKey{}, pattern))
}

// securityEvent logs a refused or suspicious request at WARN for the operators: the event, a
// reason word, the route pattern and the signed-in account when there is one, plus attrs the
// caller adds. Never a name, an email address or a raw identifier that was not well-formed.
func (s *Server) securityEvent(r *http.Request, event, reason string, attrs ...any) {
	args := []any{"event", event, "reason", reason, "route", routeOf(r), "method", metricsMethod(r.Method)}
	own := false
	for i := 0; i < len(attrs); i += 2 {
		own = own || attrs[i] == "account"
	}
	if sess := sessionFrom(r.Context()); sess != nil && !own {
		args = append(args, "account", sess.AccountID)
	}
	args = append(args, attrs...)
	s.log.WarnContext(r.Context(), "portal: security event", args...)
}

// wellFormedStudentID reports whether id looks like a student id (at most MaxStudentIDLen
// letters, digits and hyphens, as an account request accepts), and so may be logged. Anything
// else a client put in the path is logged as reason=bad_id without the id.
func wellFormedStudentID(id string) bool {
	if id == "" || len(id) > mypt.MaxStudentIDLen {
		return false
	}
	for _, c := range id {
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c == '-') {
			return false
		}
	}
	return true
}
