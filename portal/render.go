package portal

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"

	"mypt"
)

//go:embed templates static
var assets embed.FS

// requiredPages are the page templates the portal cannot start without.
var requiredPages = []string{"error", "login", "home", "student", "attendance", "details", "further_details",
	"achievements", "documents", "ilp_policies", "ilp_target_grades", "ilp_targets", "meetings", "help", "help_topic", "admin_error"}

// templates holds one parsed set per page: the layout and partials plus the page's own file.
type templates struct {
	pages map[string]*template.Template
}

var templateFuncs = template.FuncMap{
	"ukdate": func(d mypt.Date) string { return d.UK() },
	"join":   strings.Join,
}

// loadTemplates parses templates/layout.html, templates/partials/*.html and each
// templates/pages/*.html from the embedded files. A missing required page is an error.
func loadTemplates() (*templates, error) {
	base, err := template.New("layout").Funcs(templateFuncs).ParseFS(assets, "templates/layout.html", "templates/partials/*.html")
	if err != nil {
		return nil, fmt.Errorf("portal: parse layout: %w", err)
	}
	files, err := fs.Glob(assets, "templates/pages/*.html")
	if err != nil {
		return nil, err
	}
	t := &templates{pages: map[string]*template.Template{}}
	for _, f := range files {
		name := strings.TrimSuffix(path.Base(f), ".html")
		set, err := template.Must(base.Clone()).ParseFS(assets, f)
		if err != nil {
			return nil, fmt.Errorf("portal: parse %s: %w", f, err)
		}
		t.pages[name] = set
	}
	topics, err := fs.Glob(assets, "templates/help/*.html")
	if err != nil {
		return nil, err
	}
	for _, f := range topics {
		name := "help/" + strings.TrimSuffix(path.Base(f), ".html")
		pg, ok := t.pages["help_topic"]
		if !ok {
			return nil, errors.New("portal: template help_topic is missing")
		}
		set, err := template.Must(pg.Clone()).ParseFS(assets, f)
		if err != nil {
			return nil, fmt.Errorf("portal: parse %s: %w", f, err)
		}
		t.pages[name] = set
	}
	for _, p := range requiredPages {
		if t.pages[p] == nil {
			return nil, fmt.Errorf("portal: template %s is missing", p)
		}
	}
	return t, nil
}

// Base is what every page's layout needs. Page view models embed it.
type Base struct {
	Title      string
	PortalName string // e.g. "Parent Portal"
	College    string // the organisation's name
	SignedIn   bool
	Account    string // the signed-in parent's name
	CSRFToken  string // for the sign-out form (and any other form on the page)
	Student    *StudentNav
	Support    string // support email address
}

// StudentNav is the student a page is about, for the heading and the section menu.
type StudentNav struct {
	ID      string
	Name    string
	College string // the student's own site
	Current string // the page's menu key
	// HTML and Line are the rendered menu and heading line (renderNav), cached per student.
	HTML template.HTML
	Line template.HTML
}

func (b *Base) base() *Base { return b }

// renderNav fills nav.HTML and nav.Line, from the page cache when the student's data version
// is known (the menu and heading change only with the student's name or college).
func (s *Server) renderNav(nav *StudentNav, version int64) error {
	key := pageKey{student: nav.ID, version: version, kind: "nav", sub: nav.Current}
	if c, ok := s.pages.get(key); ok && version > 0 {
		nav.HTML, nav.Line = c.nav, c.line
		return nil
	}
	set := s.tmpl.pages["error"] // every set holds the partials
	var menu, line bytes.Buffer
	if err := set.ExecuteTemplate(&menu, "student_nav", nav); err != nil {
		return fmt.Errorf("portal: render student menu: %w", err)
	}
	if err := set.ExecuteTemplate(&line, "student_line", nav); err != nil {
		return fmt.Errorf("portal: render student line: %w", err)
	}
	nav.HTML, nav.Line = template.HTML(menu.String()), template.HTML(line.String())
	if version > 0 {
		s.pages.put(key, cachedPage{nav: nav.HTML, line: nav.Line})
	}
	return nil
}

type viewModel interface{ base() *Base }

