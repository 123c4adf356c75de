package api

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"switchboard/dialplan"
	"switchboard/store"
)

type callbackJSON struct {
	ID          string    `json:"id"`
	Firm        string    `json:"firm"`
	Caller      string    `json:"caller"`
	CallerName  string    `json:"caller_name,omitempty"`
	Target      string    `json:"target"` // "agent:ID" or "team:ID", as in the dialplan
	Created     time.Time `json:"created"`
	Updated     time.Time `json:"updated"`
	NextAttempt time.Time `json:"next_attempt,omitzero"`
	Attempts    int       `json:"attempts"`
	State       string    `json:"state"`
	Note        string    `json:"note"`
	ClaimedBy   string    `json:"claimed_by"`
}

func callbackView(c store.Callback) callbackJSON {
	return callbackJSON{
		ID: c.ID, Firm: c.Firm, Caller: c.Caller, CallerName: c.CallerName, Target: c.TargetKind + ":" + c.TargetID,
		Created: c.Created, Updated: c.Updated, NextAttempt: c.NextAttempt, Attempts: c.Attempts,
		State: c.State, Note: c.Note, ClaimedBy: c.ClaimedBy,
	}
}

var callbackStates = []string{store.StatePending, store.StateDialing, store.StateDone, store.StateFailed, store.StateCancelled}

// targetsAgent reports whether a callback is meant for agent a: addressed to
// them, or to a team they belong to.
func targetsAgent(f *dialplan.Firm, c store.Callback, a *dialplan.Agent) bool {
	switch c.TargetKind {
	case store.TargetAgent:
		return c.TargetID == a.ID
	case store.TargetTeam:
		t := f.Team(c.TargetID)
		return t != nil && slices.Contains(t.Members, a.ID)
	}
	return false
}

// mayTouch reports whether p may finish or cancel c: the admin always, an agent
// if the entry is meant for them or they hold it.
func mayTouch(p principal, f *dialplan.Firm, c store.Callback) bool {
	return p.admin || c.ClaimedBy == p.agent.ID || targetsAgent(f, c, p.agent)
}

// handleCallbacks lists the queue: ?state= takes one state or a comma-separated
// list (none: every state), ?limit= caps the answer (none: no cap), ?before=
// continues below an id. Agents see entries meant for them or held by them.
func (s *Server) handleCallbacks(w http.ResponseWriter, r *http.Request, p principal) {
	q := r.URL.Query()
	var states []string
	if v := q.Get("state"); v != "" {
		for st := range strings.SplitSeq(v, ",") {
			st = strings.TrimSpace(st)
			if !slices.Contains(callbackStates, st) {
				s.fail(w, r, errorf(http.StatusBadRequest, "unknown state %q: want %s", st, strings.Join(callbackStates, ", ")))
				return
			}
			if !slices.Contains(states, st) {
				states = append(states, st)
			}
		}
	} else {
		states = []string{""}
	}
	limit := 0
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxListLimit {
			s.fail(w, r, errorf(http.StatusBadRequest, "limit must be a number from 1 to %d", maxListLimit))
			return
		}
		limit = n
	}
	if b := q.Get("before"); b != "" && !store.ValidID(b) {
		s.fail(w, r, errorf(http.StatusBadRequest, "before must be the id of a callback entry, got %q", b))
		return
	}
	scope, herr := s.firmScope(r, p)
	if herr != nil {
		s.fail(w, r, herr)
		return
	}
	var all []store.Callback
	for _, f := range scope {
		for _, st := range states {
			cbs, err := s.d.Store.ListCallbacks(f.ID, st, store.Page{Before: q.Get("before")})
			if err != nil {
				s.fail(w, r, err)
				return
			}
			for _, c := range cbs {
				if mayTouch(p, f, c) {
					all = append(all, c)
				}
			}
		}
	}
	// IDs sort by creation time across firms: newest first, like every list.
	slices.SortFunc(all, func(a, b store.Callback) int { return strings.Compare(b.ID, a.ID) })
	if limit > 0 && len(all) > limit {
		all = all[:limit]
	}
	out := make([]callbackJSON, len(all))
	for i, c := range all {
		out[i] = callbackView(c)
	}
	writeJSON(w, http.StatusOK, out)
}

type callbackActionRequest struct {
	// Note replaces the entry's note (done, cancel).
	Note *string `json:"note"`
	// Agent claims on behalf of an agent (admin only; default "admin").
	Agent string `json:"agent"`
}

var errForbidden = errors.New("forbidden")

