package api

import (
	"errors"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"switchboard/dialplan"
	"switchboard/store"
)

type voicemailJSON struct {
	ID       string    `json:"id"`
	Firm     string    `json:"firm"`
	Mailbox  string    `json:"mailbox"`
	Caller   string    `json:"caller"`
	Time     time.Time `json:"time"`
	Duration float64   `json:"duration"` // seconds
	Codec    string    `json:"codec"`
	Read     bool      `json:"read"`
	Heard    bool      `json:"heard"` // the same as read: listened to (phone, page, or marked)
	URL      string    `json:"url"`   // the WAV, relative to the server
}

func voicemailView(v store.Voicemail) voicemailJSON {
	return voicemailJSON{
		ID: v.ID, Firm: v.Firm, Mailbox: v.Mailbox, Caller: v.Caller, Time: v.Time, Duration: seconds(v.Duration),
		Codec: v.Codec, Read: v.Read, Heard: v.Read,
		URL: "/api/voicemail/" + url.PathEscape(v.Mailbox) + "/" + url.PathEscape(v.ID) + ".wav",
	}
}

// resolveMailbox finds the mailbox named in the path. An agent's mailbox has
// the agent's id, and agents may open only their own.
func (s *Server) resolveMailbox(r *http.Request, p principal) (*dialplan.Firm, string, *httpError) {
	mb := r.PathValue("mailbox")
	if !p.admin {
		if mb != p.agent.ID {
			return nil, "", errorf(http.StatusForbidden, "agents may only open their own mailbox (%s)", p.agent.ID)
		}
		return p.firm, mb, nil
	}
	scope, herr := s.firmScope(r, p)
	if herr != nil {
		return nil, "", herr
	}
	f, herr := findOne(scope, "mailbox", mb, func(f *dialplan.Firm) bool { return f.Mailbox(mb) != nil })
	return f, mb, herr
}

func (s *Server) handleVoicemailList(w http.ResponseWriter, r *http.Request, p principal) {
	f, mb, herr := s.resolveMailbox(r, p)
	if herr != nil {
		s.fail(w, r, herr)
		return
	}
	vms, err := s.d.Store.ListVoicemail(f.ID, mb)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := make([]voicemailJSON, len(vms))
	for i, v := range vms {
		out[i] = voicemailView(v)
	}
	writeJSON(w, http.StatusOK, out)
}

// handleVoicemailGet serves {id}.wav as audio (and marks the message read, as
// listening on the phone does; HEAD does not) or {id} as its JSON index entry.
func (s *Server) handleVoicemailGet(w http.ResponseWriter, r *http.Request, p principal) {
	f, mb, herr := s.resolveMailbox(r, p)
	if herr != nil {
		s.fail(w, r, herr)
		return
	}
	id, wav := strings.CutSuffix(r.PathValue("id"), ".wav")
	v, err := s.d.Store.GetVoicemail(f.ID, mb, id)
	if err != nil {
		s.fail(w, r, messageError(err, mb, id))
		return
	}
	if !wav {
		writeJSON(w, http.StatusOK, voicemailView(v))
		return
	}
	if herr := serveWAV(w, r, v.File, id, "message"); herr != nil {
		s.fail(w, r, herr)
		return
	}
	if !v.Read && r.Method == http.MethodGet {
		if err := s.markHeard(f.ID, mb, id); err != nil {
			s.log.Warn("mark voicemail read", "firm", f.ID, "mailbox", mb, "id", id, "err", err)
		}
	}
}

// markHeard records that a message was heard and tells the mailbox's agents.
func (s *Server) markHeard(firm, mb, id string) error {
	if err := s.d.Store.MarkVoicemailRead(firm, mb, id, true); err != nil {
		return err
	}
	s.d.PBX.VoicemailChanged(firm, mb, id, "heard")
	return nil
}

// messageError is the answer to a failed look-up of message id: 404 when there is
// no such message.
func messageError(err error, mb, id string) error {
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrInvalid) {
		return errorf(http.StatusNotFound, "no message %q in mailbox %s", id, mb)
	}
	return err
}

// handleVoicemailHeard marks a message heard without playing it, and answers
// its index entry.
func (s *Server) handleVoicemailHeard(w http.ResponseWriter, r *http.Request, p principal) {
	f, mb, herr := s.resolveMailbox(r, p)
	if herr != nil {
		s.fail(w, r, herr)
		return
	}
	id := strings.TrimSuffix(r.PathValue("id"), ".wav")
	v, err := s.d.Store.GetVoicemail(f.ID, mb, id)
	if err == nil && !v.Read {
		if err = s.markHeard(f.ID, mb, id); err == nil {
			v.Read = true
		}
	}
	if err != nil {
		s.fail(w, r, messageError(err, mb, id))
		return
	}
	writeJSON(w, http.StatusOK, voicemailView(v))
}

// handleVoicemailDelete removes a message: index entry first, then its file, then
// the phones' message-waiting lamps are updated.
func (s *Server) handleVoicemailDelete(w http.ResponseWriter, r *http.Request, p principal) {
	f, mb, herr := s.resolveMailbox(r, p)
	if herr != nil {
		s.fail(w, r, herr)
		return
	}
	id := strings.TrimSuffix(r.PathValue("id"), ".wav")
	v, err := s.d.Store.DeleteVoicemail(f.ID, mb, id)
	if err != nil {
		s.fail(w, r, messageError(err, mb, id))
		return
	}
	if v.File != "" {
		if err := os.Remove(v.File); err != nil && !errors.Is(err, fs.ErrNotExist) {
			s.log.Warn("remove voicemail audio", "file", v.File, "err", err)
		}
	}
	s.d.PBX.VoicemailChanged(f.ID, mb, id, "deleted")
	s.log.Info("voicemail deleted", "firm", f.ID, "mailbox", mb, "id", id, "by", p.who())
	w.WriteHeader(http.StatusNoContent)
}

// serveWAV sends the audio file of a voicemail message or a recording (what,
// for the error) as id.wav, with ranges; an error is returned before anything
// was written.
func serveWAV(w http.ResponseWriter, r *http.Request, path, id, what string) error {
	file, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return errorf(http.StatusNotFound, "the audio of %s %s is missing", what, id)
	}
	if err != nil {
		return err
	}
	defer file.Close()
	st, err := file.Stat()
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "audio/wav")
	w.Header().Set("Content-Disposition", `attachment; filename="`+id+`.wav"`)
	http.ServeContent(w, r, id+".wav", st.ModTime(), file)
	return nil
}
