package dialplan

import (
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/netip"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Syntax checks for single values. They return errors whose text completes
// "path: ..." messages.

// checkID accepts ids usable in targets ("agent:ID"), URLs and file names.
func checkID(id string) error {
	if id == "" {
		return errors.New("empty id")
	}
	if len(id) > 64 {
		return fmt.Errorf("id %q longer than 64 characters", id)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		ok := isDigit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			(i > 0 && (c == '-' || c == '_' || c == '.'))
		if !ok {
			return fmt.Errorf("invalid id %q (use letters, digits, and - _ . after the first character)", id)
		}
	}
	return nil
}

// checkExtension accepts 1 to 16 digits. Extensions starting with * would
// collide with feature codes, present and future.
func checkExtension(ext string) error {
	for _, fc := range FeatureCodes {
		if ext == fc {
			return fmt.Errorf("extension %q conflicts with feature code %s", ext, fc)
		}
	}
	if strings.HasPrefix(ext, "*") {
		return fmt.Errorf("extension %q conflicts with feature codes: extensions starting with * are reserved (*50, *51, *97, *98, *33)", ext)
	}
	if ext == "" || len(ext) > 16 || strings.TrimLeft(ext, "0123456789") != "" {
		return fmt.Errorf("invalid extension %q (want 1 to 16 digits)", ext)
	}
	return nil
}

// checkNumber accepts a phone number: optional + and 2 to 20 digits. Strict on
// purpose: numbers go into SIP headers.
func checkNumber(s string) error {
	d := strings.TrimPrefix(s, "+")
	if len(d) < 2 || len(d) > 20 || strings.TrimLeft(d, "0123456789") != "" {
		return fmt.Errorf("invalid phone number %q (want digits with an optional leading +)", s)
	}
	return nil
}

// checkPIN does not quote the value: a problem is printed by check and logged
// by serve on a reload, and a mistyped PIN is still (nearly) the PIN.
func checkPIN(s string) error {
	if len(s) < 1 || len(s) > 16 || strings.TrimLeft(s, "0123456789") != "" {
		return fmt.Errorf("invalid PIN of %d characters (want 1 to 16 digits)", len(s))
	}
	return nil
}

func checkHex(s string, n int) error {
	if len(s) != n {
		return fmt.Errorf("want %d hex digits, got %d characters", n, len(s))
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isDigit(c) && !(c >= 'a' && c <= 'f') && !(c >= 'A' && c <= 'F') {
			return fmt.Errorf("want %d hex digits, found %q", n, c)
		}
	}
	return nil
}

// checkText accepts a display name: no control characters, which would allow
// header injection (CR/LF) in SIP display names.
func checkText(s string) error {
	if !utf8.ValidString(s) {
		return errors.New("not valid UTF-8")
	}
	if len(s) > 200 {
		return errors.New("longer than 200 bytes")
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return fmt.Errorf("%q contains a control character", s)
		}
	}
	return nil
}

func checkEmail(s string) error {
	if err := checkText(s); err != nil {
		return err
	}
	if _, err := mail.ParseAddress(s); err != nil {
		return fmt.Errorf("invalid email address %q", s)
	}
	return nil
}

// checkHost accepts an IP address or a DNS name.
func checkHost(h string) error {
	if _, err := netip.ParseAddr(h); err == nil {
		return nil
	}
	if h == "" || len(h) > 253 {
		return fmt.Errorf("invalid host name %q", h)
	}
	for _, label := range strings.Split(strings.TrimSuffix(h, "."), ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return fmt.Errorf("invalid host name %q", h)
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !isDigit(c) && !(c >= 'a' && c <= 'z') && !(c >= 'A' && c <= 'Z') && c != '-' {
				return fmt.Errorf("invalid host name %q", h)
			}
		}
	}
	return nil
}

func checkPort(p string) error {
	n, err := strconv.Atoi(p)
	if err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("invalid port %q", p)
	}
	return nil
}

// checkHostPort accepts host:port with an optional (empty = all interfaces)
// host and port 0 (any free port, for tests).
func checkHostPort(s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("invalid address %q (want host:port)", s)
	}
	if host != "" {
		if err := checkHost(host); err != nil {
			return err
		}
	}
	return checkPort(port)
}

// listenSchemes are the SIP transports the sip package serves.
var listenSchemes = []string{"udp", "tcp", "tls", "ws", "wss"}

