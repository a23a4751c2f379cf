package scaling

import (
	"net/http"
	"strconv"

	"github.com/vigie-dev/vigie/internal/web"
)

// Routes are the scaling API's routes, for the composition root to mount.
func (s *Scaler) Routes() []web.Route {
	return []web.Route{
		web.R("GET /api/v1/scaling", web.Read, s.handleScaling),
		web.R("GET /api/v1/scaling/actions", web.Read, s.handleActions),
	}
}

// handleScaling returns the last evaluation; ?service= keeps one service.
func (s *Scaler) handleScaling(w http.ResponseWriter, r *http.Request) {
	res := s.Last()
	if name := r.URL.Query().Get("service"); name != "" {
		kept := []ServiceStatus{}
		for _, st := range res.Services {
			if st.Service == name {
				kept = append(kept, st)
			}
		}
		res.Services = kept
	}
	if res.Services == nil {
		res.Services = []ServiceStatus{}
	}
	web.WriteJSON(w, http.StatusOK, web.Envelope{Status: "success", Data: res})
}

// handleActions returns the audit trail, newest first; ?service= and ?limit= (100).
func (s *Scaler) handleActions(w http.ResponseWriter, r *http.Request) {
	limit := 100
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 10000 {
			web.WriteJSON(w, http.StatusBadRequest, web.Envelope{Status: "error", ErrorType: "bad_data", Error: "limit must be an integer between 1 and 10000"})
			return
		}
		limit = n
	}
	acts, err := s.audit.list(r.Context(), r.URL.Query().Get("service"), limit)
	if err != nil {
		web.WriteJSON(w, http.StatusInternalServerError, web.Envelope{Status: "error", ErrorType: "internal", Error: err.Error()})
		return
	}
	web.WriteJSON(w, http.StatusOK, web.Envelope{Status: "success", Data: acts})
}
