package api

import (
	"net/http"
	"sort"
	"time"
)

// trunkJSON is a registering trunk's state for admins.
type trunkJSON struct {
	Firm        string    `json:"firm"`
	ID          string    `json:"id"`
	Registered  bool      `json:"registered"`
	Expires     time.Time `json:"expires,omitzero"`
	LastError   string    `json:"last_error,omitempty"`
	LastAttempt time.Time `json:"last_attempt,omitzero"`
	Failures    int       `json:"failures"`
}

// handleTrunks lists the registration state of trunks with register: true
// (GET /api/trunks, admins only).
func (s *Server) handleTrunks(w http.ResponseWriter, r *http.Request, p principal) {
	if !p.admin {
		s.fail(w, r, errorf(http.StatusForbidden, "trunks are for admins"))
		return
	}
	out := []trunkJSON{}
	for firm, trunks := range s.d.PBX.TrunkStates() {
		for id, st := range trunks {
			out = append(out, trunkJSON{
				Firm: firm, ID: id, Registered: st.Registered, Expires: st.Expires,
				LastError: st.LastError, LastAttempt: st.LastAttempt, Failures: st.Failures,
			})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Firm != out[j].Firm {
			return out[i].Firm < out[j].Firm
		}
		return out[i].ID < out[j].ID
	})
	writeJSON(w, http.StatusOK, out)
}
