// Package forge speaks to the Git forge that hosts a sites repo, for the
// pull-request loop: the commit status of each environment on the commit
// berth applies (pending while it runs, then success or failure with a
// link to the run), and one plan comment per pull request and
// environment, created once and then edited in place, never a second.
//
// Gitea and Forgejo (one API, /api/v1) are implemented and tested against
// a real Gitea (internal/testenv). The token is a credential: it is
// registered with package redact by its reader and never logged; errors
// quote the forge's answer, which does not echo it.
package forge
