package main

import "io"

// admin runs the admin commands; the API helper fills this in.
func admin(cmd string, args []string, stdout, stderr io.Writer) (int, bool) { return 0, false }
