package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// runBenchGen writes a generated sites repo for the benchmarks: N static
// sites on one local nginx (paths relative to the state directory), or
// spread over several SSH servers. It is not listed in berth's usage.
func runBenchGen(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bench-gen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	n := fs.Int("sites", 1000, "number of sites")
	out := fs.String("out", "", "directory to write the repo into (required)")
	listen := fs.String("listen", "127.0.0.1:18090", "address nginx listens on")
	nginxPrefix := fs.String("nginx-prefix", "nginx", "nginx prefix, relative to the state directory")
	servers := fs.String("servers", "", "comma-separated name=address:port[:user] of SSH servers; empty: one local server")
	webRoot := fs.String("web-root", "www", "web root (absolute for SSH servers)")
	confDir := fs.String("conf-dir", "nginx/sites", "nginx site config directory (absolute for SSH servers)")
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
	var names []string
	var files []string
	nginx := fmt.Sprintf("[nginx, -p, %s, -c, conf/nginx.conf", *nginxPrefix)
	if *servers == "" {
		names = []string{"local"}
		files = append(files, "servers/local.yaml", fmt.Sprintf(`kind: Server
name: local
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
`, *listen, *confDir, *webRoot, nginx, nginx))
	} else {
		for _, s := range strings.Split(*servers, ",") {
			name, addr, _ := strings.Cut(s, "=")
			parts := strings.Split(addr, ":")
			user := "root"
			if len(parts) > 2 {
				user = parts[2]
			}
			names = append(names, name)
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
`, name, parts[0], user, parts[1], user != "root", *listen, *confDir, *webRoot, nginx, nginx))
		}
	}
	files = append(files, "berth.yaml", "environments:\n  production: { branch: main }\n",
		"code/index.html", "<h1>bench</h1>\n")
	for i, name := range names {
		files = append(files, fmt.Sprintf("platforms/static-%d.yaml", i),
			fmt.Sprintf("kind: Platform\nname: static-%d\ntype: static\nsource: { path: code }\nservers: [%s]\n", i, name))
	}
	for i := range *n {
		files = append(files, fmt.Sprintf("sites/site%05d.yaml", i), fmt.Sprintf(
			"kind: Site\nname: site%05d.bench.example.com\nplatform: static-%d\naliases: [www.site%05d.bench.example.com]\nweb: { client_max_body_size: 16m }\n",
			i, i%len(names), i))
	}
	for i := 0; i < len(files); i += 2 {
		if err := w(files[i], files[i+1]); err != nil {
			fmt.Fprintf(stderr, "berth bench-gen: %v\n", err)
			return 1
		}
	}
	fmt.Fprintf(stdout, "wrote %d sites on %d server(s) to %s\n", *n, len(names), *out)
	return 0
}
