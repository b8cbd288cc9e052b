package portal

import (
	"bytes"
	"io"
	"net/http"
	"strconv"
)

// A slotted page is a whole rendered page with the session's CSRF token left out. The layout,
// the student menu and the report are the same for every parent who may see the student, so
// a cache hit writes the cached bytes around the request's token instead of executing the
// layout. The access rule and the session are still checked on every request, before the
// cache is consulted (studentPage).
//
// The page is rendered once with a marker in place of the token and one in place of the
// account's name; it is kept only if the token's marker appears exactly once and the name's
// not at all, so a layout that one day shows anything of the account is never cached across
// accounts, only rendered.
const (
	csrfSlot    = "mypt-csrf-slot-7c1e9a04d2"
	accountSlot = "mypt-account-slot-3b8f6d51ae"
)

// slotSafe reports whether a token can stand in the slot as it is: the same bytes
// html/template would have written (our tokens are base64url, which it leaves alone).
func slotSafe(tok string) bool {
	if tok == "" || len(tok) > 128 {
		return false
	}
	for i := 0; i < len(tok); i++ {
		c := tok[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// renderSlotted renders page with the slot markers in place of the request's token and account
// name and splits it around the token. ok is false when the page cannot be slotted.
func (s *Server) renderSlotted(r *http.Request, page string, v viewModel) (before, after []byte, ok bool, err error) {
	s.fillBase(r, v.base())
	b := v.base()
	if !b.SignedIn {
		return nil, nil, false, nil
	}
	b.CSRFToken, b.Account = csrfSlot, accountSlot
	defer s.fillBase(r, b) // leave v as the request's own
	set := s.tmpl.pages[page]
	var buf bytes.Buffer
	if set == nil {
		return nil, nil, false, nil
	}
	if err := set.ExecuteTemplate(&buf, "layout", v); err != nil {
		return nil, nil, false, err
	}
	out := buf.Bytes()
	if bytes.Count(out, []byte(csrfSlot)) != 1 || bytes.Contains(out, []byte(accountSlot)) {
		return nil, nil, false, nil
	}
	i := bytes.Index(out, []byte(csrfSlot))
	return out[:i:i], out[i+len(csrfSlot):], true, nil
}

// writeSlotted writes a slotted page with the request's token in its slot.
func writeSlotted(w http.ResponseWriter, p cachedPage, tok string) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Length", strconv.Itoa(len(p.body)+len(tok)+len(p.extra)))
	w.WriteHeader(http.StatusOK)
	w.Write(p.body)
	io.WriteString(w, tok)
	w.Write(p.extra)
}
