// Package host is berth's vocabulary for acting on a machine: the Host
// interface that every driver implements, and the values it exchanges
// (Observation, RunOptions, RunResult, WriteOptions, the sentinel errors).
//
// Drivers live in sub-packages: host/local acts on the machine berth runs on,
// host/ssh on a remote machine over one reused SSH connection, and
// host/hosttest is an in-memory fake that records commands, for unit tests of
// steps. host/hostconformance is the one test suite all three pass.
//
// Two rules shape the interface. Commands are argv vectors, never shell
// strings, so no value from the spec can change what runs. Round trips are
// batched: Observe reads the state of every managed path on a host in one
// round trip, WriteBatch writes every directory and file of a run (and its
// removals) in one, ReadFiles reads many files in one, because per-file
// round trips are what make configuration tools slow at scale (one SSH
// session per file cost 272 s for 1,000 sites where a tar of the same tree
// took 0.9 s).
//
// # Batched writes
//
// A caller collects, per host, every write of a phase as BatchOps (DirOp,
// FileOp, RemoveOp) and calls WriteBatch once. The contract:
//
//   - Order: every directory, then every file, then every removal, each in
//     the order given (BatchOrder). Results come back in the order of the
//     ops, one per op.
//   - Each file is written under a temporary name (TempPrefix) in its own
//     directory, given its mode and owner, made durable, and only then
//     renamed over its path: the path holds the old file or the new one,
//     whatever happens. Durability is paid per file system, not per file
//     (local: syncfs before the renames and after; ssh: `sync -f`).
//   - Per-op outcome: BatchResult.Done says the op is applied; Err says
//     why not, wrapping the same sentinels as the single-item methods
//     (fs.ErrNotExist, fs.ErrPermission, syscall.ENOSPC, syscall.ENOTDIR,
//     ErrNotEmpty). One failing op does not stop the others. The call's
//     error is nil, a *BatchError (some ops failed, each has its Err), or
//     what stopped the whole batch (then every op not known done carries
//     it).
//   - Interrupted (the host unreachable, berth or the remote side killed):
//     files renamed so far are new, the others old; their temporary files
//     are left for SweepTemp; running the same batch again finishes it.
//     An op that is not Done may, only in that case, already be applied:
//     a caller that must know (to record the inventory, or to undo) records
//     its intent before the batch, as the engine does for every write, and
//     observes after.
//   - To undo a batch (a failed `nginx -t`), the caller sends a second
//     batch restoring the previous contents (read before with ReadFiles or
//     known from the observation) and removing the files that were new.
//
// Over SSH the batch is one session running a fixed Perl program (perl is
// part of every Debian and Ubuntu system) through sudo when configured,
// with ops and contents on its standard input; a host without perl falls
// back to one command per op, with the same results.
package host
