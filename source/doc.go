// Package source owns where berth reads a sites repo from and how it learns
// that the repo changed: Git branches fetched with go-git, a plain
// directory, webhook receivers and a file watch.
//
// # Reading revisions
//
// A Source (a *Git or a *Dir) answers three questions for the daemon loop:
// Fetch (bring the local copy up to date), Head (which revision a branch
// points at) and FS (the files of a revision). Open picks the kind from the
// repo location.
//
// Git clones the origin bare, once, into a directory under berth's state
// directory and later only fetches (every branch, forced, pruned; no tags).
// Head answers from memory, as of the last Fetch. FS reads a commit's tree
// straight from the object store as an fs.FS; it never checks out a work
// tree (go-git needs ~100 s and 70 GB of allocations to check out 10,000
// files; reading them from the object store takes ~0.2 s). Resolve turns a
// platform's ref (branch, tag or commit hash) into a commit, fetching a tag
// the clone lacks. Remotes are
// ssh:// and user@host:path with a deploy key checked against known_hosts,
// https:// with a token read from a file or an environment variable at
// every Fetch, git://, file:// and local paths (bare or not).
//
// Local is a Git repository on the controller read in place, for the
// CLI's --repo: its branches, HEAD and any commit-ish resolve to commits
// whose trees are read from the object store (the same TreeFS); nothing is
// cloned, fetched or checked out, and the work tree is never read.
//
// Dir is a directory that is not in Git — the developer's loop on a laptop.
// Its revision is a content hash of its files.
//
// # A tree rooted at its top
//
// Every FS is a tree rooted at the repo's top: the repo is hostile input.
// DirFS (a plain directory, confined by os.Root) and TreeFS (a commit,
// where a symbolic link is a blob holding its target) follow a link only
// to a target inside the tree, resolved as the kernel would (package fstree); a
// link leading out, or a loop, is an *fstree.LinkError wrapping ErrOutside or
// ErrLinkLoop — never fs.ErrNotExist, so a reader cannot mistake it for a
// missing file — and what it names is never opened. Only directories and
// regular files are opened; a pipe, socket or device is an *fstree.IrregularError,
// checked before opening and again with fstat on a descriptor opened with
// O_NONBLOCK, so nothing blocks.
//
// # Learning of changes
//
// GitHub, GitLab, Gitea (and Forgejo) and Generic return http.Handlers that
// check the provider's signature or token in constant time and call onPush
// with the pushed branch (it returns how many environments follow it); the daemon coalesces the pushes into runs. Watch
// calls onChange when a local repository's branches move, or, for a plain
// directory, when its files change.
//
// # Webhook answers
//
// The receivers answer:
//
//	200 a ping (GitHub's test delivery), with a small JSON body; or a
//	    delivery already received (see Deliveries): ignored, onPush is
//	    not called, X-Berth-Ignored says so
//	202 a push to a branch: onPush was called; the body names the branch
//	    and how many environments follow it, and says so when none does
//	    (GitHub's and Gitea's form-encoded deliveries are read from their
//	    payload field)
//	204 ignored: another event, a tag push; the reason is in X-Berth-Ignored
//	400 a push whose body is not the provider's JSON, or names no branch
//	401 a missing or wrong signature or token: onPush is not called
//	404 the receiver is disabled: no secret is configured
//	405 a method other than POST
//	413 a body larger than MaxWebhookBody
//	415 a form-encoded delivery without a payload field
//
// onPush is called on the request's goroutine before the answer is written;
// it must not block (record the push and let the daemon's loop coalesce).
//
// Each receiver takes its own secret: an HMAC key must never double as a
// token that travels in clear (GitLab's, the generic one). A Deliveries
// remembers the authenticated deliveries of the last DeliveryWindow (24 h,
// at most MaxDeliveries) by their delivery ID and, for signed bodies, by
// the body's digest: the signature covers the body only, so a captured
// delivery could otherwise be resent under a new ID. A delivery that was
// not answered 2xx is forgotten, so the forge's redelivery is served.
//
// source never checks out, builds or validates a spec: it hands files to
// spec.Load and nothing else.
package source
