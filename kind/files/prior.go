package files

import "github.com/berthhq/berth/host"

// prior is a file's or directory's state before a change, what its Check
// found (carried in Change.Found): Undo puts it back when a service's
// configuration check fails, and Apply reads how to delete.
type prior struct {
	exists  bool
	data    []byte
	obs     host.Observation
	parents []string // a created directory's missing parents, nearest first
	purge   bool     // a removed site's directory: removed with its content
}
