package api

import (
	"cmp"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"switchboard/dialplan"
	"switchboard/pbx"
	"switchboard/store"
)

// recordingJSON is a call recording's index entry.
type recordingJSON struct {
	ID          string    `json:"id"`
	Firm        string    `json:"firm"`
	Call        string    `json:"call"`
	Agent       string    `json:"agent"`
	CallerAgent string    `json:"caller_agent"`
	Team        string    `json:"team"`
	Start       time.Time `json:"start"`
	Duration    float64   `json:"duration"` // seconds
	Size        int64     `json:"size"`     // bytes of the WAV file
	URL         string    `json:"url"`      // the WAV, relative to the server
}

func recordingView(r store.Recording) recordingJSON {
	return recordingJSON{
		ID: r.ID, Firm: r.Firm, Call: r.Call, Agent: r.Agent, CallerAgent: r.CallerAgent, Team: r.Team,
		Start: r.Start, Duration: seconds(r.Duration), Size: r.Size,
		URL: "/api/recordings/" + url.PathEscape(r.ID) + ".wav",
	}
}

// handleRecordings lists recordings, newest first: the admin every one of the
// firms in scope, an agent those of their own calls and of the teams they
// supervise. Asking by name for an agent or team one may not see is 403.
func (s *Server) handleRecordings(w http.ResponseWriter, r *http.Request, p principal) {
	q := r.URL.Query()
	rq := store.RecordingQuery{Limit: defaultCallLimit, Agent: q.Get("agent"), Team: q.Get("team")}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxListLimit {
			s.fail(w, r, errorf(http.StatusBadRequest, "limit must be a number from 1 to %d", maxListLimit))
			return
		}
		rq.Limit = n
	}
	// before is a time, or the id of the last entry of the previous page.
	if v := q.Get("before"); v != "" {
		if store.ValidID(v) {
			rq.Before = v
		} else if t, err := parseTime(v); err == nil {
			rq.Until = t
		} else {
			s.fail(w, r, errorf(http.StatusBadRequest, "before: want RFC 3339 time, YYYY-MM-DD or a recording id, got %q", v))
			return
		}
	}
	if v := q.Get("after"); v != "" {
		t, err := parseTime(v)
		if err != nil {
			s.fail(w, r, errorf(http.StatusBadRequest, "after: want RFC 3339 time or YYYY-MM-DD, got %q", v))
			return
		}
		rq.After = t
	}
	scope, herr := s.firmScope(r, p)
	if herr != nil {
		s.fail(w, r, herr)
		return
	}
	if !p.admin {
		f, me := p.firm, p.agent.ID
		if rq.Agent != "" && rq.Agent != me && !pbx.SupervisesRecording(f, me, store.Recording{Agent: rq.Agent}) {
			s.fail(w, r, errorf(http.StatusForbidden, "you may only see the recordings of your own calls and of the teams you supervise"))
			return
		}
		if rq.Team != "" && !slices.ContainsFunc(f.SupervisedBy(me), func(t *dialplan.Team) bool { return t.ID == rq.Team }) {
			s.fail(w, r, errorf(http.StatusForbidden, "you do not supervise team %q", rq.Team))
			return
		}
		rq.Allow = func(rec store.Recording) bool { return pbx.MaySeeRecording(f, me, rec) }
	}
	var all []store.Recording
	for _, f := range scope {
		recs, err := s.d.Store.ListRecordings(f.ID, rq)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		all = append(all, recs...)
	}
	// Several firms (the admin without ?firm=): one list, newest first.
	slices.SortStableFunc(all, func(a, b store.Recording) int { return cmp.Compare(b.ID, a.ID) })
	if rq.Limit > 0 && len(all) > rq.Limit {
		all = all[:rq.Limit]
	}
	out := make([]recordingJSON, len(all))
	for i, rec := range all {
		out[i] = recordingView(rec)
	}
	writeJSON(w, http.StatusOK, out)
}

