// Package local is the host.Host driver for the machine berth runs on. It
// calls the operating system directly (no shell, no ssh): files through the
// os package, commands through os/exec with an argv vector. It acts with
// berth's own user and privileges. WriteBatch writes its files to
// temporary files, makes them durable with one syncfs(2) per file system,
// renames them, and makes the renames durable the same way.
package local