// fillBase completes the layout fields from the request's session.
func (s *Server) fillBase(r *http.Request, b *Base) {
	b.PortalName = "Parent Portal"
	b.College = s.opts.College.Name
	b.Support = s.opts.College.SupportEmail
	if sess := sessionFrom(r.Context()); sess != nil {
		b.SignedIn = true
		b.Account = sess.accountName
		b.CSRFToken = sess.CSRFToken
	}
}

// render executes page into a buffer and writes it with status only if that worked, so a
// template error is a clean 500 rather than half a page.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, page string, v viewModel) {
	if err := s.renderPage(w, r, status, page, v); err != nil {
		s.renderError(w, r, err)
	}
}

// renderPage is render that returns the error instead of answering it; nothing is written
// when it fails.
func (s *Server) renderPage(w http.ResponseWriter, r *http.Request, status int, page string, v viewModel) error {
	buf, err := s.executePage(r, page, v)
	if err != nil {
		return err
	}
	writeHTML(w, status, buf.Bytes())
	return nil
}

// executePage fills the layout fields from the request and renders page into a buffer.
func (s *Server) executePage(r *http.Request, page string, v viewModel) (*bytes.Buffer, error) {
	s.fillBase(r, v.base())
	set := s.tmpl.pages[page]
	if set == nil {
		return nil, fmt.Errorf("portal: no template %q", page)
	}
	var buf bytes.Buffer
	if err := set.ExecuteTemplate(&buf, "layout", v); err != nil {
		return nil, fmt.Errorf("portal: render %s: %w", page, err)
	}
	return &buf, nil
}

// writeHTML writes a rendered page: body is written in parts (a slotted page's cached bytes
// around the request's own values) with one Content-Length for them all.
func writeHTML(w http.ResponseWriter, status int, body ...[]byte) {
	n := 0
	for _, b := range body {
		n += len(b)
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	if h.Get("Cache-Control") == "" {
		h.Set("Cache-Control", "no-store")
	}
	h.Set("Content-Length", strconv.Itoa(n))
	w.WriteHeader(status)
	for _, b := range body {
		w.Write(b)
	}
}

// Errors the handlers return that map to a status other than 500.
var (
	errForbidden   = errors.New("forbidden") // a missing or wrong CSRF token
	errCrossOrigin = fmt.Errorf("%w: cross-origin request", errForbidden)
	errBadRequest  = errors.New("bad request")
	errUnavailable = errors.New("unavailable")
)

type errorView struct {
	Base
	Status  int
	Heading string
	Message string
}

// renderError maps err to a status and our own error page. Only 5xx are logged: 4xx are the
// client's business and logging them would let anyone fill our logs.
func (s *Server) renderError(w http.ResponseWriter, r *http.Request, err error) {
	status := http.StatusInternalServerError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		status = http.StatusRequestEntityTooLarge
	case errors.Is(err, mypt.ErrNotFound):
		status = http.StatusNotFound
	case errors.Is(err, mypt.ErrInvalid), errors.Is(err, errBadRequest):
		status = http.StatusBadRequest
	case errors.Is(err, errCrossOrigin):
		status = http.StatusForbidden
		s.securityEvent(r, "csrf_refused", "cross_origin")
	case errors.Is(err, errForbidden):
		status = http.StatusForbidden
		s.securityEvent(r, "csrf_refused", "bad_token")
	case errors.Is(err, errUnavailable):
		status = http.StatusServiceUnavailable
	case errors.Is(err, context.Canceled):
		return // the client went away; nothing to answer
	}
	if status >= 500 {
		s.log.ErrorContext(r.Context(), "portal: request failed", "method", r.Method, "route", routeOf(r),
			"status", status, "err", err)
	}
	var said badRequestError
	if status == http.StatusBadRequest && errors.As(err, &said) {
		s.renderStatusSaying(w, r, status, said.msg)
		return
	}
	s.renderStatus(w, r, status)
}

// badRequestError is a 400 whose reason may be shown on the page (it names a field of the
// form or query, never data): badRequest("From must be on or before To").
type badRequestError struct{ msg string }

func badRequest(msg string) error              { return badRequestError{msg} }
func (e badRequestError) Error() string        { return "bad request: " + e.msg }
func (e badRequestError) Is(target error) bool { return target == errBadRequest }

