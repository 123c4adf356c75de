package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"switchboard/dialplan"
	"switchboard/internal/app"
	"switchboard/internal/audio"
	"switchboard/internal/testphone"
	"switchboard/store"
	"switchboard/wav"
)

// recordingConfig: cust (1009) plays the customer; alice records all her calls,
// bob only on demand; sue supervises support (alice, bob), dave is in sales.
const recordingConfig = `
sounds_dir: %s
record_notice: notice.wav
agents:
  - {id: alice, extension: "1001", password: alice-pw, record: true}
  - {id: bob, extension: "1002", password: bob-pw}
  - {id: sue, extension: "1005", password: sue-pw}
  - {id: dave, extension: "1004", password: dave-pw}
  - {id: cust, extension: "1009", password: cust-pw}
teams:
  - {id: support, extension: "2000", members: [alice, bob], supervisors: [sue]}
  - {id: sales, extension: "2001", members: [dave]}
`

// noticeHz is the record_notice the caller hears before a recorded bridge.
const noticeHz = 600

func recordingPrompts(t *testing.T) string {
	t.Helper()
	dir := shortPrompts(t)
	writePrompt(t, dir, "notice.wav", noticeHz, 600*time.Millisecond)
	return dir
}

// checkStereo decodes a recording and checks its format and each channel's tone
// over the last half of the audio (the start may be silence while the clock
// primes).
func checkStereo(t *testing.T, what string, data []byte, left, right float64) time.Duration {
	t.Helper()
	info, chans, err := wav.DecodeChannels(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if info.Channels != 2 || info.SampleRate != 8000 || info.BitsPerSample != 16 || info.Format != wav.FormatPCM {
		t.Fatalf("%s: %+v, want 8 kHz 16-bit stereo PCM", what, info)
	}
	if len(chans[0]) < 4000 {
		t.Fatalf("%s: only %v of audio", what, info.Duration)
	}
	for i, want := range []float64{left, right} {
		half := chans[i][len(chans[i])/2:]
		if f := audio.DominantFrequency(half); math.Abs(f-want) > 10 {
			t.Errorf("%s: channel %d is %.0f Hz, want %.0f", what, i, f, want)
		}
	}
	return info.Duration
}

// A call to an agent with record: true: the caller hears the record_notice, the
// WAV is stereo with the 440 Hz customer left and the 1000 Hz agent right, and
// the call log entry names it.
func TestRecordingStereo(t *testing.T) {
	t.Parallel()
	s := startServer(t, fmt.Sprintf(recordingConfig, recordingPrompts(t)))
	cust := s.phone("1009", "cust-pw", "PCMU")
	alice := s.phone("1001", "alice-pw", "PCMA")

	k, a := connect(t, cust, alice, "1001")
	expectFreq(t, "the caller, before the bridge", k, noticeHz)
	k.StartTone(440)
	a.StartTone(1000)
	expectFreq(t, "alice", a, 440)
	expectFreq(t, "the customer", k, 1000)
	waitFor(t, "the live call shows it is recorded", func() bool {
		live := s.PBX.LiveCalls("")
		return len(live) == 1 && live[0].Recording
	})
	k.Hangup(ctxT(t, 5*time.Second))
	waitDone(t, "alice", a)

	rec := waitCalls(t, s, 1)[0]
	if rec.Recording != rec.ID {
		t.Fatalf("call log entry names recording %q, want the call's id %s", rec.Recording, rec.ID)
	}
	var calls []map[string]any
	apiGet(t, s.HTTPAddr, s.data, "/api/calls", &calls)
	if len(calls) != 1 || calls[0]["recording"] != rec.ID {
		t.Errorf("GET /api/calls: %v", calls)
	}
	entry, err := s.Store.GetRecording("test.local", rec.Recording)
	if err != nil {
		t.Fatal(err)
	}
	if entry.Agent != "alice" || entry.CallerAgent != "cust" || entry.Call != rec.ID {
		t.Errorf("entry %+v", entry)
	}
	code, body := s.adminAPI().do("GET", "/api/recordings/"+rec.Recording+".wav", nil)
	if code != 200 {
		t.Fatalf("GET the WAV: %d %s", code, body)
	}
	if d := checkStereo(t, "the recording", body, 440, 1000); d != entry.Duration {
		t.Errorf("file holds %v, index says %v", d, entry.Duration)
	}
	if st, err := os.Stat(entry.File); err != nil || st.Size() != entry.Size {
		t.Errorf("file %v, index says %d bytes", err, entry.Size)
	}
}

// POST /api/calls/{id}/record turns recording on in a call no setting records,
// by the agent in it; another team's agent gets 403, and afterwards can fetch
// neither the recording nor its listing, while the team's supervisor can.
func TestRecordingOnDemandAndAuthorization(t *testing.T) {
	t.Parallel()
	s := startServer(t, fmt.Sprintf(recordingConfig, recordingPrompts(t)))
	cust := s.phone("1009", "cust-pw", "PCMU")
	bob := s.phone("1002", "bob-pw", "PCMU")
	bobAPI := s.agentAPI(t, "1002", "bob-pw")
	daveAPI := s.agentAPI(t, "1004", "dave-pw")
	sueAPI := s.agentAPI(t, "1005", "sue-pw")
	aliceAPI := s.agentAPI(t, "1001", "alice-pw")

	k, b := connect(t, cust, bob, "1002")
	id := liveCallID(t, s)
	if s.PBX.LiveCalls("")[0].Recording {
		t.Fatal("bob's call is recorded without asking")
	}
	record := func(c *apiClient, on bool) (int, string) {
		code, body := c.do("POST", "/api/calls/"+id+"/record", map[string]bool{"on": on})
		return code, string(body)
	}
	if code, body := record(daveAPI, true); code != 403 {
		t.Errorf("dave (another team) records bob's call: %d %s, want 403", code, body)
	}
	if code, body := record(bobAPI, true); code != 200 {
		t.Fatalf("bob records his call: %d %s", code, body)
	}
	k.StartTone(440)
	b.StartTone(1000)
	expectFreq(t, "bob", b, 440)
	expectFreq(t, "the customer", k, 1000)
	if live := s.PBX.LiveCalls(""); !live[0].Recording {
		t.Error("live call not shown as recorded")
	}
	// The supervisor pauses and resumes it.
	if code, body := record(sueAPI, false); code != 200 {
		t.Fatalf("sue pauses: %d %s", code, body)
	}
	if s.PBX.LiveCalls("")[0].Recording {
		t.Error("paused call shown as recorded")
	}
	if code, body := record(s.adminAPI(), true); code != 200 {
		t.Fatalf("admin resumes: %d %s", code, body)
	}
	expectFreq(t, "bob, after the resume", b, 440)
	k.Hangup(ctxT(t, 5*time.Second))
	waitDone(t, "bob", b)
	rec := waitCalls(t, s, 1)[0]
	if rec.Recording == "" {
		t.Fatal("the call log names no recording")
	}
	wavPath := "/api/recordings/" + rec.Recording + ".wav"
	for _, tc := range []struct {
		who  string
		c    *apiClient
		path string
		want int
	}{
		{"dave, another team, the WAV", daveAPI, wavPath, 403},
		{"dave, another team, the entry", daveAPI, "/api/recordings/" + rec.Recording, 403},
		{"dave lists bob's", daveAPI, "/api/recordings?agent=bob", 403},
		{"dave lists support's", daveAPI, "/api/recordings?team=support", 403},
		{"alice, same team but not her call", aliceAPI, wavPath, 403},
		{"bob, his call", bobAPI, wavPath, 200},
		{"sue, his supervisor", sueAPI, wavPath, 200},
		{"the admin", s.adminAPI(), wavPath, 200},
	} {
		code, body := tc.c.do("GET", tc.path, nil)
		if code != tc.want {
			t.Errorf("%s: %d %.200s, want %d", tc.who, code, body, tc.want)
			continue
		}
		if code == 200 {
			checkStereo(t, tc.who, body, 440, 1000)
		}
	}
	var list []struct{ ID string }
	code, body := daveAPI.do("GET", "/api/recordings", nil)
	if code != 200 || json.Unmarshal(body, &list) != nil || len(list) != 0 {
		t.Errorf("dave's list: %d %s, want 200 []", code, body)
	}
	if code, body := daveAPI.do("DELETE", "/api/recordings/"+rec.Recording, nil); code != 403 {
		t.Errorf("dave deletes: %d %s, want 403", code, body)
	}
	if code, body := record(bobAPI, true); code != 404 {
		t.Errorf("record an ended call: %d %s, want 404", code, body)
	}
}

// recordings.keep: the sweeper removes the file and the entry of a recording
// once it is older than keep.
func TestRecordingRetention(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	yaml := fmt.Sprintf(baseConfig, rtpRange()) + fmt.Sprintf(recordingConfig, recordingPrompts(t)) + "recordings: {keep: 3s}\n"
	cfg, err := dialplan.Parse(data+"/switchboard.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.Start(context.Background(), cfg, app.Options{DataDir: data, Logger: testLogger(t), Token: "test-token",
		RecordingSweep: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	s := &server{App: a, t: t, data: data}
	t.Cleanup(s.stop)
	cust := s.phone("1009", "cust-pw", "PCMU")
	alice := s.phone("1001", "alice-pw", "PCMU")
	k, al := connect(t, cust, alice, "1001")
	k.StartTone(440)
	expectFreq(t, "alice", al, 440)
	k.Hangup(ctxT(t, 5*time.Second))
	waitDone(t, "alice", al)
	rec := waitCalls(t, s, 1)[0]
	if rec.Recording == "" {
		t.Fatal("the call log names no recording (it is indexed before the entry is written)")
	}
	file := filepath.Join(data, "recordings", "test.local", rec.Recording+".wav")
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, gerr := s.Store.GetRecording("test.local", rec.Recording)
		_, ferr := os.Stat(file)
		if errors.Is(gerr, store.ErrNotFound) && errors.Is(ferr, os.ErrNotExist) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("recording still there after keep: entry %v, file %v", gerr, ferr)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The call log entry stays; only the recording went.
	if recs := waitCalls(t, s, 1); recs[0].ID != rec.ID {
		t.Errorf("call log %+v", recs)
	}
}

// kill -9 in the middle of a recorded call: after the restart the recording is
// repaired and indexed, opens in a WAV reader and holds the audio up to at least
// a second before the kill.
func TestKill9KeepsRecording(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	config := filepath.Join(dir, "switchboard.yaml")
	yaml := fmt.Sprintf(baseConfig, rtpRange()) + `
record: true
agents:
  - {id: alice, extension: "1001", password: alice-pw}
  - {id: cust, extension: "1009", password: cust-pw}
`
	if err := os.WriteFile(config, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startProc(t, config, data)
	phone := func(user, pw string) *testphone.Phone {
		ph, err := testphone.New(ctxT(t, 10*time.Second), testphone.Config{
			User: user, Password: pw, Domain: "test.local", Server: p.sip, Codec: "PCMU",
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ph.Close() })
		if err := ph.Register(ctxT(t, 10*time.Second), time.Hour); err != nil {
			t.Fatal(err)
		}
		return ph
	}
	cust, alice := phone("1009", "cust-pw"), phone("1001", "alice-pw")
	k, a := connect(t, cust, alice, "1001")
	k.StartTone(440)
	a.StartTone(1000)
	expectFreq(t, "alice", a, 440)
	expectFreq(t, "the customer", k, 1000)
	// Let the recording grow past two seconds on disk (waits on the file).
	matches := func() []string {
		m, _ := filepath.Glob(filepath.Join(data, "recordings", "test.local", "*.wav"))
		return m
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		if m := matches(); len(m) == 1 {
			if st, err := os.Stat(m[0]); err == nil && st.Size() > 44+2*32000 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no recording growing on disk: %v", matches())
		}
		time.Sleep(50 * time.Millisecond)
	}
	killedAt := time.Now()
	p.kill9(t)

	p = startProc(t, config, data)
	var list []struct {
		ID       string    `json:"id"`
		Start    time.Time `json:"start"`
		Duration float64   `json:"duration"`
		URL      string    `json:"url"`
	}
	apiGet(t, p.http, data, "/api/recordings", &list)
	if len(list) != 1 {
		t.Fatalf("recordings after kill -9 and restart: %+v", list)
	}
	body := apiGetBytes(t, p.http, data, list[0].URL)
	d := checkStereo(t, "the recording cut by kill -9", body, 440, 1000)
	t.Logf("after kill -9: the recording holds %v of the %v before the kill", d, killedAt.Sub(list[0].Start))
	if want := killedAt.Sub(list[0].Start) - time.Second; d < want {
		t.Errorf("recording holds %v, want at least %v (up to a second before the kill)", d, want)
	}
	if math.Abs(d.Seconds()-list[0].Duration) > 0.001 {
		t.Errorf("index says %v s, file holds %v", list[0].Duration, d)
	}
}

// apiGetBytes is apiGet for a body that is not JSON.
func apiGetBytes(t *testing.T, addr, data, path string) []byte {
	t.Helper()
	c := &apiClient{t: t, base: "http://" + addr, client: &http.Client{Timeout: 15 * time.Second}}
	tok, err := os.ReadFile(filepath.Join(data, "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	c.token = string(bytes.TrimSpace(tok))
	code, body := c.do("GET", path, nil)
	if code != 200 {
		t.Fatalf("GET %s: %d %.200s", path, code, body)
	}
	return body
}
