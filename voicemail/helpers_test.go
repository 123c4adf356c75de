package voicemail

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	pionrtp "github.com/pion/rtp"
	"github.com/zaf/g711"

	"switchboard/internal/audio"
	"switchboard/rtp"
	"switchboard/store"
	"switchboard/wav"
)

// guard bounds every wait in these tests; it only turns a hang into a failure.
const guard = 10 * time.Second

// frame is one 20 ms frame at 8 kHz.
const frame = 160

// sendPace is the gap between frames the test phone sends: eight times faster
// than real time keeps the tests short, and the recorder measures audio time.
const sendPace = 2500 * time.Microsecond

const dtmfPT = rtp.DefaultDTMFPT

// quiet keeps the applications' logs out of the test output.
var quiet = slog.New(slog.DiscardHandler)

// tones gives every test prompt and stored message its own frequency, so the
// phone can tell from each received frame what the PBX is playing.
var tones = map[string]float64{
	"greeting":   400,
	"msg-old":    600,
	"msg-new":    800,
	"beep":       1000,
	"vm-pin":     1200,
	"vm-bad-pin": 1400,
	"vm-none":    1600,
	"vm-message": 1800,
	"vm-menu":    2000,
	"vm-deleted": 2200,
	"vm-saved":   2400,
	"vm-goodbye": 2600,
	"vm-mailbox": 2800,
}

// testPrompts is a Prompts of short tones (test data, not real prompts).
type testPrompts map[string][]int16

func newTestPrompts() testPrompts {
	p := testPrompts{}
	for name, f := range tones {
		n := 3 * frame // 60 ms
		if name == "beep" {
			n = 5 * frame
		}
		p[name] = audio.Sine(f, 8000, 0, n)
	}
	return p
}

func (p testPrompts) Get(name string) ([]int16, error) {
	pcm, ok := p[name]
	if !ok {
		return nil, os.ErrNotExist
	}
	return pcm, nil
}

// env is one answered call: a PBX-side session, the caller's phone and a store.
type env struct {
	t     *testing.T
	sess  *rtp.Session
	st    *store.Store
	ph    *phone
	dir   string // data dir
	codec rtp.Codec
}

func newEnv(t *testing.T, codec rtp.Codec) *env {
	t.Helper()
	pool := newTestPool(t)
	sess, err := pool.Open()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sess.Close() })
	dir := t.TempDir()
	st, err := store.Open(filepath.Join(dir, "switchboard.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	ph := newPhone(t, sess.LocalAddr(), codec)
	sess.SetRemote(ph.addr(), codec, dtmfPT)
	return &env{t: t, sess: sess, st: st, ph: ph, dir: dir, codec: codec}
}

// newTestPool returns a small pool somewhere in 20000-32766 (below the Linux
// ephemeral range). The pool skips ports other tests or processes hold, so
// parallel tests may overlap.
func newTestPool(t *testing.T) *rtp.Pool {
	t.Helper()
	const ports = 64
	slots := (32766 - 20000 - ports) / 2
	base := 20000 + 2*((os.Getpid()+rand.IntN(slots))%slots)
	p, err := rtp.NewPool(netip.MustParseAddr("127.0.0.1"), base, base+ports-1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() }) // the pool keeps released sockets until closed
	return p
}

// phone is the caller: a plain UDP socket that sends RTP made with pion/rtp
// and labels every received audio frame with the test tone it carries.
type phone struct {
	t     *testing.T
	conn  *net.UDPConn
	dst   netip.AddrPort
	codec rtp.Codec
	seq   uint16
	ts    uint32
	ssrc  uint32
	sent  uint64 // packets sent

	heard chan string // one label per received frame, "" for silence

	mu  sync.Mutex
	log []string // every label, for sequence checks
}

func newPhone(t *testing.T, dst netip.AddrPort, codec rtp.Codec) *phone {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	p := &phone{t: t, conn: c, dst: dst, codec: codec, seq: 100, ts: 1000, ssrc: rand.Uint32(), heard: make(chan string, 1<<14)}
	done := make(chan struct{})
	go p.readLoop(done)
	t.Cleanup(func() {
		_ = c.Close()
		<-done
	})
	return p
}

func (p *phone) addr() netip.AddrPort { return p.conn.LocalAddr().(*net.UDPAddr).AddrPort() }

func (p *phone) readLoop(done chan<- struct{}) {
	defer close(done)
	buf := make([]byte, 2048)
	pcm := make([]int16, 0, 2048)
	var pkt pionrtp.Packet
	for {
		n, err := p.conn.Read(buf)
		if err != nil {
			return // closed by cleanup
		}
		if pkt.Unmarshal(buf[:n]) != nil {
			continue
		}
		pcm = pcm[:0]
		for _, b := range pkt.Payload {
			switch pkt.PayloadType {
			case rtp.PCMU.PT:
				pcm = append(pcm, g711.DecodeUlawFrame(b))
			case rtp.PCMA.PT:
				pcm = append(pcm, g711.DecodeAlawFrame(b))
			}
		}
		if len(pcm) == 0 {
			continue
		}
		l := classify(pcm)
		p.mu.Lock()
		p.log = append(p.log, l)
		p.mu.Unlock()
		select {
		case p.heard <- l:
		default:
		}
	}
}