// parseListenURL splits "udp://127.0.0.1:5060" into its lower-cased scheme
// and address.
func parseListenURL(s string) (scheme, addr string, err error) {
	scheme, addr, ok := strings.Cut(s, "://")
	if !ok {
		return "", "", fmt.Errorf("invalid SIP listen address %q (want scheme://host:port with scheme udp, tcp, tls, ws or wss)", s)
	}
	scheme = strings.ToLower(scheme)
	known := false
	for _, k := range listenSchemes {
		known = known || scheme == k
	}
	if !known {
		return "", "", fmt.Errorf("unknown transport %q in %q (want udp, tcp, tls, ws or wss)", scheme, s)
	}
	if err := checkHostPort(addr); err != nil {
		return "", "", fmt.Errorf("%q: %w", s, err)
	}
	return scheme, addr, nil
}

// checkSIPURI accepts sip:[user@]host[:port][;params] and the sips: form.
func checkSIPURI(s string) error {
	bad := fmt.Errorf("invalid SIP URI %q (want sip:host[:port])", s)
	lower := strings.ToLower(s)
	var rest string
	switch {
	case strings.HasPrefix(lower, "sip:"):
		rest = s[4:]
	case strings.HasPrefix(lower, "sips:"):
		rest = s[5:]
	default:
		return bad
	}
	if err := checkText(rest); err != nil || strings.ContainsAny(rest, " <>\"") {
		return bad
	}
	if i := strings.IndexAny(rest, ";?"); i >= 0 {
		rest = rest[:i]
	}
	if i := strings.LastIndexByte(rest, '@'); i >= 0 {
		if i == 0 {
			return bad
		}
		rest = rest[i+1:]
	}
	host, port := rest, ""
	if strings.HasPrefix(rest, "[") {
		end := strings.IndexByte(rest, ']')
		if end < 0 {
			return bad
		}
		host = rest[1:end]
		if _, err := netip.ParseAddr(host); err != nil {
			return bad
		}
		tail := rest[end+1:]
		if tail != "" {
			if !strings.HasPrefix(tail, ":") {
				return bad
			}
			port = tail[1:]
			if port == "" {
				return bad
			}
		}
	} else {
		if h, p, ok := strings.Cut(rest, ":"); ok {
			host, port = h, p
			if port == "" {
				return bad
			}
		}
		if checkHost(host) != nil {
			return bad
		}
	}
	if port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return bad
		}
	}
	return nil
}

// parsePrefix accepts a CIDR or a single address (as a /32 or /128).
func parsePrefix(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), nil
	}
	if a, err := netip.ParseAddr(s); err == nil && a.Zone() == "" {
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	return netip.Prefix{}, fmt.Errorf("invalid CIDR %q (want e.g. 203.0.113.0/24 or an address)", s)
}

// parsePortRange reads "10000-20000".
func parsePortRange(s string) (lo, hi int, err error) {
	a, b, ok := strings.Cut(s, "-")
	lo, err1 := strconv.Atoi(strings.TrimSpace(a))
	hi, err2 := strconv.Atoi(strings.TrimSpace(b))
	switch {
	case !ok || err1 != nil || err2 != nil:
		return 0, 0, fmt.Errorf("invalid port range %q (want FIRST-LAST such as 10000-20000)", s)
	case lo < 1024 || hi > 65535:
		return 0, 0, fmt.Errorf("port range %q outside 1024-65535", s)
	case lo%2 != 0:
		return 0, 0, fmt.Errorf("port range %q must start at an even port (RTP even, RTCP odd)", s)
	case lo >= hi:
		return 0, 0, fmt.Errorf("port range %q: first port must be below last port", s)
	}
	return lo, hi, nil
}

// checkPrepend accepts what may be put in front of a dialled number.
func checkPrepend(s string) error {
	if len(s) > 20 || strings.TrimLeft(s, "0123456789+*#") != "" {
		return fmt.Errorf("invalid prefix %q (digits, + * # only)", s)
	}
	return nil
}

// checkSMTPAddr accepts host:port of a mail server: unlike a listen address,
// the host is required and the port cannot be 0.
func checkSMTPAddr(s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil || host == "" {
		return fmt.Errorf("invalid address %q (want host:port, e.g. mail.example.com:587)", s)
	}
	if err := checkHost(host); err != nil {
		return err
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("invalid port %q", port)
	}
	return nil
}

// loopbackHost reports whether the host of host:port is this machine, the
// only place a password may travel without TLS.
func loopbackHost(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Unmap().IsLoopback()
}
