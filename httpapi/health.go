package httpapi

import "net/http"

// handleHealth serves GET /healthz: the process is up.
func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// handleReady serves GET /readyz: the live feed runs and the server is not
// shutting down.
func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) {
	if s.ctx.Err() != nil || !s.hub.Ready() {
		writeError(w, http.StatusServiceUnavailable, codeUnavailable, "not ready")
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}