// classify names the test tone in a frame, or "" for silence.
func classify(pcm []int16) string {
	if audio.RMS(pcm) < 1000 {
		return ""
	}
	best, bestPow := "", 0.0
	for name, f := range tones {
		if pw := audio.Power(pcm, f); pw > bestPow {
			best, bestPow = name, pw
		}
	}
	return best
}

// waitHeard consumes received frames until n frames labelled label came.
func (p *phone) waitHeard(label string, n int) {
	p.t.Helper()
	deadline := time.NewTimer(guard)
	defer deadline.Stop()
	for got := 0; got < n; {
		select {
		case l := <-p.heard:
			if l == label {
				got++
			}
		case <-deadline.C:
			p.t.Fatalf("phone: heard %d of %d frames of %q; sequence so far %v", got, n, label, p.sequence())
		}
	}
}

// sequence returns what the phone heard, one entry per prompt played:
// consecutive frames of one tone collapse and silence is left out.
func (p *phone) sequence() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	prev := ""
	for _, l := range p.log {
		if l != "" && l != prev {
			out = append(out, l)
		}
		prev = l
	}
	return out
}

func (p *phone) send(pt uint8, marker bool, payload []byte) {
	p.t.Helper()
	pkt := pionrtp.Packet{Header: pionrtp.Header{Version: 2, PayloadType: pt, Marker: marker, SequenceNumber: p.seq, Timestamp: p.ts, SSRC: p.ssrc}, Payload: payload}
	p.seq++
	b, err := pkt.Marshal()
	if err != nil {
		p.t.Fatal(err)
	}
	if _, err := p.conn.WriteToUDPAddrPort(b, p.dst); err != nil {
		p.t.Fatal(err)
	}
	p.sent++
}

// sendAudio sends pcm as 20 ms frames in the phone's codec, paced by sendPace.
func (p *phone) sendAudio(pcm []int16) {
	p.t.Helper()
	tick := time.NewTicker(sendPace)
	defer tick.Stop()
	for i := 0; i < len(pcm); i += frame {
		f := pcm[i:min(i+frame, len(pcm))]
		payload := make([]byte, len(f))
		for j, s := range f {
			if p.codec == rtp.PCMA {
				payload[j] = g711.EncodeAlawFrame(s)
			} else {
				payload[j] = g711.EncodeUlawFrame(s)
			}
		}
		p.send(p.codec.PT, i == 0, payload)
		p.ts += uint32(len(f))
		<-tick.C
	}
}

func (p *phone) sendTone(freq float64, d time.Duration) {
	p.t.Helper()
	p.sendAudio(audio.Sine(freq, 8000, 0, durationSamples(d)))
}

func (p *phone) sendSilence(d time.Duration) {
	p.t.Helper()
	p.sendAudio(make([]int16, durationSamples(d)))
}

// sendDigits sends each key as an RFC 4733 event: three packets, then the
// end packet (E bit) three times, all with the event's timestamp.
func (p *phone) sendDigits(keys string) {
	p.t.Helper()
	for _, k := range keys {
		code := slices.Index([]rune("0123456789*#ABCD"), k)
		if code < 0 {
			p.t.Fatalf("bad key %q", k)
		}
		for i, dur := range []uint16{160, 320, 480, 800, 800, 800} {
			flags := byte(10)
			if i >= 3 {
				flags |= 0x80
			}
			p.send(dtmfPT, i == 0, []byte{byte(code), flags, byte(dur >> 8), byte(dur)})
		}
		p.ts += 800
	}
}

// waitReceived waits until the session took in every packet the phone sent,
// so that the hook has seen all but possibly the last one.
func (e *env) waitReceived() {
	e.t.Helper()
	deadline := time.Now().Add(guard)
	for e.sess.Stats().PacketsIn < e.ph.sent {
		if time.Now().After(deadline) {
			e.t.Fatalf("session received %d of %d packets", e.sess.Stats().PacketsIn, e.ph.sent)
		}
		time.Sleep(time.Millisecond)
	}
}

// addMessage stores a µ-law message of a tone, as Deposit would.
func (e *env) addMessage(firm, mailbox, caller string, freq float64, d time.Duration) store.Voicemail {
	e.t.Helper()
	pcm := audio.Sine(freq, 8000, 0, durationSamples(d))
	data, err := rtp.Encode(make([]byte, len(pcm)), pcm, rtp.PCMU)
	if err != nil {
		e.t.Fatal(err)
	}
	id, err := newFileID(time.Now())
	if err != nil {
		e.t.Fatal(err)
	}
	path := MessagePath(e.dir, firm, mailbox, id)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		e.t.Fatal(err)
	}
	if err := wav.WriteFileAtomic(path, wav.FormatULaw, data); err != nil {
		e.t.Fatal(err)
	}
	vm := store.Voicemail{Firm: firm, Mailbox: mailbox, Caller: caller, Duration: d, File: path, Codec: "PCMU"}
	if err := e.st.AddVoicemail(&vm); err != nil {
		e.t.Fatal(err)
	}
	return vm
}

// await returns the result of an application run in the background.
func await[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(guard):
		t.Fatal("application did not return")
		var zero T
		return zero
	}
}

// testCtx is a context cancelled when the test ends.
func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	return ctx
}
