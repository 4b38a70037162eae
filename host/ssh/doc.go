// Package ssh is the host.Host driver for a remote machine reached over
// SSH (golang.org/x/crypto/ssh). It keeps one connection per host, reused by
// every call (up to MaxSessions at once) and re-dialled after a failure;
// host keys are checked against a known_hosts file and an unknown or changed
// key stops the connection with an error that says what to do.
//
// Commands are argv vectors: every argument is single-quoted for the remote
// POSIX shell, so no value can break out of its word. File operations are
// small POSIX sh scripts run the same way with the file contents streamed on
// standard input, rather than SFTP: the scripts run under sudo like any
// other command (an SFTP subsystem runs as the login user and cannot write
// root-owned files), and Observe is one find + sha256sum pipeline that
// examines thousands of paths in one round trip on the remote side.
// WriteBatch and ReadFiles are one session each, running a fixed Perl
// program (batchscript.go) with the ops and file contents on standard
// input: per-file processes (mktemp, chown, chmod, mv) cost milliseconds
// each, 25 s for 3,000 renames on the project's machine, where one Perl
// process does them all. A host without perl gets one command per op.
//
// The remote host needs a POSIX login shell (sh, dash, bash, zsh), GNU
// coreutils and GNU findutils 4.9 or newer (Debian 12, Ubuntu 22.04), perl
// for batched writes and reads (perl-base, essential on Debian and Ubuntu),
// and, with Config.Sudo, sudo with NOPASSWD for the login user.
package ssh
