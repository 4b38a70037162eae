# floors.sh: sourced by scripts/bench. The floors: the same I/O as berth,
# on the same files, done by the plainest tools, measured in the same run.
#
#   floor_manifest STATE_DIR OUT    from berth's inventory (STATE_DIR/berth.db):
#                                   OUT/HOST.all (every managed path that
#                                   exists, NUL-separated) and OUT/HOST.tar, a tar of exactly those paths
#                                   as berth left them (modes, owners), built
#                                   before any timer starts.
#   floor_noop_local OUT            find (stat) + sha256sum of every managed
#                                   path of host "local"; prints seconds.
#   floor_noop_ssh OUT              the same on every fleet host at once, each
#                                   over a new SSH connection through sudo, as
#                                   berth connects; prints seconds.
#   floor_noop_ssh_warm OUT         the same through connections opened before
#                                   the timer (the warm plans' floor).
#   floor_first_local OUT PREFIX    tar -x of the tree, then nginx -t + reload;
#   floor_first_ssh OUT             the same piped through ssh ... sudo on every
#                                   host at once; both print seconds. The web
#                                   root and vhost directory must be empty.
#   floor_nginx_local PREFIX        nginx -t + reload alone (local), and
#   floor_nginx_ssh                 on every fleet host at once; print seconds.
#   reload_vs_hup PREFIX            at the current size: `nginx -s reload`
#                                   against `kill -HUP` of the master from
#                                   its pid file; prints four numbers:
#                                   command and until-new-workers seconds for
#                                   each (the reload is live when the master
#                                   has replaced its workers).