// handleCallbackAction runs claim, release, done or cancel on one entry.
func (s *Server) handleCallbackAction(w http.ResponseWriter, r *http.Request, p principal) {
	id, action := r.PathValue("id"), r.PathValue("action")
	if action != "claim" && action != "done" && action != "cancel" && action != "release" {
		s.fail(w, r, errorf(http.StatusNotFound, "unknown callback action %q: want claim, release, done or cancel", action))
		return
	}
	var req callbackActionRequest
	if herr := decodeBody(w, r, &req, true); herr != nil {
		s.fail(w, r, herr)
		return
	}
	f, cur, err := s.findCallback(r, p, id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var cb store.Callback
	switch action {
	case "claim":
		by := "admin"
		if !p.admin {
			if req.Agent != "" && req.Agent != p.agent.ID {
				s.fail(w, r, errorf(http.StatusForbidden, "agents may only claim for themselves"))
				return
			}
			if !targetsAgent(f, cur, p.agent) {
				s.fail(w, r, errorf(http.StatusForbidden, "callback %s is not meant for you or your teams", id))
				return
			}
			by = p.agent.ID
		} else if req.Agent != "" {
			a := lookupAgent(f, req.Agent)
			if a == nil {
				s.fail(w, r, errorf(http.StatusNotFound, "unknown agent %q in firm %s", req.Agent, f.ID))
				return
			}
			by = a.ID
		}
		cb, err = s.d.Store.ClaimCallback(f.ID, id, by)
		if err == nil && req.Note != nil {
			cb, err = s.d.Store.UpdateCallback(f.ID, id, func(c *store.Callback) error { c.Note = *req.Note; return nil })
		}
	case "release":
		// Gives a claimed entry back (the agent could not take it after all): it
		// is pending again and the claim's attempt is not counted.
		cb, err = s.d.Store.UpdateCallback(f.ID, id, func(c *store.Callback) error {
			if c.State == store.StateDialing && !p.admin && c.ClaimedBy != p.agent.ID {
				return errForbidden // only the holder (or an admin) gives a claim back
			}
			if err := c.Unclaim(); err != nil {
				return err
			}
			if req.Note != nil {
				c.Note = *req.Note
			}
			return nil
		})
	default:
		state := store.StateDone
		if action == "cancel" {
			state = store.StateCancelled
		}
		cb, err = s.d.Store.UpdateCallback(f.ID, id, func(c *store.Callback) error {
			if !mayTouch(p, f, *c) {
				return errForbidden
			}
			if err := c.Close(state); err != nil {
				return err
			}
			if req.Note != nil {
				c.Note = *req.Note
			}
			return nil
		})
	}
	switch {
	case errors.Is(err, errForbidden):
		s.fail(w, r, errorf(http.StatusForbidden, "callback %s is not meant for you, your teams, or held by you", id))
		return
	case errors.Is(err, store.ErrConflict):
		msg := fmt.Sprintf("callback %s cannot be %s", id, map[string]string{"claim": "claimed", "release": "released", "done": "done", "cancel": "cancelled"}[action])
		if now, gerr := s.d.Store.GetCallback(f.ID, id); gerr == nil {
			msg += ": it is " + now.State
			if now.ClaimedBy != "" && now.State == store.StateDialing {
				msg += " (claimed by " + now.ClaimedBy + ")"
			}
		}
		s.fail(w, r, errorf(http.StatusConflict, "%s", msg))
		return
	case err != nil:
		s.fail(w, r, err)
		return
	}
	s.d.PBX.CallbackChanged(cb)
	s.log.Info("callback "+action, "firm", f.ID, "id", id, "by", p.who())
	writeJSON(w, http.StatusOK, callbackView(cb))
}

// findCallback looks an id up in the firms in scope.
func (s *Server) findCallback(r *http.Request, p principal, id string) (*dialplan.Firm, store.Callback, error) {
	scope, herr := s.firmScope(r, p)
	if herr != nil {
		return nil, store.Callback{}, herr
	}
	var (
		hitFirm *dialplan.Firm
		hit     store.Callback
	)
	for _, f := range scope {
		c, err := s.d.Store.GetCallback(f.ID, id)
		if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrInvalid) {
			continue
		}
		if err != nil {
			return nil, store.Callback{}, err
		}
		hitFirm, hit = f, c
		break
	}
	if hitFirm == nil {
		return nil, store.Callback{}, errorf(http.StatusNotFound, "unknown callback %q", id)
	}
	return hitFirm, hit, nil
}
