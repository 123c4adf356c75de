package bench

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/logging"
	pionrtp "github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"switchboard/internal/audio"
	"switchboard/rtp"
)

// peerEnv, when set in the environment of this test binary, makes it a relay
// peer instead of running benchmarks: BenchmarkRelayWebRTC re-executes itself
// with peerEnv=plain or peerEnv=webrtc, so that the peers' CPU (UDP sockets,
// pion's ICE/DTLS/SRTP) is spent in another process and this process's CPU is
// the server's alone.
const peerEnv = "SWITCHBOARD_BENCH_RELAY_PEER"

func TestMain(m *testing.M) {
	if mode := os.Getenv(peerEnv); mode != "" {
		if err := runPeer(mode, os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "relay peer:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// peerMsg is one line of the protocol between the benchmark (server) and its
// peer process, JSON over the peer's stdin and stdout:
//
//	peer -> server  {UDP, Offer}    its UDP sockets and (webrtc) its SDP offer
//	server -> peer  {Server, Answer} where each UDP socket sends, our SDP answer
//	peer -> server  {Ready}          media flowed both ways, counters reset
//	server -> peer  {N}              relay N packets (about half each way)
//	peer -> server  {CPUNs}          done; the peer's own CPU for the run
//
// Closing the peer's stdin ends it.
type peerMsg struct {
	UDP    []string `json:",omitempty"`
	Offer  string   `json:",omitempty"`
	Server []string `json:",omitempty"`
	Answer string   `json:",omitempty"`
	Ready  bool     `json:",omitempty"`
	N      int      `json:",omitempty"`
	CPUNs  int64    `json:",omitempty"`
	Err    string   `json:",omitempty"`
}

// BenchmarkRelayCPU measures the server's CPU per relayed packet, in the same
// run, for a bare Go UDP relay (the baseline), a bridge of two plain RTP legs,
// and a bridge with a WebRTC leg (SRTP both ways). One op is one relayed
// packet; half of them flow each way.
//
//	bare:   UDP peer <-> socket, one goroutine per direction reading it and writing the other <-> UDP peer
//	plain:  UDP peer <-> Session <-Bridge-> Session <-> UDP peer
//	webrtc: pion peer (full ICE, DTLS-SRTP) <-> WebRTC Session <-Bridge-> Session <-> UDP peer
//
// The peers run in a child process (this binary, see peerEnv), so the CPU this
// process spends during the timed part (getrusage utime+stime) is the server's:
// socket reads and writes, the bridge, and for the WebRTC leg pion's ICE mux,
// SRTP decryption and encryption and its goroutines. allocs/op are the server's
// too. Metrics: cpu-ns/pkt (server CPU per relayed packet), peer-cpu-ns/pkt
// (the peer process, for context), x-bare-cpu (plain and webrtc: cpu-ns/pkt
// over bare's mean from the same run), x-plain-cpu (webrtc: over plain's mean).
// ns/op is wall time with both processes sharing the machine.
func BenchmarkRelayCPU(b *testing.B) {
	// Each mode's figure for the ratios: the mean of its runs at the largest
	// b.N (with -count, every run of a mode comes before the next mode's).
	means := map[string]*relayMean{}
	for _, mode := range []string{"bare", "plain", "webrtc"} {
		m := &relayMean{}
		means[mode] = m
		b.Run(mode, func(b *testing.B) {
			m.add(b.N, benchRelayLeg(b, mode, means))
		})
	}
}

// relayMean is the mean server CPU per packet of one mode's runs at its
// largest b.N.
type relayMean struct {
	n, runs int
	sum     float64
}

func (m *relayMean) add(n int, cpu float64) {
	if n > m.n {
		m.n, m.runs, m.sum = n, 0, 0
	}
	if n == m.n {
		m.runs++
		m.sum += cpu
	}
}

func (m *relayMean) mean() float64 {
	if m == nil || m.runs == 0 {
		return 0
	}
	return m.sum / float64(m.runs)
}

// benchRelayLeg runs one relay of b.N packets against a fresh peer process and
// returns the server CPU per packet in ns; means holds the earlier modes'
// figures for the ratios.
func benchRelayLeg(b *testing.B, mode string, means map[string]*relayMean) float64 {
	base := 24000 + 2*int(time.Now().UnixNano()%2000)
	pool, err := rtp.NewPool(netip.MustParseAddr("127.0.0.1"), base, base+63)
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()

	cmd := exec.Command(os.Args[0])
	peerMode := mode
	if mode == "bare" {
		peerMode = "plain" // the same two UDP peers
	}
	cmd.Env = append(os.Environ(), peerEnv+"="+peerMode)
	cmd.Stderr = os.Stderr
	toPeer, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	fromPeer, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	// The peer goes first, and its last packets are read before the sessions
	// close: a WebRTC session's Close can hang when a packet arrives while it
	// closes (pion's mux reader then never reads again; see bench/README.md).
	stopPeer := sync.OnceFunc(func() {
		toPeer.Close()
		if err := cmd.Wait(); err != nil {
			b.Errorf("peer process: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	})
	defer stopPeer()
	enc, dec := json.NewEncoder(toPeer), json.NewDecoder(bufio.NewReader(fromPeer))
	recv := func() peerMsg {
		var m peerMsg
		if err := dec.Decode(&m); err != nil {
			b.Fatalf("from peer: %v", err)
		}
		if m.Err != "" {
			b.Fatalf("peer: %s", m.Err)
		}
		return m
	}
	send := func(m peerMsg) {
		if err := enc.Encode(m); err != nil {
			b.Fatalf("to peer: %v", err)
		}
	}

	hello := recv()
	udp := make([]netip.AddrPort, len(hello.UDP))
	for i, a := range hello.UDP {
		if udp[i], err = netip.ParseAddrPort(a); err != nil {
			b.Fatal(err)
		}
	}
	var reply peerMsg
	var left, right *rtp.Session
	switch mode {
	case "bare":
		stop, addrs := bareRelay(b, udp[0], udp[1])
		defer func() {
			stopPeer()
			stop()
		}()
		reply.Server = addrs
	case "plain":
		if left, err = pool.Open(); err != nil {
			b.Fatal(err)
		}
		if right, err = pool.Open(); err != nil {
			b.Fatal(err)
		}
		left.SetRemote(udp[0], rtp.PCMU, rtp.DefaultDTMFPT)
		right.SetRemote(udp[1], rtp.PCMU, rtp.DefaultDTMFPT)
		reply.Server = []string{left.LocalAddr().String(), right.LocalAddr().String()}
	case "webrtc":
		if left, err = pool.OpenWebRTC(netip.MustParseAddr("127.0.0.1")); err != nil {
			b.Fatal(err)
		}
		answer, err := left.AnswerWebRTC([]byte(hello.Offer))
		if err != nil {
			left.Close()
			b.Fatal(err)
		}
		reply.Answer = string(answer)
		if right, err = pool.Open(); err != nil {
			left.Close()
			b.Fatal(err)
		}
		right.SetRemote(udp[0], rtp.PCMU, rtp.DefaultDTMFPT)
		reply.Server = []string{right.LocalAddr().String()}
	}
	if left != nil {
		unbridge := rtp.Bridge(left, right)
		defer func() {
			unbridge()
			stopPeer()
			right.Close()
			left.Close()
		}()
	}
	send(reply)
	recv() // Ready: media flows both ways

	runtime.GC() // setup's garbage is not the relay's
	cpu0 := processCPU()
	b.ReportAllocs()
	b.ResetTimer()
	send(peerMsg{N: b.N})
	done := recv()
	b.StopTimer()
	server := float64(processCPU()-cpu0) / float64(b.N)
	b.ReportMetric(server, "cpu-ns/pkt")
	b.ReportMetric(float64(done.CPUNs)/float64(b.N), "peer-cpu-ns/pkt")
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "packets/s")
	if bare := means["bare"].mean(); mode != "bare" && bare > 0 {
		b.ReportMetric(server/bare, "x-bare-cpu")
	}
	if plain := means["plain"].mean(); mode == "webrtc" && plain > 0 {
		b.ReportMetric(server/plain, "x-plain-cpu")
	}
	return server
}

// bareRelay is the baseline: two sockets, and for each direction one goroutine
// that reads a datagram from one socket and writes it unchanged from the other,
// the least a relay in Go can do per packet. Peer 0 sends to the first address
// and hears from it; peer 1 the same with the second.
func bareRelay(b *testing.B, peer0, peer1 netip.AddrPort) (stop func(), addrs []string) {
	socks := [2]*net.UDPConn{listen(b), listen(b)}
	peers := [2]netip.AddrPort{peer1, peer0} // where what socket i receives goes
	var wg sync.WaitGroup
	for i := range 2 {
		in, out := socks[i], socks[1-i]
		wg.Go(func() {
			buf := make([]byte, 1500)
			for {
				n, _, err := in.ReadFromUDPAddrPort(buf)
				if err != nil {
					return // closed at the end of the run
				}
				if _, err := out.WriteToUDPAddrPort(buf[:n], peers[i]); err != nil && errors.Is(err, net.ErrClosed) {
					return
				}
			}
		})
	}
	return func() {
		socks[0].Close()
		socks[1].Close()
		wg.Wait()
	}, []string{socks[0].LocalAddr().String(), socks[1].LocalAddr().String()}
}

// processCPU returns this process's user+system CPU time in ns.
func processCPU() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(err)
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// relayPeer is the peer process's side of one relay: two directions, each with
// a sender and a receive counter.
type relayPeer struct {
	send [2]func(seq uint16, ts uint32) error // direction 0 and 1
	got  [2]atomic.Int64                      // packets received per direction
}

// runPeer is the peer process: it opens the sockets (and the pion peer) of
// mode, negotiates with the server over in/out, warms up, then relays what it
// is told.
func runPeer(mode string, in io.Reader, out io.Writer) error {
	enc, dec := json.NewEncoder(out), json.NewDecoder(bufio.NewReader(in))
	var p relayPeer
	payload, err := rtp.Encode(make([]byte, 160), audio.Sine(1000, 9000, 0, 160), rtp.PCMU)
	if err != nil {
		return err
	}

	var socks []*net.UDPConn
	for range map[string]int{"plain": 2, "webrtc": 1}[mode] {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			return err
		}
		defer c.Close()
		socks = append(socks, c)
	}
	if len(socks) == 0 {
		return fmt.Errorf("unknown mode %q", mode)
	}
	hello := peerMsg{}
	for _, c := range socks {
		hello.UDP = append(hello.UDP, c.LocalAddr().String())
	}

	var pc *webrtc.PeerConnection
	var track *webrtc.TrackLocalStaticRTP
	connected := make(chan struct{})
	if mode == "webrtc" {
		if pc, track, err = newPionPeer(); err != nil {
			return err
		}
		defer pc.GracefulClose()
		var once atomic.Bool
		pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
			if st == webrtc.PeerConnectionStateConnected && once.CompareAndSwap(false, true) {
				close(connected)
			}
		})
		// Direction 1 ends at the pion peer: count the decrypted audio packets.
		pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
			buf := make([]byte, 1500)
			for {
				n, _, err := tr.Read(buf)
				if err != nil {
					return
				}
				if n > 1 && buf[1]&0x7f == rtp.PCMU.PT {
					p.got[1].Add(1)
				}
			}
		})
		offer, err := pc.CreateOffer(nil)
		if err != nil {
			return err
		}
		gathered := webrtc.GatheringCompletePromise(pc)
		if err := pc.SetLocalDescription(offer); err != nil {
			return err
		}
		<-gathered
		hello.Offer = pc.LocalDescription().SDP
	}
	if err := enc.Encode(hello); err != nil {
		return err
	}
	var setup peerMsg
	if err := dec.Decode(&setup); err != nil {
		return err
	}
	server := make([]netip.AddrPort, len(setup.Server))
	for i, a := range setup.Server {
		if server[i], err = netip.ParseAddrPort(a); err != nil {
			return err
		}
	}

	// Each direction: who sends to whom, and which socket counts what arrives.
	udpSender := func(c *net.UDPConn, to netip.AddrPort) func(uint16, uint32) error {
		pkt := pionrtp.Packet{Header: pionrtp.Header{Version: 2, PayloadType: rtp.PCMU.PT, SSRC: 0x5eed}, Payload: payload}
		buf := make([]byte, 1500)
		return func(seq uint16, ts uint32) error {
			pkt.SequenceNumber, pkt.Timestamp = seq, ts
			n, err := pkt.MarshalTo(buf)
			if err == nil {
				_, err = c.WriteToUDPAddrPort(buf[:n], to)
			}
			return err
		}
	}
	countUDP := func(c *net.UDPConn, dir int) {
		buf := make([]byte, 1500)
		for {
			n, err := c.Read(buf)
			if err != nil {
				if errors.Is(err, net.ErrClosed) {
					return
				}
				continue
			}
			if n > 1 && buf[1]&0x7f == rtp.PCMU.PT {
				p.got[dir].Add(1)
			}
		}
	}
	switch mode {
	case "plain": // direction 0: socket 0 -> left -> right -> socket 1; direction 1 back
		p.send[0] = udpSender(socks[0], server[0])
		p.send[1] = udpSender(socks[1], server[1])
		go countUDP(socks[1], 0)
		go countUDP(socks[0], 1)
	case "webrtc": // direction 0: pion -> WebRTC leg -> plain leg -> socket 0; direction 1 back
		if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: setup.Answer}); err != nil {
			return err
		}
		select {
		case <-connected:
		case <-time.After(10 * time.Second):
			return errors.New("pion peer: not connected after 10 s")
		}
		pkt := &pionrtp.Packet{Header: pionrtp.Header{Version: 2, PayloadType: rtp.PCMU.PT}, Payload: payload}
		p.send[0] = func(seq uint16, ts uint32) error {
			pkt.SequenceNumber, pkt.Timestamp = seq, ts
			return track.WriteRTP(pkt)
		}
		p.send[1] = udpSender(socks[0], server[0])
		go countUDP(socks[0], 0)
	}

	// Warm up until packets arrive both ways (the WebRTC leg's sending track is
	// bound only once DTLS is up; the plain legs latch), then let the last ones
	// land and start from zero.
	var seq [2]uint16
	var ts [2]uint32
	deadline := time.Now().Add(10 * time.Second)
	for p.got[0].Load() == 0 || p.got[1].Load() == 0 {
		if time.Now().After(deadline) {
			return fmt.Errorf("warm-up: after 10 s, %d and %d packets arrived", p.got[0].Load(), p.got[1].Load())
		}
		for d := range 2 {
			seq[d]++
			ts[d] += 160
			if err := p.send[d](seq[d], ts[d]); err != nil {
				return err
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	p.got[0].Store(0)
	p.got[1].Store(0)
	if err := enc.Encode(peerMsg{Ready: true}); err != nil {
		return err
	}

	for {
		var m peerMsg
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		cpu0 := processCPU()
		err := p.relay(m.N, &seq, &ts)
		reply := peerMsg{CPUNs: processCPU() - cpu0}
		if err != nil {
			reply.Err = err.Error()
		}
		if err := enc.Encode(reply); err != nil {
			return err
		}
		p.got[0].Store(0)
		p.got[1].Store(0)
	}
}

// relay sends n packets, (n+1)/2 in direction 0 and n/2 in direction 1, each
// direction keeping at most window packets in flight, and returns when all
// arrived. A lost packet stalls a direction: after 10 s without progress it
// fails.
func (p *relayPeer) relay(n int, seq *[2]uint16, ts *[2]uint32) error {
	want := [2]int64{int64(n+1) / 2, int64(n) / 2}
	errs := make(chan error, 2)
	for d := range 2 {
		go func() {
			for sent := int64(0); sent < want[d]; sent++ {
				for sent-p.got[d].Load() >= window {
					time.Sleep(10 * time.Microsecond)
				}
				seq[d]++
				ts[d] += 160
				if err := p.send[d](seq[d], ts[d]); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range 2 {
		if err := <-errs; err != nil {
			return err
		}
	}
	last, lastChange := int64(-1), time.Now()
	for {
		got := p.got[0].Load() + p.got[1].Load()
		if p.got[0].Load() >= want[0] && p.got[1].Load() >= want[1] {
			return nil
		}
		if got != last {
			last, lastChange = got, time.Now()
		} else if time.Since(lastChange) > 10*time.Second {
			return fmt.Errorf("stalled: %d of %d and %d of %d packets arrived", p.got[0].Load(), want[0], p.got[1].Load(), want[1])
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// newPionPeer builds the peer playing a browser: full ICE on loopback only, no
// mDNS, PCMU and telephone-event over DTLS-SRTP, one sendrecv audio track.
func newPionPeer() (*webrtc.PeerConnection, *webrtc.TrackLocalStaticRTP, error) {
	me := &webrtc.MediaEngine{}
	for _, c := range []webrtc.RTPCodecParameters{
		{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypePCMU, ClockRate: 8000, Channels: 1}, PayloadType: 0},
		{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: "audio/telephone-event", ClockRate: 8000, SDPFmtpLine: "0-15"}, PayloadType: 126},
	} {
		if err := me.RegisterCodec(c, webrtc.RTPCodecTypeAudio); err != nil {
			return nil, nil, err
		}
	}
	logs := logging.NewDefaultLoggerFactory()
	logs.Writer = io.Discard
	var se webrtc.SettingEngine
	se.LoggerFactory = logs
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetIncludeLoopbackCandidate(true)
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	api := webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithSettingEngine(se))
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, nil, err
	}
	track, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypePCMU, ClockRate: 8000, Channels: 1}, "audio", "peer")
	if err == nil {
		var sender *webrtc.RTPSender
		if sender, err = pc.AddTrack(track); err == nil {
			go func() { // drain RTCP for the sender, as an application must
				buf := make([]byte, 1500)
				for {
					if _, _, err := sender.Read(buf); err != nil {
						return
					}
				}
			}()
		}
	}
	if err != nil {
		pc.Close()
		return nil, nil, err
	}
	return pc, track, nil
}
