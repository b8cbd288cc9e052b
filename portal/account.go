package portal

import "net/http"

// Account request, email verification, password reset and student consent pages belong to the
// accounts area, which replaces these handlers (DESIGN §4 routes). Until then they answer 404.

func (s *Server) handleAccountRequestForm(w http.ResponseWriter, r *http.Request) {
	s.handleNotFound(w, r)
}
func (s *Server) handleAccountRequest(w http.ResponseWriter, r *http.Request) { s.handleNotFound(w, r) }
func (s *Server) handleVerifyEmailForm(w http.ResponseWriter, r *http.Request) {
	s.handleNotFound(w, r)
}
func (s *Server) handleVerifyEmail(w http.ResponseWriter, r *http.Request) { s.handleNotFound(w, r) }
func (s *Server) handleForgotPasswordForm(w http.ResponseWriter, r *http.Request) {
	s.handleNotFound(w, r)
}
func (s *Server) handleForgotPassword(w http.ResponseWriter, r *http.Request) { s.handleNotFound(w, r) }
func (s *Server) handleResetPasswordForm(w http.ResponseWriter, r *http.Request) {
	s.handleNotFound(w, r)
}
func (s *Server) handleResetPassword(w http.ResponseWriter, r *http.Request) { s.handleNotFound(w, r) }
func (s *Server) handleStudentConsentForm(w http.ResponseWriter, r *http.Request) {
	s.handleNotFound(w, r)
}
func (s *Server) handleStudentConsent(w http.ResponseWriter, r *http.Request) { s.handleNotFound(w, r) }
