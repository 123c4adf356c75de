package api

import (
	"errors"
	"net/http"

	"switchboard/pbx"
)

type monitorRequest struct {
	Mode pbx.MonitorMode `json:"mode"`
	// Agent is the supervisor whose phone rings, for the admin token (an agent
	// session is its own supervisor).
	Agent string `json:"agent,omitempty"`
}

// handleMonitor rings a supervisor's phones or browser and joins them to a live
// call in listen, whisper or barge mode (SPEC section 7): a supervisor of the
// call's agent's team, or the admin on a supervisor's behalf.
func (s *Server) handleMonitor(w http.ResponseWriter, r *http.Request, p principal) {
	id := r.PathValue("id")
	var req monitorRequest
	if herr := decodeBody(w, r, &req, false); herr != nil {
		s.fail(w, r, herr)
		return
	}
	if req.Mode == "" {
		req.Mode = pbx.Listen
	}
	if !req.Mode.Valid() {
		s.fail(w, r, errorf(http.StatusBadRequest, "invalid mode %q (want listen, whisper or barge)", req.Mode))
		return
	}
	sup := req.Agent
	switch {
	case !p.admin && sup != "" && sup != p.agent.ID:
		s.fail(w, r, errorf(http.StatusForbidden, "agents monitor for themselves only"))
		return
	case !p.admin:
		sup = p.agent.ID
	case sup == "":
		s.fail(w, r, errorf(http.StatusBadRequest, "agent is required: the supervisor whose phone rings"))
		return
	}
	f, herr := s.liveCallFirm(r, p, id)
	if herr != nil {
		s.fail(w, r, herr)
		return
	}
	err := s.d.PBX.Monitor(f.ID, id, sup, req.Mode)
	switch {
	case err == nil:
	case errors.Is(err, pbx.ErrNoCall):
		err = errorf(http.StatusNotFound, "no live call %q", id)
	case errors.Is(err, pbx.ErrUnknownAgent):
		err = errorf(http.StatusNotFound, "unknown agent %q", sup)
	case errors.Is(err, pbx.ErrNotYourCall):
		err = errorf(http.StatusForbidden, "%s does not supervise a team of the agent in call %s", sup, id)
	case errors.Is(err, pbx.ErrNotAnswered):
		err = errorf(http.StatusConflict, "call %s is not answered: only a call in progress can be monitored", id)
	case errors.Is(err, pbx.ErrNoPhone):
		err = errorf(http.StatusConflict, "%s has no phone registered to ring", sup)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.log.Info("monitor", "firm", f.ID, "call", id, "supervisor", sup, "mode", req.Mode, "by", p.who())
	writeJSON(w, http.StatusAccepted, map[string]string{"id": id})
}
