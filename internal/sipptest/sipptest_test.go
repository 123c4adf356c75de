package sipptest

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

func TestReadStats(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		content    string
		ok, failed int
		wantErr    bool
	}{
		{name: "last line wins", content: "StartTime;SuccessfulCall(P);SuccessfulCall(C);FailedCall(P);FailedCall(C);\n" +
			"x;0;0;0;0;\nx;3;3;1;1;\n", ok: 3, failed: 1},
		{name: "header only", content: "SuccessfulCall(C);FailedCall(C);\n", wantErr: true},
		{name: "missing column", content: "SuccessfulCall(C);\n5;\n", wantErr: true},
		{name: "not a number", content: "SuccessfulCall(C);FailedCall(C);\nx;0;\n", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "stat.csv")
			if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			ok, failed, err := readStats(path)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if err == nil && (ok != tc.ok || failed != tc.failed) {
				t.Fatalf("got %d/%d, want %d/%d", ok, failed, tc.ok, tc.failed)
			}
		})
	}
}

func TestFreeUDPPort(t *testing.T) {
	t.Parallel()
	port := FreeUDPPort(t)
	c, err := net.ListenPacket("udp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		t.Fatalf("port %d not bindable: %v", port, err)
	}
	_ = c.Close()
}
