// Package browser drives the agent app end to end in Debian's Chromium (through
// chromedp) against a whole Switchboard started in-process, with scripted test
// phones on the other end of the calls.
//
// Chromium gathers ICE candidates on every interface of the machine, and tests may
// send packets only to loopback. TestMain therefore re-executes the test binary in
// a fresh network namespace that has nothing but lo, so that plain `go test ./...`
// keeps every packet of the browser, the PBX and the phones on 127.0.0.1.
package browser

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"testing"
)

// netnsEnv marks the re-executed test binary: it runs inside the namespace.
const netnsEnv = "SWITCHBOARD_BROWSER_NETNS"

func TestMain(m *testing.M) {
	if os.Getenv(netnsEnv) == "" {
		os.Exit(reexecInNetns())
	}
	if err := onlyLoopback(); err != nil {
		fmt.Fprintf(os.Stderr, "test/browser: %v\n", err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// reexecInNetns runs this test binary again, with the same arguments, in a new
// network namespace where only lo is up, and returns its exit code. Root (or
// CAP_SYS_ADMIN) gets a plain network namespace; anyone else tries a user
// namespace that maps them to root in it. When neither is possible it fails: a
// silent skip would hide that the browser test never ran.
func reexecInNetns() int {
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintf(os.Stderr, "test/browser: locating the test binary: %v\n", err)
		return 1
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		fmt.Fprintln(os.Stderr, "test/browser: the browser test needs unshare(1) (util-linux) to run in a network namespace of its own")
		return 1
	}
	ip, err := lookIP()
	if err != nil {
		fmt.Fprintln(os.Stderr, "test/browser: the browser test needs ip(8) (iproute2) to bring lo up in its network namespace")
		return 1
	}
	var tried []string
	for _, flags := range [][]string{{"-n"}, {"-r", "-n"}} {
		// A probe first: a failure of the real run must not be mistaken for a
		// namespace that could not be made, and the other way round.
		probe := exec.Command(unshare, append(flags, ip, "link", "set", "lo", "up")...)
		if out, err := probe.CombinedOutput(); err != nil {
			tried = append(tried, fmt.Sprintf("unshare %v: %v: %s", flags, err, out))
			continue
		}
		args := append(flags, "sh", "-c", `"$0" link set lo up && exec "$@"`, ip, self)
		cmd := exec.Command(unshare, append(args, os.Args[1:]...)...)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
		cmd.Env = append(os.Environ(), netnsEnv+"=1")
		if err := cmd.Run(); err != nil {
			var exit *exec.ExitError
			if errors.As(err, &exit) {
				return exit.ExitCode()
			}
			fmt.Fprintf(os.Stderr, "test/browser: running the tests in a network namespace: %v\n", err)
			return 1
		}
		return 0
	}
	fmt.Fprintf(os.Stderr, "test/browser: cannot make a network namespace for the browser test "+
		"(run it as root, or allow unprivileged user namespaces): %v\n", tried)
	return 1
}

// lookIP finds ip(8), which lives in /usr/sbin, often not on a user's PATH.
func lookIP() (string, error) {
	if p, err := exec.LookPath("ip"); err == nil {
		return p, nil
	}
	for _, p := range []string{"/usr/sbin/ip", "/sbin/ip", "/bin/ip", "/usr/bin/ip"} {
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
	}
	return "", errors.New("ip not found")
}

// onlyLoopback checks that the namespace has exactly one interface, lo, up.
func onlyLoopback() error {
	ifs, err := net.Interfaces()
	if err != nil {
		return fmt.Errorf("listing interfaces: %w", err)
	}
	if len(ifs) != 1 || ifs[0].Flags&net.FlagLoopback == 0 || ifs[0].Flags&net.FlagUp == 0 {
		return fmt.Errorf("want only lo, up, in the test's network namespace; have %v", ifs)
	}
	return nil
}
