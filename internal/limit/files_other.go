//go:build !unix

package limit

func openFileLimit() int { return 0 }
