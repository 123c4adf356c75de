package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"switchboard/internal/audio"
	"switchboard/wav"
)

// baresipAgents is the config of the baresip test: 1001 is a test phone, 1002 is
// baresip. The ring timeout is generous so that a slow auto-answer on a loaded machine
// does not send the call to voicemail.
const baresipAgents = `
agents:
  - {id: alice, extension: "1001", password: alice-pw}
  - {id: bob, extension: "1002", password: bob-pw, ring_timeout: 15s}
`

// baresipConfig is baresip 1.0's config file: only the modules the test needs, no
// sound card (aufile is the microphone, aubridge a player nobody listens to) and
// sndfile recording both directions of every call into snd_path.
const baresipConfig = `poll_method		epoll
sip_listen		127.0.0.1:%d
net_interface		127.0.0.1
call_local_timeout	120
call_max_calls		4
audio_player		aubridge,nil
audio_source		aufile,%s
audio_alert		aubridge,nil
audio_level		no
ausrc_format		s16
auplay_format		s16
auenc_format		s16
audec_format		s16
audio_buffer		20-160
rtcp_mux		no
jitter_buffer_delay	5-10
rtp_stats		no
module_path		%s
module			g711.so
module			aufile.so
module			aubridge.so
module			sndfile.so
module_tmp		uuid.so
module_tmp		account.so
snd_path		%s
`

// baresipAccount registers 1002 through the PBX (outbound proxy) and answers every call.
const baresipAccount = `<sip:1002@test.local>;auth_pass=bob-pw;outbound="sip:%s";regint=600;answermode=auto;audio_codecs=PCMU
`

// A real softphone: baresip registers as 1002 with MD5 digest, a test phone calls it,
// baresip answers on its own, the caller hears baresip's 1 kHz file, and baresip
// records the caller's 400 Hz.
func TestBaresipInterop(t *testing.T) {
	t.Parallel()
	bin, err := exec.LookPath("baresip")
	if err != nil {
		t.Fatal("baresip not installed: run `make test` (installs baresip-core)")
	}
	s := startServer(t, baresipAgents)
	bs := startBaresip(t, bin, s.SIPAddr())

	bob := s.Config.Firms[0].Agent("bob")
	deadline := time.Now().Add(15 * time.Second)
	for len(s.PBX.Registrations("test.local", bob)) == 0 {
		if time.Now().After(deadline) || bs.exited() {
			t.Fatalf("baresip did not register 1002 (exited: %v)\n%s", bs.exited(), bs.output())
		}
		time.Sleep(50 * time.Millisecond)
	}

	alice := s.phone("1001", "alice-pw", "PCMU")
	a, err := alice.Dial(ctxT(t, 15*time.Second), "1002")
	if err != nil {
		t.Fatalf("dial baresip: %v\n%s", err, bs.output())
	}
	if a.Codec() != "PCMU" {
		t.Errorf("caller codec %s, want PCMU", a.Codec())
	}
	a.StartTone(400)
	expectFreq(t, "caller (from baresip's aufile)", a, 1000)
	// Give baresip's recorder a stretch of the caller's tone past its jitter buffer.
	if _, err := a.Received(ctxT(t, 10*time.Second), time.Second); err != nil {
		t.Fatalf("caller: receive: %v", err)
	}
	if err := a.Hangup(ctxT(t, 10*time.Second)); err != nil {
		t.Fatalf("hangup: %v\n%s", err, bs.output())
	}
	waitCall(t, s, "answered")

	samples := bs.recording(t, "dec")
	// Skip the first 200 ms: the jitter buffer starts with silence.
	if len(samples) > 1600 {
		samples = samples[1600:]
	}
	f, rms := audio.DominantFrequency(samples), audio.RMS(samples)
	t.Logf("baresip recorded %.0f Hz at RMS %.0f over %d samples", f, rms, len(samples))
	if math.Abs(f-400) > 15 || rms < 500 {
		t.Fatalf("baresip recorded %.0f Hz at RMS %.0f over %d samples, want 400 Hz\n%s", f, rms, len(samples), bs.output())
	}
}

// baresip is a running baresip process with its config directory.
type baresip struct {
	sndDir string
	out    *syncBuffer
	done   chan struct{}
}

// startBaresip writes a config directory for a baresip registering 1002 at pbx and
// starts it in the foreground; the test's cleanup stops it. E2E_BARESIP_TRACE=1 adds
// baresip's SIP trace (-s) to the output a failing test prints.
func startBaresip(t *testing.T, bin, pbx string) *baresip {
	t.Helper()
	return startBaresipWith(t, bin, pbx, "")
}

