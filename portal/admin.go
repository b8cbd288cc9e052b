package portal

import "net/http"

// The staff site (/admin/) belongs to the accounts area, which replaces this handler and adds
// its routes to routesInternal. Until then it answers 404.

func (s *Server) handleAdminHome(w http.ResponseWriter, r *http.Request) { s.handleNotFound(w, r) }
