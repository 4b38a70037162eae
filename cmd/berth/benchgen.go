package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/berthhq/berth/desired"
	"github.com/berthhq/berth/host/local"
	"github.com/berthhq/berth/reconcile"
	"github.com/berthhq/berth/state"
)

// runBenchGen writes a generated sites repo for the benchmarks: N static
// sites on one local nginx (paths relative to the state directory), on
// several servers with address local (--local-servers), or spread over
// several SSH servers (site i on server i mod len(servers)).
// With --ansible it also writes the equivalent Ansible inventory, so both
// tools converge the same sites. "bench-gen warm-plan ..." times repeated
// plans in one process (see runWarmPlan). It is not listed in berth's usage.
func runBenchGen(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "warm-plan" {
		return runWarmPlan(args[1:], stdout, stderr)
	}
	fs := flag.NewFlagSet("bench-gen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	n := fs.Int("sites", 1000, "number of sites")
	out := fs.String("out", "", "directory to write the repo into (required)")
	listen := fs.String("listen", "127.0.0.1:18090", "address nginx listens on; {ip} is the server's address")
	nginxPrefix := fs.String("nginx-prefix", "nginx", "nginx prefix, relative to the state directory; {server} is the server's name")
	servers := fs.String("servers", "", "comma-separated name=address:port[:user] of SSH servers; empty: one local server")
	webRoot := fs.String("web-root", "www", "web root (absolute for SSH servers); {server} is the server's name")
	confDir := fs.String("conf-dir", "nginx/sites", "nginx site config directory (absolute for SSH servers); {server} is the server's name")
	ansible := fs.String("ansible", "", "also write an Ansible inventory of the same sites to this file (paths must be absolute)")
	locals := fs.Int("local-servers", 1, "without --servers: this many servers with address local (named local00, local01, ... when more than one); {server} in the paths tells them apart")
	if _, code, ok := parse(fs, args); !ok {
		return code
	}
	if *out == "" {
		fmt.Fprintln(stderr, "berth bench-gen: --out is required")
		return exitUsage
	}
	w := func(name, data string) error {
		p := filepath.Join(*out, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		return os.WriteFile(p, []byte(data), 0o644)
	}
	type server struct{ name, ip, listen, prefix, webRoot, confDir string }
	subst := func(s string, sv server) string {
		return strings.NewReplacer("{server}", sv.name, "{ip}", sv.ip).Replace(s)
	}
	var svs []server
	var files []string
	if *servers == "" {
		for i := range max(*locals, 1) {
			sv := server{name: "local", ip: "127.0.0.1"}
			if *locals > 1 {
				sv.name = fmt.Sprintf("local%02d", i)
			}
			sv.listen, sv.prefix, sv.webRoot, sv.confDir = subst(*listen, sv), subst(*nginxPrefix, sv), subst(*webRoot, sv), subst(*confDir, sv)
			nginx := fmt.Sprintf("[nginx, -p, %s, -c, conf/nginx.conf", sv.prefix)
			svs = append(svs, sv)
			files = append(files, "servers/"+sv.name+".yaml", fmt.Sprintf(`kind: Server
name: %s
address: local
services:
  http:
    type: nginx
    listen: %s
    conf_dir: %s
    web_root: %s
    user: www-data
    test: %s, -t, -q]
    reload: %s, -s, reload]
`, sv.name, sv.listen, sv.confDir, sv.webRoot, nginx, nginx))
		}
	} else {
		for _, s := range strings.Split(*servers, ",") {
			name, addr, _ := strings.Cut(s, "=")
			parts := strings.Split(addr, ":")
			user := "root"
			if len(parts) > 2 {
				user = parts[2]
			}
			sv := server{name: name, ip: parts[0]}
			sv.listen, sv.prefix, sv.webRoot, sv.confDir = subst(*listen, sv), subst(*nginxPrefix, sv), subst(*webRoot, sv), subst(*confDir, sv)
			nginx := fmt.Sprintf("[nginx, -p, %s, -c, conf/nginx.conf", sv.prefix)
			svs = append(svs, sv)
			files = append(files, "servers/"+name+".yaml", fmt.Sprintf(`kind: Server
name: %s
address: %s
ssh: { user: %s, port: %s, sudo: %v }
services:
  http:
    type: nginx
    listen: %s
    conf_dir: %s
    web_root: %s
    user: www-data
    test: %s, -t, -q]
    reload: %s, -s, reload]
`, name, parts[0], user, parts[1], user != "root", sv.listen, sv.confDir, sv.webRoot, nginx, nginx))
		}
	}
	files = append(files, "berth.yaml", "environments:\n  production: { branch: main }\n",
		"code/index.html", "<h1>bench</h1>\n")
	for i, sv := range svs {
		files = append(files, fmt.Sprintf("platforms/static-%d.yaml", i),
			fmt.Sprintf("kind: Platform\nname: static-%d\ntype: static\nsource: { path: code }\nservers: [%s]\n", i, sv.name))
	}
	for i := range *n {
		files = append(files, fmt.Sprintf("sites/site%05d.yaml", i), fmt.Sprintf(
			"kind: Site\nname: site%05d.bench.example.com\nplatform: static-%d\naliases: [www.site%05d.bench.example.com]\nweb: { client_max_body_size: 16m }\n",
			i, i%len(svs), i))
	}
	for i := 0; i < len(files); i += 2 {
		if err := w(files[i], files[i+1]); err != nil {
			fmt.Fprintf(stderr, "berth bench-gen: %v\n", err)
			return 1
		}
	}
	if *ansible != "" {
		// One line per site, so a benchmark can change one site with sed.
		var b strings.Builder
		b.WriteString("# Generated by berth bench-gen: the same sites as the berth repo.\nall:\n  hosts:\n")
		for i, sv := range svs {
			fmt.Fprintf(&b, "    %s:\n", sv.name)
			if *servers == "" {
				b.WriteString("      ansible_connection: local\n")
			} else {
				fmt.Fprintf(&b, "      ansible_host: %s\n", sv.ip)
			}
			fmt.Fprintf(&b, "      listen: %q\n      nginx_prefix: %q\n      web_root: %q\n      conf_dir: %q\n      platform: static-%d\n      sites:\n",
				sv.listen, sv.prefix, sv.webRoot, sv.confDir, i)
			for j := i; j < *n; j += len(svs) {
				fmt.Fprintf(&b, "        - {name: site%05d.bench.example.com, alias: www.site%05d.bench.example.com, body: 16M}\n", j, j)
			}
		}
		if err := os.WriteFile(*ansible, []byte(b.String()), 0o644); err != nil {
			fmt.Fprintf(stderr, "berth bench-gen: %v\n", err)
			return 1
		}
	}
	fmt.Fprintf(stdout, "wrote %d sites on %d server(s) to %s\n", *n, len(svs), *out)
	return 0
}

// runWarmPlan plans an environment --repeat times in one process, keeping
// the connector (and so each server's SSH connection) open between plans,
// as berth serve does between runs. Every repetition does the whole work
// of a run except dialling: open the state store, read and validate the
// repo, resolve, build the desired state as every run does
// (desired.Prepare), observe every server, diff. With --keep-desired it
// does what berth serve's drift check of an unchanged revision does: the
// desired state is built once, by the first plan, and the others only
// observe and diff against it, through one state store held open (and
// locked) for all plans with the inventory kept in memory while nothing
// writes it (desired.CachedInventory), and the local host reusing the
// hashes of files that show no change (local.HashCache). It prints one
// line per plan: the seconds it took, its change count and the CPU time
// berth used meanwhile (user + system, all threads); the first plan
// includes dialling (cold).
func runWarmPlan(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bench-gen warm-plan", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f envFlags
	f.register(fs, true)
	repeat := fs.Int("repeat", 5, "number of plans")
	keep := fs.Bool("keep-desired", false, "build the desired state once and plan against it again (berth serve's drift check)")
	if _, code, ok := parse(fs, args); !ok {
		return code
	}
	ctx := context.Background()
	l, err := f.load(stderr)
	if err != nil {
		return exitFor(err, "bench-gen warm-plan", stderr)
	}
	conn := newConnector(l.res, sshOptions{keyFiles: f.keyFiles, knownHosts: f.knownHosts})
	defer conn.Close()
	var (
		e     *reconcile.Engine
		d     *reconcile.Desired
		store *state.Store
	)
	if *keep {
		conn.hashes = local.NewHashCache()
		if store, err = openState(ctx, l.stateDir, false, "berth bench-gen warm-plan", stderr); err != nil {
			return exitFor(err, "bench-gen warm-plan", stderr)
		}
		defer store.Close()
	}
	for i := range *repeat {
		t0, cpu0 := time.Now(), cpuTime()
		if !*keep {
			if i > 0 {
				if l, err = f.load(stderr); err != nil {
					return exitFor(err, "bench-gen warm-plan", stderr)
				}
			}
			if store, err = openState(ctx, l.stateDir, true, "berth bench-gen warm-plan", stderr); err != nil {
				return exitFor(err, "bench-gen warm-plan", stderr)
			}
		}
		if d == nil || !*keep {
			if e, d, err = desired.Prepare(ctx, l.input(store, &f, conn), nil); err != nil {
				return exitFor(err, "bench-gen warm-plan", stderr)
			}
			if *keep {
				e.Inventory = desired.CachedInventory(store)
			}
		}
		p, err := e.Plan(ctx, d, f.planOptions())
		if !*keep {
			store.Close()
		}
		if err != nil {
			return exitFor(err, "bench-gen warm-plan", stderr)
		}
		if len(p.Unreachable) > 0 {
			fmt.Fprintf(stderr, "berth bench-gen warm-plan: unreachable: %v\n", p.Unreachable)
			return 1
		}
		changes := 0
		if !p.Empty() {
			changes = 1
		}
		fmt.Fprintf(stdout, "plan %d %.3f s changes=%d cpu=%.3f\n", i+1, time.Since(t0).Seconds(), changes, (cpuTime() - cpu0).Seconds())
	}
	return 0
}

// cpuTime is the CPU time (user + system) this process used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
