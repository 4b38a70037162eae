// Package forge speaks to the Git forge that hosts a sites repo, for the
// pull-request loop: the commit status of each environment on the commit
// berth applies (pending while it runs, then success or failure with a
// link to the run), and one plan comment per pull request and
// environment, found by its hidden Marker, created once and then edited
// in place, never a second.
//
// Three APIs, each with the same two methods (SetStatus, UpsertComment):
//   - Gitea and Forgejo (/api/v1; token as "token"), tested end to end
//     against a real Gitea (internal/testenv, cmd/berth's gitea test);
//   - GitHub (api.github.com or GHES's /api/v3; Bearer token): commit
//     statuses, and a pull request's conversation comments, which are its
//     issue's comments, read page by page through the Link header. Its
//     tests check every request against GitHub's published OpenAPI
//     description (the npm package @octokit/openapi);
//   - GitLab (/api/v4; PRIVATE-TOKEN): commit statuses (berth's pending is
//     GitLab's running, failure its failed) and merge request notes, read
//     page by page through X-Next-Page; the project is its URL-escaped
//     path. GitLab publishes no OpenAPI description of these on npm: its
//     tests check the requests against the attributes its API
//     documentation lists.
//
// The token is a credential: it is registered with package redact and
// taken out of every error; errors quote the forge's answer and say what
// to do (the token's scope, the repository's name).
//
// It imports redact only.
package forge
