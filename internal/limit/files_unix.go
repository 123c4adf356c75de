//go:build unix

package limit

import "syscall"

// openFileLimit is the process's soft RLIMIT_NOFILE (0 when unknown).
func openFileLimit() int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0
	}
	return int(min(rl.Cur, 1<<30))
}
