# fleet.sh: sourced by scripts/bench. Builds N simulated hosts the way
# internal/testenv.Hosts does: one network namespace per host behind a
# bridge (itself in a namespace), the root namespace reaching the bridge
# through its own veth, so no packet leaves the machine. Each host runs
# sshd on port 22 (LogLevel VERBOSE: one "Starting session" line per
# command, which the benchmark counts) and an nginx with its own prefix
# listening on the host's address, port 8080. Every host accepts the same
# user (berthtest, passwordless sudo) with the same client key.
#
#   fleet_up COUNT DIR   sets FLEET_IPS FLEET_NS FLEET_KEY FLEET_KNOWN
#   fleet_down           kills what fleet_up started (by PID), deletes the
#                        namespaces and the root veth. Safe to call twice.
FLEET_USER=berthtest
FLEET_PIDS=()
FLEET_NS=()
FLEET_IPS=()
FLEET_ROOTIF=""

fleet_user() {
  id "$FLEET_USER" >/dev/null 2>&1 || { useradd --create-home --shell /bin/sh "$FLEET_USER"; usermod -p '*' "$FLEET_USER"; }
  local want="$FLEET_USER ALL=(ALL:ALL) NOPASSWD: ALL"
  [ "$(cat /etc/sudoers.d/$FLEET_USER 2>/dev/null)" = "$want" ] || { mkdir -p /etc/sudoers.d; echo "$want" > /etc/sudoers.d/$FLEET_USER; chmod 440 /etc/sudoers.d/$FLEET_USER; }
}