// startBaresipWith is startBaresip with extra lines for baresip's config file.
func startBaresipWith(t *testing.T, bin, pbx, extraConfig string) *baresip {
	t.Helper()
	dir := t.TempDir()
	b := &baresip{sndDir: filepath.Join(dir, "snd"), out: &syncBuffer{}, done: make(chan struct{})}
	if err := os.Mkdir(b.sndDir, 0o700); err != nil {
		t.Fatal(err)
	}
	tone := filepath.Join(dir, "tone.wav")
	fw, err := wav.Create(tone, wav.FormatPCM)
	if err != nil {
		t.Fatal(err)
	}
	// 30 s outlasts the call: aufile stops the source at the end of the file.
	if err := fw.WritePCM(audio.Sine(1000, 8000, 0, 30*audio.SampleRate)); err != nil {
		t.Fatal(err)
	}
	if err := fw.Close(); err != nil {
		t.Fatal(err)
	}
	// Modules live in PREFIX/lib/baresip/modules next to PREFIX/bin/baresip.
	modules := filepath.Join(filepath.Dir(filepath.Dir(bin)), "lib", "baresip", "modules")
	if _, err := os.Stat(modules); err != nil {
		modules = "/usr/lib/baresip/modules"
	}
	port := freeSIPPort(t)
	files := map[string]string{
		"config":   fmt.Sprintf(baresipConfig, port, tone, modules, b.sndDir) + extraConfig,
		"accounts": fmt.Sprintf(baresipAccount, pbx),
		"contacts": "",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	// Foreground with stdin from /dev/null (exec's default): no stdio UI module is
	// loaded, so baresip does not need a terminal.
	cmd := exec.Command(bin, "-f", dir)
	cmd.Stdout, cmd.Stderr = b.out, b.out
	if os.Getenv("E2E_BARESIP_TRACE") != "" {
		cmd.Args = append(cmd.Args, "-s")
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start baresip: %v", err)
	}
	go func() {
		cmd.Wait()
		close(b.done)
	}()
	t.Cleanup(func() {
		// SIGTERM lets baresip unregister while the PBX still runs (cleanups run in
		// reverse order); kill it if it takes too long.
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-b.done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-b.done
		}
		if t.Failed() {
			t.Logf("baresip output:\n%s", b.output())
		}
	})
	return b
}

func (b *baresip) exited() bool {
	select {
	case <-b.done:
		return true
	default:
		return false
	}
}

func (b *baresip) output() string { return b.out.String() }

// recording waits for baresip's sndfile dump of the stream direction dir ("dec" is
// what it received, "enc" what it sent) to be complete and returns its samples.
// libsndfile completes the WAV header when the call's audio is torn down.
func (b *baresip) recording(t *testing.T, dir string) []int16 {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	var lastErr error
	for time.Now().Before(deadline) {
		matches, err := filepath.Glob(filepath.Join(b.sndDir, "dump-*-"+dir+".wav"))
		if err != nil {
			t.Fatal(err)
		}
		if len(matches) == 1 {
			info, samples, err := wav.DecodeFile(matches[0])
			// The caller sent 400 Hz for well over a second; half of it proves the
			// header was completed on close and not read mid-call.
			if err == nil && info.Duration >= 500*time.Millisecond {
				return samples
			}
			lastErr = fmt.Errorf("%s: %v (%d samples)", filepath.Base(matches[0]), err, len(samples))
		} else if len(matches) > 1 {
			t.Fatalf("baresip wrote %d %q recordings, want 1: %v", len(matches), dir, matches)
		} else {
			lastErr = errors.New("no recording yet")
		}
		time.Sleep(50 * time.Millisecond)
	}
	entries, _ := os.ReadDir(b.sndDir)
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	t.Fatalf("baresip recording %q: %v (files: %s)\n%s", dir, lastErr, strings.Join(names, ", "), b.output())
	return nil
}

// freeSIPPort returns a port that was free on 127.0.0.1 a moment ago for what baresip
// binds at its SIP port: UDP and TCP there, and TCP (its TLS listener) one above.
func freeSIPPort(t *testing.T) int {
	t.Helper()
	for range 20 {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("pick a free UDP port: %v", err)
		}
		port := pc.LocalAddr().(*net.UDPAddr).Port
		ok := port < 65535
		for p := port; ok && p <= port+1; p++ {
			l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
			if err != nil {
				ok = false
				break
			}
			l.Close()
		}
		pc.Close()
		if ok {
			return port
		}
	}
	t.Fatal("no port free for UDP and TCP (and TCP one above) on 127.0.0.1")
	return 0
}

// syncBuffer collects a child's output from its two pipes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
