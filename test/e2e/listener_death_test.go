package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// shutDownListener finds this process's listening TCP socket bound to addr and shuts
// it down, as the kernel or an operator's tool could: accept on it fails from then
// on with EINVAL, and the descriptor stays open.
func shutDownListener(t *testing.T, addr netip.AddrPort) {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	for _, e := range entries {
		fd, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if on, err := syscall.GetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_ACCEPTCONN); err != nil || on != 1 {
			continue
		}
		sa, err := syscall.Getsockname(fd)
		if err != nil {
			continue
		}
		in, ok := sa.(*syscall.SockaddrInet4)
		if !ok || netip.AddrPortFrom(netip.AddrFrom4(in.Addr), uint16(in.Port)) != addr {
			continue
		}
		if err := syscall.Shutdown(fd, syscall.SHUT_RDWR); err != nil {
			t.Fatalf("shutdown %v: %v", addr, err)
		}
		return
	}
	t.Fatalf("no listening socket on %v", addr)
}

// Issue 14: a SIP stream listener that really dies (its socket stops listening
// under the server) is not retried forever behind a healthy /healthz: the check
// fails and names the listener, while the other transports keep serving.
func TestListenerDeathFailsHealthz(t *testing.T) {
	t.Parallel()
	for _, network := range []string{"tcp", "ws"} {
		t.Run(network, func(t *testing.T) {
			t.Parallel()
			s := startRaw(t, fmt.Sprintf(`
domain: test.local
listen:
  sip: [udp://127.0.0.1:0, %s://127.0.0.1:0]
  http: 127.0.0.1:0
  rtp_ports: %s
`, network, rtpRange()), t.TempDir())
			if code := healthz(t, s.HTTPAddr); code != 200 {
				t.Fatalf("healthz before: %d", code)
			}
			var target netip.AddrPort
			for _, l := range s.SIP.Listeners() {
				if l.Network == network {
					target = l.Addr
				}
			}
			shutDownListener(t, target)
			deadline := time.Now().Add(20 * time.Second)
			for {
				res, err := http.Get("http://" + s.HTTPAddr + "/healthz")
				if err != nil {
					t.Fatal(err)
				}
				var body struct{ Status, Error string }
				json.NewDecoder(res.Body).Decode(&body)
				res.Body.Close()
				if res.StatusCode == http.StatusServiceUnavailable {
					if body.Status != "failing" || !strings.Contains(body.Error, "sip listener stopped") {
						t.Errorf("healthz body %+v, want failing with the stopped listener", body)
					}
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("healthz still %d 20 s after the %s listener died", res.StatusCode, network)
				}
				time.Sleep(50 * time.Millisecond)
			}
		})
	}
}