fleet_nginx_conf() { # prefix listen
  cat <<CONF
user www-data www-data;
worker_processes 1;
pid logs/nginx.pid;
error_log logs/error.log;
events { worker_connections 256; }
http {
  include /etc/nginx/mime.types;
  access_log off;
  client_body_temp_path tmp/body; proxy_temp_path tmp/proxy; fastcgi_temp_path tmp/fastcgi;
  uwsgi_temp_path tmp/uwsgi; scgi_temp_path tmp/scgi;
  server_names_hash_bucket_size 128; server_names_hash_max_size 65536;
  server { listen $2 default_server; return 404; }
  include $1/sites/*.conf;
}
CONF
}

fleet_up() { # count dir
  local n=$1 dir=$2 id subnet x i
  fleet_user
  rm -rf "$dir"; mkdir -p /run/sshd "$dir"
  id=$(od -An -N2 -tx1 /dev/urandom | tr -d ' \n')
  local prefix="berth-$$-bench$id-" br
  br="${prefix}br"
  FLEET_ROOTIF="bb${id}r"
  subnet=""
  for x in $(seq 250 -1 100); do
    if ! ip -o addr | grep -q "10\.213\.$x\." && ! ip -o route | grep -q "10\.213\.$x\."; then subnet="10.213.$x."; break; fi
  done
  [ -n "$subnet" ] || { echo "fleet: no free 10.213.X.0/24" >&2; return 1; }
  ip netns add "$br"; FLEET_NS+=("$br")
  ip -n "$br" link set lo up
  ip -n "$br" link add br0 type bridge
  ip -n "$br" link set br0 up
  ip link add "$FLEET_ROOTIF" type veth peer name "${FLEET_ROOTIF}p"
  ip link set "${FLEET_ROOTIF}p" netns "$br"
  ip -n "$br" link set "${FLEET_ROOTIF}p" master br0 up
  ip addr add "${subnet}254/24" dev "$FLEET_ROOTIF"
  ip link set "$FLEET_ROOTIF" up
  ssh-keygen -q -t ed25519 -N '' -C berth-bench-client -f "$dir/client_key"
  FLEET_KEY="$dir/client_key"; FLEET_KNOWN="$dir/known_hosts"; : > "$FLEET_KNOWN"
  cp "$dir/client_key.pub" "$dir/authorized_keys"
  for i in $(seq 0 $((n-1))); do
    local ns="${prefix}h$i" ifc="bb${id}h$i" ip="${subnet}$((i+1))" d="$dir/h$i"
    ip netns add "$ns"; FLEET_NS+=("$ns")
    ip -n "$ns" link set lo up
    ip link add "$ifc" type veth peer name "${ifc}p"
    ip link set "$ifc" netns "$ns"
    ip link set "${ifc}p" netns "$br"
    ip -n "$br" link set "${ifc}p" master br0 up
    ip -n "$ns" addr add "$ip/24" dev "$ifc"
    ip -n "$ns" link set "$ifc" up
    mkdir -p "$d"/nginx/{conf,logs,tmp,sites} "$d/www"
    ssh-keygen -q -t ed25519 -N '' -C berth-bench-host -f "$d/hostkey"
    echo "$ip $(cut -d' ' -f1,2 "$d/hostkey.pub")" >> "$FLEET_KNOWN"
    cat > "$d/sshd_config" <<CONF
Port 22
ListenAddress $ip
HostKey $d/hostkey
PidFile $d/sshd.pid
AuthorizedKeysFile $dir/authorized_keys
AllowUsers $FLEET_USER
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PrintMotd no
MaxStartups 50:30:100
LogLevel VERBOSE
CONF
    /usr/sbin/sshd -t -f "$d/sshd_config"
    ip netns exec "$ns" /usr/sbin/sshd -D -e -f "$d/sshd_config" 2>"$d/sshd.log" &
    FLEET_PIDS+=($!)
    fleet_nginx_conf "$d/nginx" "$ip:8080" > "$d/nginx/conf/nginx.conf"
    ip netns exec "$ns" nginx -p "$d/nginx" -c conf/nginx.conf
    FLEET_IPS+=("$ip")
  done
  for i in $(seq 0 $((n-1))); do # sshd ready: it answers on port 22
    local tries=0
    until (exec 3<>"/dev/tcp/${FLEET_IPS[$i]}/22") 2>/dev/null; do
      tries=$((tries+1)); [ $tries -lt 100 ] || { echo "fleet: sshd on ${FLEET_IPS[$i]} not ready" >&2; return 1; }
      sleep 0.1
    done
  done
  FLEET_DIR=$dir
}

# fleet_reset_web: empty every host's web root and vhost directory and
# reload its nginx, so the next tool starts from nothing.
fleet_reset_web() {
  local i
  for i in "${!FLEET_IPS[@]}"; do
    rm -rf "$FLEET_DIR/h$i/www" "$FLEET_DIR/h$i/nginx/sites"; mkdir -p "$FLEET_DIR/h$i/www" "$FLEET_DIR/h$i/nginx/sites"
    ip netns exec "${FLEET_NS[$((i+1))]}" nginx -p "$FLEET_DIR/h$i/nginx" -c conf/nginx.conf -s reload 2>/dev/null
  done
}

# fleet_sessions: the number of sessions (commands) each host's sshd has
# started so far, one number per line.
fleet_sessions() {
  local i
  for i in "${!FLEET_IPS[@]}"; do grep -c 'Starting session' "$FLEET_DIR/h$i/sshd.log" || true; done
}
fleet_logins() {
  local i
  for i in "${!FLEET_IPS[@]}"; do grep -c 'Accepted publickey' "$FLEET_DIR/h$i/sshd.log" || true; done
}

fleet_down() {
  local i p
  if [ -n "${FLEET_DIR:-}" ]; then
    for p in "$FLEET_DIR"/h*/nginx/logs/nginx.pid; do [ ! -f "$p" ] || kill -QUIT "$(cat "$p")" 2>/dev/null || true; done
  fi
  # Called under set -e: nothing here may fail the caller (a process may
  # already be gone, a namespace already deleted).
  for p in "${FLEET_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${FLEET_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  for i in "${FLEET_NS[@]}"; do
    # Sessions sshd left running, and nginx workers: ours, in our namespace.
    for p in $(ip netns pids "$i" 2>/dev/null); do kill -KILL "$p" 2>/dev/null || true; done
    ip netns del "$i" 2>/dev/null || true
  done
  [ -z "$FLEET_ROOTIF" ] || ip link del "$FLEET_ROOTIF" 2>/dev/null || true
  FLEET_PIDS=(); FLEET_NS=(); FLEET_IPS=(); FLEET_ROOTIF=""; FLEET_DIR=""
  return 0
}
