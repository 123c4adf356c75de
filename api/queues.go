package api

import (
	"net/http"
	"slices"

	"switchboard/dialplan"
	"switchboard/pbx"
)

// handleQueues serves the wallboard: the admin sees every team of the firms in
// scope (?firm=), a supervisor the teams they supervise, anyone else gets 403.
// ?team=ID narrows the answer to one team.
func (s *Server) handleQueues(w http.ResponseWriter, r *http.Request, p principal) {
	scope, herr := s.firmScope(r, p)
	if herr != nil {
		s.fail(w, r, herr)
		return
	}
	team := r.URL.Query().Get("team")
	out := []pbx.QueueStatus{}
	for _, f := range scope {
		allowed := func(string) bool { return true }
		if !p.admin {
			mine := f.SupervisedBy(p.agent.ID)
			if len(mine) == 0 {
				s.fail(w, r, errorf(http.StatusForbidden, "the wallboard is for the teams' supervisors and the admin"))
				return
			}
			allowed = func(id string) bool {
				return slices.ContainsFunc(mine, func(t *dialplan.Team) bool { return t.ID == id })
			}
			if team != "" && !allowed(team) {
				s.fail(w, r, errorf(http.StatusForbidden, "you do not supervise team %q", team))
				return
			}
		}
		for _, qs := range s.d.PBX.Queues(f.ID) {
			if allowed(qs.Team) && (team == "" || qs.Team == team) {
				out = append(out, qs)
			}
		}
	}
	if team != "" && len(out) == 0 {
		s.fail(w, r, errorf(http.StatusNotFound, "unknown team %q", team))
		return
	}
	writeJSON(w, http.StatusOK, out)
}
