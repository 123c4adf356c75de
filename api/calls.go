package api

import (
	"encoding/csv"
	"errors"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"switchboard/callinfo"
	"switchboard/dialplan"
	"switchboard/pbx"
	"switchboard/store"
)

// callJSON is a call log entry. Durations are seconds with millisecond precision.
type callJSON struct {
	ID          string             `json:"id"`
	Firm        string             `json:"firm"`
	Start       time.Time          `json:"start"`
	Answer      *time.Time         `json:"answer"` // null when never answered
	End         *time.Time         `json:"end"`
	Direction   callinfo.Direction `json:"direction"`
	From        string             `json:"from"`
	To          string             `json:"to"`
	Agent       string             `json:"agent"`
	CallerAgent string             `json:"caller_agent"`
	Team        string             `json:"team"`
	Outcome     callinfo.Outcome   `json:"outcome"`
	QueueWait   float64            `json:"queue_wait"`
	TalkTime    float64            `json:"talk_time"`
	Cause       string             `json:"cause"`
	// Transfers is the call's chain of hand-overs, oldest first; always an
	// array, empty for a call nobody transferred.
	Transfers     []transferJSON `json:"transfers"`
	HoldSeconds   float64        `json:"hold_seconds"`
	WrapUpSeconds float64        `json:"wrap_up_seconds"`
	// Recording is the id of the call's recording; absent when it has none.
	Recording string `json:"recording,omitempty"`
}

// transferJSON is one hand-over of a call: by an agent id (or "admin"), to
// what the target reached (an agent id, team:ID, ivr:ID or a number).
type transferJSON struct {
	By string    `json:"by"`
	To string    `json:"to"`
	At time.Time `json:"at"`
}

// timeOrNil gives null in JSON for a time that never happened.
func timeOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func seconds(d time.Duration) float64 { return math.Round(d.Seconds()*1000) / 1000 }

func callView(c store.CallRecord) callJSON {
	return callJSON{
		ID: c.ID, Firm: c.Firm, Start: c.Start, Answer: timeOrNil(c.Answer), End: timeOrNil(c.End), Direction: c.Direction,
		From: c.From, To: c.To, Agent: c.Agent, CallerAgent: c.CallerAgent, Team: c.Team, Outcome: c.Outcome,
		QueueWait: seconds(c.QueueWait), TalkTime: seconds(c.TalkTime), Cause: c.Cause,
		Transfers: transfersView(c.Transfers), HoldSeconds: seconds(c.HoldTime), WrapUpSeconds: seconds(c.WrapUp),
		Recording: c.Recording,
	}
}

func transfersView(ts []store.Transfer) []transferJSON {
	out := make([]transferJSON, len(ts))
	for i, t := range ts {
		out[i] = transferJSON(t)
	}
	return out
}

// parseCallQuery reads limit, before, agent, outcome, since and until. Times are
// RFC 3339 or a date (YYYY-MM-DD, midnight server time). Without a limit a page
// holds defaultLimit calls; 0 means no cap (CSV exports everything).
func parseCallQuery(q url.Values, defaultLimit int) (store.CallQuery, *httpError) {
	cq := store.CallQuery{Limit: defaultLimit, Before: q.Get("before"), Agent: q.Get("agent"), Outcome: callinfo.Outcome(q.Get("outcome"))}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxListLimit {
			return cq, errorf(http.StatusBadRequest, "limit must be a number from 1 to %d", maxListLimit)
		}
		cq.Limit = n
	}
	if cq.Before != "" && !store.ValidID(cq.Before) {
		return cq, errorf(http.StatusBadRequest, "before must be the id of a call record, got %q", cq.Before)
	}
	if cq.Outcome != "" && !cq.Outcome.Valid() {
		names := make([]string, len(callinfo.Outcomes))
		for i, o := range callinfo.Outcomes {
			names[i] = string(o)
		}
		return cq, errorf(http.StatusBadRequest, "unknown outcome %q: want one of %s", cq.Outcome, strings.Join(names, ", "))
	}
	for _, t := range []struct {
		name string
		dst  *time.Time
	}{{"since", &cq.Since}, {"until", &cq.Until}} {
		v := q.Get(t.name)
		if v == "" {
			continue
		}
		tm, err := parseTime(v)
		if err != nil {
			return cq, errorf(http.StatusBadRequest, "%s: want RFC 3339 time or YYYY-MM-DD, got %q", t.name, v)
		}
		*t.dst = tm
	}
	if !cq.Since.IsZero() && !cq.Until.IsZero() && !cq.Since.Before(cq.Until) {
		return cq, errorf(http.StatusBadRequest, "since must be before until")
	}
	return cq, nil
}

