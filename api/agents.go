package api

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"switchboard/callinfo"
	"switchboard/dialplan"
	"switchboard/pbx"
)

type agentJSON struct {
	ID        string          `json:"id"`
	Name      string          `json:"name"`
	Extension string          `json:"extension"`
	Firm      string          `json:"firm"`
	Routing   string          `json:"routing"`
	Status    callinfo.Status `json:"status"`
	// WrapUpUntil is when the agent's wrap-up after a team call ends; absent
	// when the agent is not in wrap-up (status stays online|away|offline).
	WrapUpUntil   *time.Time         `json:"wrap_up_until,omitempty"`
	Registrations []registrationJSON `json:"registrations"`
}

type registrationJSON struct {
	Contact   string    `json:"contact"`
	Source    string    `json:"source"`
	Transport string    `json:"transport"`
	Expires   time.Time `json:"expires"`
	UserAgent string    `json:"user_agent"`
}

// status is the agent's status, falling back to the file's starting status for
// an agent the PBX has not loaded yet.
func (s *Server) status(firm string, a *dialplan.Agent) callinfo.Status {
	if st := s.d.PBX.AgentStatus(firm, a.ID); st != "" {
		return st
	}
	if a.Status != "" {
		return callinfo.Status(a.Status)
	}
	return callinfo.Online
}

// wrapUpUntil is the end of the agent's wrap-up, nil when not in one (or it
// is already over: the PBX may not have noticed yet).
func (s *Server) wrapUpUntil(firm, agent string) *time.Time {
	t := s.d.PBX.WrapUpUntil(firm, agent)
	if t.IsZero() || !t.After(s.now()) {
		return nil
	}
	return &t
}

// agentView renders an agent; withRegs is false when an agent looks at a
// colleague, whose phones' addresses are none of their business.
func (s *Server) agentView(f *dialplan.Firm, a *dialplan.Agent, withRegs bool) agentJSON {
	routing := a.Routing
	if routing == "" {
		routing = "computer"
	}
	out := agentJSON{
		ID: a.ID, Name: a.Name, Extension: a.Extension, Firm: f.ID, Routing: routing,
		Status: s.status(f.ID, a), WrapUpUntil: s.wrapUpUntil(f.ID, a.ID), Registrations: []registrationJSON{},
	}
	if withRegs {
		for _, b := range s.d.PBX.Registrations(f.ID, a) {
			out.Registrations = append(out.Registrations, registrationJSON{
				Contact: b.Contact, Source: b.Source, Transport: b.Transport, Expires: b.Expires, UserAgent: b.UserAgent,
			})
		}
	}
	return out
}

// handleAgents lists the agents of the firms in scope (an agent: their own firm;
// colleagues are listed without registrations).
func (s *Server) handleAgents(w http.ResponseWriter, r *http.Request, p principal) {
	scope, herr := s.firmScope(r, p)
	if herr != nil {
		s.fail(w, r, herr)
		return
	}
	out := []agentJSON{}
	for _, f := range scope {
		for _, a := range f.Agents {
			out = append(out, s.agentView(f, a, p.admin || p.isSelf(f.ID, a.ID)))
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// resolveAgent finds the agent named in the path: agents may only name
// themselves; the admin may leave ?firm= out when the id is unambiguous.
func (s *Server) resolveAgent(r *http.Request, p principal, id string) (*dialplan.Firm, *dialplan.Agent, *httpError) {
	if id == "" {
		return nil, nil, errorf(http.StatusBadRequest, "agent is required")
	}
	scope, herr := s.firmScope(r, p)
	if herr != nil {
		return nil, nil, herr
	}
	if !p.admin {
		if a := lookupAgent(p.firm, id); a == nil || a.ID != p.agent.ID {
			return nil, nil, errorf(http.StatusForbidden, "agents may only act on themselves")
		}
		return p.firm, p.agent, nil
	}
	f, herr := findOne(scope, "agent", id, func(f *dialplan.Firm) bool { return lookupAgent(f, id) != nil })
	if herr != nil {
		return nil, nil, herr
	}
	return f, lookupAgent(f, id), nil
}

func (s *Server) handleAgent(w http.ResponseWriter, r *http.Request, p principal) {
	f, a, herr := s.resolveAgent(r, p, r.PathValue("id"))
	if herr != nil {
		s.fail(w, r, herr)
		return
	}
	writeJSON(w, http.StatusOK, s.agentView(f, a, true))
}

func (s *Server) handleSetStatus(w http.ResponseWriter, r *http.Request, p principal) {
	f, a, herr := s.resolveAgent(r, p, r.PathValue("id"))
	if herr != nil {
		s.fail(w, r, herr)
		return
	}
	var req struct {
		Status string `json:"status"`
	}
	if herr := decodeBody(w, r, &req, false); herr != nil {
		s.fail(w, r, herr)
		return
	}
	st := callinfo.Status(strings.ToLower(strings.TrimSpace(req.Status)))
	if !st.Valid() {
		s.fail(w, r, errorf(http.StatusBadRequest, "invalid status %q: want online, away or offline", req.Status))
		return
	}
	if err := s.d.PBX.SetAgentStatus(f.ID, a.ID, st); err != nil {
		if errors.Is(err, pbx.ErrUnknownAgent) {
			err = errorf(http.StatusNotFound, "unknown agent %q", a.ID)
		}
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, s.agentView(f, a, true))
}
