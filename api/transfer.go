package api

import (
	"errors"
	"net/http"
	"strings"

	"switchboard/dialplan"
	"switchboard/pbx"
)

type transferRequest struct {
	Target string `json:"target"`
}

// maxTarget bounds a transfer target: an extension, "team:ID", "ivr:ID" or a
// phone number, all far shorter.
const maxTarget = 128

// handleTransfer hands a live call over to a target (SPEC section 7): the agent
// in the call or the admin. Whether the agent is in the call is the PBX's to
// say (it knows every leg of the call); the API passes who asks.
func (s *Server) handleTransfer(w http.ResponseWriter, r *http.Request, p principal) {
	id := r.PathValue("id")
	var req transferRequest
	if herr := decodeBody(w, r, &req, false); herr != nil {
		s.fail(w, r, herr)
		return
	}
	target := strings.TrimSpace(req.Target)
	switch {
	case target == "":
		s.fail(w, r, errorf(http.StatusBadRequest, "target is required: an extension, team:ID, ivr:ID or a number"))
		return
	case len(target) > maxTarget || strings.ContainsFunc(target, func(c rune) bool { return c < 0x21 || c == 0x7f }):
		s.fail(w, r, errorf(http.StatusBadRequest, "invalid target %q", target))
		return
	}
	f, herr := s.liveCallFirm(r, p, id)
	if herr != nil {
		s.fail(w, r, herr)
		return
	}
	by := p.agentID()
	if err := s.d.PBX.Transfer(f.ID, id, by, target); err != nil {
		s.fail(w, r, transferError(err, id, target))
		return
	}
	s.log.Info("transfer", "firm", f.ID, "call", id, "target", target, "by", p.who())
	writeJSON(w, http.StatusAccepted, map[string]string{"id": id})
}

// liveCallFirm finds the firm of live call id among the firms the request
// covers: the admin may leave ?firm= out, since call ids are unique across
// firms. A call not live there is 404 whoever asks, so that an agent learns
// nothing about other firms' calls.
func (s *Server) liveCallFirm(r *http.Request, p principal, id string) (*dialplan.Firm, *httpError) {
	scope, herr := s.firmScope(r, p)
	if herr != nil {
		return nil, herr
	}
	firm := ""
	if len(scope) == 1 {
		firm = scope[0].ID
	}
	for _, c := range s.d.PBX.LiveCalls(firm) {
		if c.ID != id {
			continue
		}
		for _, f := range scope {
			if f.ID == c.Firm {
				return f, nil
			}
		}
	}
	return nil, errorf(http.StatusNotFound, "no live call %q", id)
}

// transferError maps the PBX's refusals of a transfer onto their statuses.
func transferError(err error, id, target string) error {
	switch {
	case errors.Is(err, pbx.ErrNoCall):
		return errorf(http.StatusNotFound, "no live call %q", id)
	case errors.Is(err, pbx.ErrNotYourCall):
		return errorf(http.StatusForbidden, "call %s is not yours: agents may only transfer calls they are in", id)
	case errors.Is(err, pbx.ErrNotAnswered):
		return errorf(http.StatusConflict, "call %s is not answered: only a call in progress can be transferred", id)
	case errors.Is(err, pbx.ErrBadTarget):
		return errorf(http.StatusBadRequest, "%v", err)
	}
	return err
}

// handleReady ends an agent's wrap-up early: the agent themself or the admin.
// It answers the agent as GET /api/agents/{id} does.
func (s *Server) handleReady(w http.ResponseWriter, r *http.Request, p principal) {
	f, a, herr := s.resolveAgent(r, p, r.PathValue("id"))
	if herr != nil {
		s.fail(w, r, herr)
		return
	}
	// No body is needed; an empty JSON object is accepted as well, and
	// anything else refused like on every other endpoint.
	var req struct{}
	if herr := decodeBody(w, r, &req, true); herr != nil {
		s.fail(w, r, herr)
		return
	}
	if err := s.d.PBX.Ready(f.ID, a.ID); err != nil {
		if errors.Is(err, pbx.ErrUnknownAgent) {
			err = errorf(http.StatusNotFound, "unknown agent %q", a.ID)
		}
		s.fail(w, r, err)
		return
	}
	s.log.Info("agent ready", "firm", f.ID, "agent", a.ID, "by", p.who())
	writeJSON(w, http.StatusOK, s.agentView(f, a, true))
}