// findRecording finds recording id among the firms the request covers and
// checks that p may see it: 404 when it does not exist there, 403 when it is
// another agent's or team's.
func (s *Server) findRecording(r *http.Request, p principal, id string) (store.Recording, *httpError) {
	scope, herr := s.firmScope(r, p)
	if herr != nil {
		return store.Recording{}, herr
	}
	if store.ValidID(id) {
		for _, f := range scope {
			rec, err := s.d.Store.GetRecording(f.ID, id)
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			if err != nil {
				return store.Recording{}, errorf(http.StatusInternalServerError, "%v", err)
			}
			if !p.admin && !pbx.MaySeeRecording(f, p.agent.ID, rec) {
				return store.Recording{}, errorf(http.StatusForbidden, "recording %s is not of your calls or of a team you supervise", id)
			}
			return rec, nil
		}
	}
	return store.Recording{}, errorf(http.StatusNotFound, "no recording %q", id)
}

// handleRecordingGet serves {id}.wav as audio, or {id} as its index entry.
func (s *Server) handleRecordingGet(w http.ResponseWriter, r *http.Request, p principal) {
	id, asWAV := strings.CutSuffix(r.PathValue("id"), ".wav")
	rec, herr := s.findRecording(r, p, id)
	if herr != nil {
		s.fail(w, r, herr)
		return
	}
	if !asWAV {
		writeJSON(w, http.StatusOK, recordingView(rec))
		return
	}
	if herr := serveWAV(w, r, rec.File, id, "recording"); herr != nil {
		s.fail(w, r, herr)
	}
}

// handleRecordingDelete removes a recording (file, then entry): the admin, or
// a supervisor of the recording's team. The agent who took the call may fetch
// it, not destroy it.
func (s *Server) handleRecordingDelete(w http.ResponseWriter, r *http.Request, p principal) {
	id := strings.TrimSuffix(r.PathValue("id"), ".wav")
	rec, herr := s.findRecording(r, p, id)
	if herr != nil {
		s.fail(w, r, herr)
		return
	}
	if !p.admin && !pbx.SupervisesRecording(p.firm, p.agent.ID, rec) {
		s.fail(w, r, errorf(http.StatusForbidden, "only the admin and the team's supervisors may delete recording %s", id))
		return
	}
	if err := s.d.PBX.DeleteRecording(rec.Firm, rec.ID); err != nil {
		s.fail(w, r, err)
		return
	}
	s.log.Info("recording deleted", "firm", rec.Firm, "id", rec.ID, "by", p.who())
	w.WriteHeader(http.StatusNoContent)
}

type recordRequest struct {
	On *bool `json:"on"`
}

// handleRecord turns the recording of a live call on or off (SPEC section 7):
// an agent in the call, a supervisor of its team, or the admin.
func (s *Server) handleRecord(w http.ResponseWriter, r *http.Request, p principal) {
	id := r.PathValue("id")
	var req recordRequest
	if herr := decodeBody(w, r, &req, false); herr != nil {
		s.fail(w, r, herr)
		return
	}
	if req.On == nil {
		s.fail(w, r, errorf(http.StatusBadRequest, `"on" (true or false) is required`))
		return
	}
	f, herr := s.liveCallFirm(r, p, id)
	if herr != nil {
		s.fail(w, r, herr)
		return
	}
	by := p.agentID()
	if err := s.d.PBX.Record(f.ID, id, by, *req.On); err != nil {
		s.fail(w, r, recordError(err, id))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": id, "recording": *req.On})
}

// recordError maps the PBX's refusals onto their statuses.
func recordError(err error, id string) error {
	switch {
	case errors.Is(err, pbx.ErrNoCall):
		return errorf(http.StatusNotFound, "no live call %q", id)
	case errors.Is(err, pbx.ErrNotYourCall):
		return errorf(http.StatusForbidden, "call %s is not yours: only its agents, their teams' supervisors and the admin may record it", id)
	case errors.Is(err, pbx.ErrNotAnswered):
		return errorf(http.StatusConflict, "call %s is not answered: only a call in progress can be recorded", id)
	}
	return err
}
