package portal

import (
	"bytes"
	"context"
	"net/http"
)

// The internal listener's own error pages: every error there (an unknown /admin/ address, a
// bad filter, a refused form, a 404 from an ops route not configured) is shown in the staff
// layout, whose stylesheet (/admin/static/app.css) and links (/admin/) work on that listener.
// The parents' layout would link to /static/, /help and /login, which are not served there.

type internalKey struct{}

// markInternal tags every request of the internal listener, so renderStatus picks the staff
// layout for its error pages.
func markInternal(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), internalKey{}, true)))
	})
}

func onInternal(r *http.Request) bool {
	v, _ := r.Context().Value(internalKey{}).(bool)
	return v
}

// handleInternalRoot sends the internal listener's root to the staff home.
func (s *Server) handleInternalRoot(w http.ResponseWriter, r *http.Request) {
	http.Redirect(w, r, "/admin/", http.StatusFound)
}

// withOptionalStaff attaches the staff session, if any, so an error page off a staff route
// still shows the staff menu.
func (s *Server) withOptionalStaff(w http.ResponseWriter, r *http.Request) *http.Request {
	if s.acct == nil || staffFrom(r.Context()) != nil {
		return r
	}
	sess, err := s.loadStaffSession(w, r, s.acct)
	if err != nil || sess == nil {
		return r
	}
	return r.WithContext(context.WithValue(r.Context(), staffKey{}, sess))
}

type adminErrorView struct {
	adminBase
	Status  int
	Heading string
	Message string
}

// staffErrorMessage is the staff wording of a status, where it differs from the parents'.
func staffErrorMessage(status int) string {
	switch status {
	case http.StatusNotFound:
		return "There is no page at this address on the staff site, or the record it names does not exist. Check the address, or go to the staff home page."
	case http.StatusServiceUnavailable:
		return "The staff site is busy or being updated. Please try again in a few minutes."
	}
	return ""
}

// renderStaffStatus writes the staff error page; false if it could not be rendered (the
// caller then falls back to its own).
func (s *Server) renderStaffStatus(w http.ResponseWriter, r *http.Request, v *errorView) bool {
	set := s.tmpl.pages["admin_error"]
	if set == nil {
		return false
	}
	av := &adminErrorView{adminBase: s.adminBase(r, v.Heading, ""), Status: v.Status, Heading: v.Heading, Message: v.Message}
	if m := staffErrorMessage(v.Status); m != "" && v.Status != http.StatusBadRequest {
		av.Message = m
	}
	s.fillBase(r, &av.Base)
	var buf bytes.Buffer
	if err := set.ExecuteTemplate(&buf, "layout", av); err != nil {
		return false
	}
	h := w.Header()
	h.Del("Content-Disposition")
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(v.Status)
	w.Write(buf.Bytes())
	return true
}
