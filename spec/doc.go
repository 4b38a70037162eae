// Package spec reads a berth sites repo: it owns the YAML types (Server,
// Platform, Site and the repo file berth.yaml), decodes them from any fs.FS
// with every value's file:line:column kept, validates the whole repo at once
// (returning every Problem, sorted by file and position), resolves the desired
// state of one environment (Resolve), and generates the JSON Schema that
// editors use to check files as they are typed.
//
// Every string of the repo is bound, by a struct tag, to one Rule of
// rules.go: an allow-list for its kind (domain name, relative path, listen
// address, header value, command argument...). The decoder applies it to
// each value it reads, so a value that breaks its rule is a Problem at its
// own file:line:column; render applies the same rules again before it
// writes anything. Repo files must be UTF-8 text without raw control
// characters.
//
// The package is pure: it reads only the fs.FS it is given and never touches
// hosts, the network or the state store. Errors never contain secrets, because
// a sites repo holds none (credentials live on the controller).
package spec
