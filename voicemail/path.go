package voicemail

import (
	"fmt"
	"path/filepath"
	"strings"
)

// MailboxDir returns the directory that holds a mailbox's message files:
// dataDir/voicemail/<firm>/<mailbox>. Each part is escaped with PathPart.
func MailboxDir(dataDir, firm, mailbox string) string {
	return filepath.Join(dataDir, "voicemail", PathPart(firm), PathPart(mailbox))
}

// MessagePath returns where the WAV file of message file ID id of a mailbox
// lives: MailboxDir(dataDir, firm, mailbox)/<id>.wav. Deposit names new
// files this way (the store's entry ID is only known after the file is in
// place, so the file ID is Deposit's own); the entry's File field is the
// authoritative path of an existing message.
func MessagePath(dataDir, firm, mailbox, id string) string {
	return filepath.Join(MailboxDir(dataDir, firm, mailbox), PathPart(id)+".wav")
}

// PathPart turns an arbitrary name (firm, mailbox, message ID) into one safe
// path element: ASCII letters, digits and "-_+@" pass through, a dot passes
// unless it starts the element (so no "..", no hidden files), and every other
// byte becomes %XX. The mapping is one-to-one, so two different mailboxes
// never share a directory. An empty name becomes "%".
func PathPart(name string) string {
	if name == "" {
		// Escaping always writes "%" followed by two hex digits, so a lone
		// "%" cannot collide with any non-empty name.
		return "%"
	}
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9',
			c == '-', c == '_', c == '+', c == '@', c == '.' && i > 0:
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}
