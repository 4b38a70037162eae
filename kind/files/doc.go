// Package files holds the kinds whose state is a path on a server: a
// regular file with berth-rendered content (File, kind "file") and a
// directory (Dir, kind "dir"). Each registers itself with the engine
// (reconcile.RegisterKind) from init, so that importing the package is
// what lets the engine prune them.
//
// A file's content, mode and owner are berth's; its diff is shown unless
// others may not read it. A directory is deleted only when empty, except
// a removed site's own directory after the site's backup
// (CheckInput.Guarded). What Check found before a change (the old
// content, the missing parents of a created directory) travels in
// Change.Found to Apply and Undo: Check never changes the resource.
package files
