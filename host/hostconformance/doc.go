// Package hostconformance is the one test suite every host.Host driver
// passes: local, ssh (against a real sshd) and the hosttest fake run the
// same assertions for every method, including atomic replacement under a
// concurrent reader, quoting of hostile arguments and file names, and the
// error cases an operator meets — permission denied, missing parent
// directory, full disk, unreachable host — and batched writes and reads,
// including a batch whose writing side is killed (SIGKILL) half way.
//
// A driver's test builds a Target and calls Run.
package hostconformance