func parseTime(v string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	return time.ParseInLocation(time.DateOnly, v, time.Local)
}

func contains(list []string, v string) bool {
	for _, s := range list {
		if s == v {
			return true
		}
	}
	return false
}

// wantsCSV reports whether the client asked for CSV by ?format=csv or Accept.
func wantsCSV(r *http.Request) bool {
	if f := r.URL.Query().Get("format"); f != "" {
		return strings.EqualFold(f, "csv")
	}
	return strings.Contains(r.Header.Get("Accept"), "text/csv")
}

// handleCalls serves the call log; agents see only their own calls.
func (s *Server) handleCalls(w http.ResponseWriter, r *http.Request, p principal) {
	q := r.URL.Query()
	if f := q.Get("format"); f != "" && !strings.EqualFold(f, "csv") && !strings.EqualFold(f, "json") {
		s.fail(w, r, errorf(http.StatusBadRequest, "format must be json or csv"))
		return
	}
	asCSV := wantsCSV(r)
	def := defaultCallLimit
	if asCSV {
		def = 0
	}
	cq, herr := parseCallQuery(q, def)
	if herr != nil {
		s.fail(w, r, herr)
		return
	}
	scope, herr := s.firmScope(r, p)
	if herr != nil {
		s.fail(w, r, herr)
		return
	}
	firm := ""
	if !p.admin || q.Get("firm") != "" {
		firm = scope[0].ID
	}
	if !p.admin {
		if cq.Agent != "" && cq.Agent != p.agent.ID {
			s.fail(w, r, errorf(http.StatusForbidden, "agents may only see their own calls"))
			return
		}
		cq.Agent = p.agent.ID
	}
	recs, err := s.d.Store.ListCalls(firm, cq)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if asCSV {
		writeCallsCSV(w, recs)
		return
	}
	out := make([]callJSON, len(recs))
	for i, c := range recs {
		out[i] = callView(c)
	}
	writeJSON(w, http.StatusOK, out)
}

// csvHeader: new columns go at the end, so that spreadsheets and scripts
// reading the older columns by position keep working.
var csvHeader = []string{"id", "firm", "start", "answer", "end", "direction", "from", "to", "agent", "team", "outcome", "queue_wait", "talk_time", "cause", "caller_agent",
	"transfers", "hold_seconds", "wrap_up_seconds", "recording"}

