// Package doctor checks a server as berth will use it, before berth does:
// that it can be reached and sudo works without a password (when the
// server uses sudo), that the commands berth runs there exist — GNU find
// 4.9 or newer, sha256sum, perl (for batched writes), runuser, and every
// service's binaries and its test and reload commands — that the
// directories berth writes are there and writable, or can be created, and
// that the ports the web server listens on are free or held by that web
// server.
//
// Each check is one Finding with what to do. The server is asked in one
// round trip: a fixed script (Script) that takes the names to look at as
// arguments, never as script text, so nothing from the sites repo is
// parsed by a shell.
//
// It imports host and spec.
package doctor
