package ssh

// The file operations, as POSIX sh scripts run with `sh -c SCRIPT NAME ARGS`.
// Paths are passed as arguments, never pasted into the script, and contents
// travel on standard input. LC_ALL=C keeps error messages in English so
// classify can recognise them.

// readScript prints the file $1.
const readScript = `LC_ALL=C; export LC_ALL
exec cat -- "$1"`

// writeScript replaces $2 (in directory $1) atomically with standard input:
// temporary file in the same directory, mode $3, owner $4 (chown syntax,
// may be empty), fsync, rename, fsync of the directory.
const writeScript = `LC_ALL=C; export LC_ALL
dir=$1 path=$2 mode=$3 owner=$4
tmp=$(mktemp -- "$dir/.berth-tmp-XXXXXXXXXX") || exit 1 # host.TempPrefix
trap 'rm -f -- "$tmp"' EXIT
cat >"$tmp" || exit 1
if [ -n "$owner" ]; then chown -- "$owner" "$tmp" || exit 1; fi
chmod -- "$mode" "$tmp" || exit 1
sync -- "$tmp" || exit 1
mv -fT -- "$tmp" "$path" || exit 1
trap - EXIT
sync -- "$dir" 2>/dev/null
exit 0`

// removeScript removes the file, link or empty directory $1; absent is fine.
const removeScript = `LC_ALL=C; export LC_ALL
if [ -d "$1" ] && [ ! -L "$1" ]; then exec rmdir -- "$1"; fi
exec rm -f -- "$1"`

// mkdirScript creates directory $1 and its parents with mode $2 (octal)
// under the login's umask, like os.MkdirAll.
const mkdirScript = `LC_ALL=C; export LC_ALL
umask "$(printf %o $(( 0$(umask) | (0777 & ~0$2) )))" || exit 1
exec mkdir -p -- "$1"`

// ensureDirScript makes $1 a directory with mode $2 (octal, exactly) and
// owner $3 (chown syntax, may be empty), creating missing parents.
const ensureDirScript = `LC_ALL=C; export LC_ALL
if [ -e "$1" ] && [ ! -d "$1" ]; then echo "$1 exists and is not a directory" >&2; exit 1; fi
mkdir -p -- "$1" || exit 1
if [ -n "$3" ]; then chown -h -- "$3" "$1" || exit 1; fi
exec chmod -- "$2" "$1"`

// observeScript reads NUL-terminated absolute paths on standard input and
// writes, NUL-separated: one stat record per existing path ("S" + find's %y
// type letter, path, octal mode, uid, gid, user, group, size, link target),
// then "H", then one "sha256  path" record per regular file. Paths that do
// not exist are left out; find and sha256sum report them on stderr, one
// line each with the name escaped, which the caller reads.
const observeScript = `LC_ALL=C; export LC_ALL
t=$(mktemp) || exit 70
trap 'rm -f -- "$t"' EXIT
cat >"$t" || exit 70
find -files0-from "$t" -maxdepth 0 -printf 'S%y\0%p\0%m\0%U\0%G\0%u\0%g\0%s\0%l\0'
printf 'H\0'
find -files0-from "$t" -maxdepth 0 -type f -exec sha256sum -z -- {} +
exit 0`

// sweepScript removes WriteFile's leftover temporary files (regular files
// named .berth-tmp-*, host.TempPrefix) directly in each directory named on
// standard input (NUL-separated), skipping absent ones and links, and
// prints the removed paths NUL-separated. One find per batch of
// directories, not one per directory: a server with thousands of sites
// has tens of thousands of them.
const sweepScript = `LC_ALL=C; export LC_ALL
exec xargs -0 -r sh -c 'for d; do
  shift
  if [ -d "$d" ] && [ ! -L "$d" ]; then set -- "$@" "$d"; fi
done
[ $# -eq 0 ] || exec find "$@" -mindepth 1 -maxdepth 1 -name ".berth-tmp-*" -type f -print0 -delete' berth-sweep-dir`