func writeCallsCSV(w http.ResponseWriter, recs []store.CallRecord) {
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="calls.csv"`)
	cw := csv.NewWriter(w)
	cw.Write(csvHeader) //nolint:errcheck // Flush reports write errors
	ts := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.Format(time.RFC3339)
	}
	num := func(d time.Duration) string { return strconv.FormatFloat(seconds(d), 'f', -1, 64) }
	for _, c := range recs {
		cw.Write([]string{ //nolint:errcheck // Flush reports write errors
			c.ID, csvSafe(c.Firm), ts(c.Start), ts(c.Answer), ts(c.End), string(c.Direction), csvSafe(c.From), csvSafe(c.To),
			csvSafe(c.Agent), csvSafe(c.Team), string(c.Outcome), num(c.QueueWait), num(c.TalkTime), csvSafe(c.Cause), csvSafe(c.CallerAgent),
			csvSafe(transfersCSV(c.Transfers)), num(c.HoldTime), num(c.WrapUp), c.Recording,
		})
	}
	cw.Flush()
}

// transfersCSV writes a transfer chain in one cell: "by>to@time" per
// hand-over, separated by spaces ("alice>1002@2025-03-01T10:00:00Z").
func transfersCSV(ts []store.Transfer) string {
	parts := make([]string, len(ts))
	for i, t := range ts {
		parts[i] = t.By + ">" + t.To + "@" + t.At.UTC().Format(time.RFC3339)
	}
	return strings.Join(parts, " ")
}

// csvSafe defuses cells a spreadsheet would run as a formula: caller numbers come
// from outside (a trunk's From header). A phone number such as +15551234 is left
// alone so that the export stays usable.
func csvSafe(v string) string {
	if v == "" {
		return v
	}
	switch v[0] {
	case '=', '@', '\t', '\r':
		return "'" + v
	case '+', '-':
		rest := v[1:]
		if rest == "" || strings.Trim(rest, "0123456789") != "" {
			return "'" + v
		}
	}
	return v
}

// handleLiveCalls lists calls in progress; agents see the calls they are in, and
// a supervisor also the calls of their teams: those their members are in and
// those waiting in their queues (the Team view's Listen buttons).
func (s *Server) handleLiveCalls(w http.ResponseWriter, r *http.Request, p principal) {
	scope, herr := s.firmScope(r, p)
	if herr != nil {
		s.fail(w, r, herr)
		return
	}
	firm := ""
	if !p.admin || r.URL.Query().Get("firm") != "" {
		firm = scope[0].ID
	}
	out := []pbx.LiveCall{}
	var supervised []*dialplan.Team
	if !p.admin {
		supervised = p.firm.SupervisedBy(p.agent.ID)
	}
	for _, c := range s.d.PBX.LiveCalls(firm) {
		if p.admin || c.Agent == p.agent.ID || supervisesCall(supervised, c) {
			out = append(out, c)
		}
	}
	writeJSON(w, http.StatusOK, out)
}

type dialRequest struct {
	Agent  string `json:"agent"`
	Number string `json:"number"`
	Firm   string `json:"firm"`
}

// handleDial starts a click-to-call: the PBX rings the agent, then the number.
func (s *Server) handleDial(w http.ResponseWriter, r *http.Request, p principal) {
	var req dialRequest
	if herr := decodeBody(w, r, &req, false); herr != nil {
		s.fail(w, r, herr)
		return
	}
	if req.Number == "" {
		s.fail(w, r, errorf(http.StatusBadRequest, "number is required"))
		return
	}
	if req.Firm != "" {
		q := r.URL.Query()
		q.Set("firm", req.Firm)
		r.URL.RawQuery = q.Encode()
	}
	if req.Agent == "" {
		if p.admin {
			s.fail(w, r, errorf(http.StatusBadRequest, "agent is required"))
			return
		}
		req.Agent = p.agent.ID
	}
	f, a, herr := s.resolveAgent(r, p, req.Agent)
	if herr != nil {
		s.fail(w, r, herr)
		return
	}
	id, err := s.d.PBX.ClickToCall(f.ID, a.ID, req.Number)
	switch {
	case errors.Is(err, pbx.ErrBadNumber):
		s.fail(w, r, errorf(http.StatusBadRequest, "%v", err))
		return
	case errors.Is(err, pbx.ErrUnreachable):
		// Nothing would ring: say why now rather than pretend it rings.
		s.fail(w, r, errorf(http.StatusConflict, "%v", err))
		return
	case errors.Is(err, pbx.ErrUnknownAgent):
		s.fail(w, r, errorf(http.StatusNotFound, "%v", err))
		return
	case err != nil:
		// The only other refusal is a PBX that is shutting down.
		s.fail(w, r, errorf(http.StatusServiceUnavailable, "%v", err))
		return
	}
	s.log.Info("click-to-call", "firm", f.ID, "agent", a.ID, "number", req.Number, "call", id, "by", p.who())
	writeJSON(w, http.StatusAccepted, map[string]string{"id": id})
}

// who names the principal for logs.
// agentID is the session's agent, "" for the admin token: the PBX's "who asks"
// for actions an agent may take on their own calls and the admin on any.
func (p principal) agentID() string {
	if p.admin {
		return ""
	}
	return p.agent.ID
}

func (p principal) who() string {
	if p.admin {
		return "admin"
	}
	return p.agent.ID
}

// supervisesCall reports whether a live call belongs to one of the teams: its
// agent is a member, or it is the team's call.
func supervisesCall(teams []*dialplan.Team, c pbx.LiveCall) bool {
	for _, t := range teams {
		if c.Team == t.ID || c.Agent != "" && slices.Contains(t.Members, c.Agent) {
			return true
		}
	}
	return false
}
