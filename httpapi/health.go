package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/ssehub/ssehub"
)

// handleHealth serves GET /healthz: the process is up.
func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// handleReady serves GET /readyz: the live feed runs, the store is
// healthy and the server is not shutting down.
func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) {
	if s.ctx.Err() != nil {
		WriteError(w, http.StatusServiceUnavailable, CodeUnavailable, "shutting down")
		return
	}
	if !s.hub.Ready() {
		WriteError(w, http.StatusServiceUnavailable, CodeUnavailable, "the live feed is not running")
		return
	}
	if hs, ok := s.hub.Store().(ssehub.Health); ok {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := hs.Healthy(ctx); err != nil {
			WriteError(w, http.StatusServiceUnavailable, CodeUnavailable, "the store is not healthy: "+err.Error())
			return
		}
	}
	WriteJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}