floor_manifest() {
  local state=$1 out=$2
  mkdir -p "$out"; rm -f "$out"/*.all "$out"/*.tar
  python3 - "$state/berth.db" "$out" <<'PY'
import os, sqlite3, sys
db, out = sys.argv[1], sys.argv[2]
c = sqlite3.connect(db)
by = {}
for host, p in c.execute("SELECT host, path FROM resources WHERE path <> '' ORDER BY host, path"):
    if os.path.lexists(p):
        by.setdefault(host, set()).add(p)
for host, paths in by.items():
    paths = sorted(paths)
    with open(os.path.join(out, host + ".all"), "wb") as f:
        f.write(b"".join(p.encode() + b"\0" for p in paths))
PY
  local l
  for l in "$out"/*.all; do
    tar -c -P --null --no-recursion -T "$l" -f "${l%.all}.tar"
  done
}

# The observation berth does, with find and sha256sum: stat every managed
# path, hash every managed regular file. $1 is the NUL-separated list.
FLOOR_NOOP='find -files0-from "$1" -maxdepth 0 -printf "%y %m %U %G %s %p\n" >/dev/null && find -files0-from "$1" -maxdepth 0 -type f -print0 | xargs -0 -r sha256sum -- >/dev/null'

floor_noop_local() {
  local out=$1 t0
  t0=$(now)
  sh -c "$FLOOR_NOOP" floor "$out/local.all"
  secs "$t0" "$(now)"
}

# floor_ssh i command...: run on fleet host i as berth does: the same user,
# key and known_hosts, sudo on the host, public-key authentication only;
# a new connection, or the host's master connection when FLOOR_CP is set.
floor_ssh() {
  local i=$1 cp=none; shift
  [ -z "${FLOOR_CP:-}" ] || cp="$FLOOR_CP/h$i"
  ssh -q -i "$FLEET_KEY" -o IdentitiesOnly=yes -o GSSAPIAuthentication=no -o UserKnownHostsFile="$FLEET_KNOWN" \
    -o StrictHostKeyChecking=yes -o BatchMode=yes -o ControlMaster=no -o ControlPath="$cp" \
    "$FLEET_USER@${FLEET_IPS[$i]}" "$@"
}

floor_noop_ssh() {
  local out=$1 t0 i pids=() q
  # The list travels on stdin, as berth's does.
  q=$(printf '%q' "t=\$(mktemp) && cat >\"\$t\" && sh -c '$FLOOR_NOOP' floor \"\$t\"; r=\$?; rm -f \"\$t\"; exit \$r")
  t0=$(now)
  for i in "${!FLEET_IPS[@]}"; do
    [ -f "$out/h$i.all" ] || continue
    floor_ssh "$i" "sudo sh -c $q" <"$out/h$i.all" &
    pids+=($!)
  done
  for i in "${pids[@]}"; do wait "$i"; done
  secs "$t0" "$(now)"
}

# floor_noop_ssh_warm OUT: the no-op floor through connections opened
# before the timer (as `berth serve` keeps its connections): one master
# connection per host, closed afterwards.
floor_noop_ssh_warm() {
  local out=$1 i t cp
  cp=$(mktemp -d /tmp/berth-floor-cp.XXXXXX)
  for i in "${!FLEET_IPS[@]}"; do
    ssh -q -i "$FLEET_KEY" -o IdentitiesOnly=yes -o GSSAPIAuthentication=no -o UserKnownHostsFile="$FLEET_KNOWN" \
      -o StrictHostKeyChecking=yes -o BatchMode=yes -o ControlMaster=yes -o ControlPath="$cp/h$i" -o ControlPersist=yes \
      -f -N "$FLEET_USER@${FLEET_IPS[$i]}"
  done
  t=$(FLOOR_CP=$cp floor_noop_ssh "$out")
  for i in "${!FLEET_IPS[@]}"; do ssh -o ControlPath="$cp/h$i" -O exit dummy 2>/dev/null || true; done
  rm -rf "$cp"
  echo "$t"
}

floor_first_local() {
  local out=$1 prefix=$2 t0
  t0=$(now)
  tar -x -P -f "$out/local.tar"
  nginx -p "$prefix" -c conf/nginx.conf -t -q
  nginx -p "$prefix" -c conf/nginx.conf -s reload
  secs "$t0" "$(now)"
}

floor_first_ssh() {
  local out=$1 t0 i pids=() p
  t0=$(now)
  for i in "${!FLEET_IPS[@]}"; do
    [ -f "$out/h$i.tar" ] || continue
    p="$FLEET_DIR/h$i/nginx"
    floor_ssh "$i" "sudo tar -x -P -f - && sudo nginx -p $p -c conf/nginx.conf -t -q && sudo nginx -p $p -c conf/nginx.conf -s reload" <"$out/h$i.tar" &
    pids+=($!)
  done
  for i in "${pids[@]}"; do wait "$i"; done
  secs "$t0" "$(now)"
}

floor_nginx_local() {
  local prefix=$1 t0
  t0=$(now)
  nginx -p "$prefix" -c conf/nginx.conf -t -q
  nginx -p "$prefix" -c conf/nginx.conf -s reload
  secs "$t0" "$(now)"
}

floor_nginx_ssh() {
  local t0 i pids=() p
  t0=$(now)
  for i in "${!FLEET_IPS[@]}"; do
    p="$FLEET_DIR/h$i/nginx"
    floor_ssh "$i" "sudo nginx -p $p -c conf/nginx.conf -t -q && sudo nginx -p $p -c conf/nginx.conf -s reload" </dev/null &
    pids+=($!)
  done
  for i in "${pids[@]}"; do wait "$i"; done
  secs "$t0" "$(now)"
}

# workers_of PID: the master's worker PIDs, sorted, on one line.
workers_of() { pgrep -P "$1" | sort | paste -sd' '; }
# until_new_workers PID OLD T0: wait until the master's workers are none
# of OLD (the reload is live), print seconds since T0.
until_new_workers() {
  local pid=$1 old=$2 t0=$3 w n
  for n in $(seq 6000); do
    w=$(workers_of "$pid")
    if [ -n "$w" ] && ! grep -qwF -e "$(echo "$old" | tr ' ' '\n' | head -1)" <<<"$w"; then
      secs "$t0" "$(now)"; return 0
    fi
    sleep 0.01
  done
  echo "bench: nginx master $pid did not replace its workers within 60 s" >&2; return 1
}
reload_vs_hup() {
  local prefix=$1 pid old t0 c1 l1 c2 l2
  pid=$(cat "$prefix/logs/nginx.pid")
  old=$(workers_of "$pid"); t0=$(now)
  nginx -p "$prefix" -c conf/nginx.conf -s reload
  c1=$(secs "$t0" "$(now)"); l1=$(until_new_workers "$pid" "$old" "$t0")
  old=$(workers_of "$pid"); t0=$(now)
  kill -HUP "$(cat "$prefix/logs/nginx.pid")"
  c2=$(secs "$t0" "$(now)"); l2=$(until_new_workers "$pid" "$old" "$t0")
  echo "$c1 $l1 $c2 $l2"
}