// routeOf is the request's route pattern (or, before routing, its path without any
// identifiers), safe to log.
func routeOf(r *http.Request) string {
	if pattern, ok := r.Context().Value(routeKey{}).(string); ok {
		return pattern
	}
	p := r.URL.Path
	if strings.HasPrefix(p, "/students/") {
		return "/students/…"
	}
	return p
}

// renderStatus writes our own page for status. Every 404 is the same page, whatever the
// reason, so a student id that exists but is not yours looks exactly like one that does not.
func (s *Server) renderStatus(w http.ResponseWriter, r *http.Request, status int) {
	s.renderStatusSaying(w, r, status, "")
}

// renderStatusSaying is renderStatus with the page's message replaced by said, when not empty.
func (s *Server) renderStatusSaying(w http.ResponseWriter, r *http.Request, status int, said string) {
	v := &errorView{Status: status}
	switch status {
	case http.StatusNotFound:
		v.Heading, v.Message = "Page not found", "There is no page at this address, or it is not available to your account. Check the address, or go back to your home page."
	case http.StatusMethodNotAllowed:
		v.Heading, v.Message = "Not allowed", "This page cannot be used that way."
	case http.StatusForbidden:
		v.Heading, v.Message = "Request refused", "The request was refused. If you were filling in a form, go back, reload the page and try again."
	case http.StatusBadRequest:
		v.Heading, v.Message = "Request not understood", "Something in the request was not right. Go back and try again."
	case http.StatusRequestEntityTooLarge:
		v.Heading, v.Message = "Too much data", "The form sent more data than we accept."
	case http.StatusTooManyRequests:
		s.securityEvent(r, "rate_limited", "too_many")
		v.Heading, v.Message = "Too many attempts", "Please wait a minute and try again."
	case http.StatusServiceUnavailable:
		v.Heading, v.Message = "Temporarily unavailable", "The portal is busy or being updated. Please try again in a few minutes."
	default:
		v.Heading, v.Message = "Something went wrong", "Sorry, the page could not be shown. Please try again later."
	}
	if said != "" {
		v.Message = said + ". Go back and try again."
	}
	v.Title = v.Heading
	if onInternal(r) && s.renderStaffStatus(w, r, v) {
		return // the staff site's own layout (adminerror.go)
	}
	set := s.tmpl.pages["error"]
	s.fillBase(r, &v.Base)
	var buf bytes.Buffer
	if err := set.ExecuteTemplate(&buf, "layout", v); err != nil {
		http.Error(w, v.Heading, status)
		return
	}
	h := w.Header()
	h.Del("Content-Disposition")
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

func (s *Server) handleNotFound(w http.ResponseWriter, r *http.Request) {
	if onInternal(r) && strings.HasPrefix(r.URL.Path, "/mis/") {
		// The MIS's API answers its clients in JSON, an unknown path too.
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, `{"result":"not_found","error":"no such endpoint; the API is POST /mis/v1/batches and POST /mis/v1/sync"}`+"\n")
		return
	}
	if onInternal(r) {
		r = s.withOptionalStaff(w, r)
	} else {
		r = s.withOptionalSession(w, r)
	}
	s.renderStatus(w, r, http.StatusNotFound)
}

// handleMethodNotAllowed answers 405; httprouter has set Allow already (HR-2).
func (s *Server) handleMethodNotAllowed(w http.ResponseWriter, r *http.Request) {
	s.renderStatus(w, r, http.StatusMethodNotAllowed)
}

var startTime = time.Now()

func (s *Server) handleStatic(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(paramsOf(r).ByName("file"), "/")
	f, err := assets.ReadFile("static/" + name)
	if err != nil || name == "" || strings.Contains(name, "..") {
		s.handleNotFound(w, r)
		return
	}
	w.Header().Set("Cache-Control", "public, max-age=3600")
	http.ServeContent(w, r, name, startTime, bytes.NewReader(f))
}

func (s *Server) handleFavicon(w http.ResponseWriter, r *http.Request) {
	f, _ := assets.ReadFile("static/favicon.svg")
	w.Header().Set("Content-Type", "image/svg+xml")
	w.Header().Set("Cache-Control", "public, max-age=86400")
	w.Write(f)
}
