// Package filesync holds the kinds that share a cluster site's files
// directory between the web servers of its platform (spec.PlatformFiles):
//
//   - Sync (kind "files-sync", sync.go), a resource of each server but
//     the primary, one per site: its Check compares the site's files
//     directory on the primary with the server's and plans what to copy
//     and delete (counts and bytes, never contents); its Apply reads both
//     again and copies the primary's files to the server over the hosts'
//     own connections, a tar stream through berth from one to the other,
//     after deleting on the server what the primary no longer has, or,
//     declared and installed on both, rsync -a --delete, its protocol
//     relayed by berth between the two connections (rsync.go). A file
//     that changes while tar reads it is copied as read (TarChanged),
//     not a failed copy: the next run compares it again. Only
//     the files directory is read and written: symbolic links are copied
//     as links, never followed, and a deletion whose parent resolves
//     outside the directory is skipped. Resync does the same outside a
//     plan (after a backup is restored on the primary).
//   - Shared (kind "files-shared", shared.go), a resource of each server
//     but the first, one per platform: the proof that the shared path is
//     the same file system there as on the first server. The first server
//     gets a marker file with a random id (.berth-shared in the path);
//     each other server must read the same id. A server that reads
//     another id, or none, refuses the plan (reconcile.ErrPolicy) naming
//     the server and what to do; a failed first check fails the change,
//     and the site's files directories on that server, which depend on
//     it, are not touched.
//
// Both observe in one round trip per server and kind (BatchChecker): the
// trees of every synced directory of a server are listed by one find, and
// each primary's by one more.
package filesync
