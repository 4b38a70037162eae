package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/berthhq/berth/internal/testenv"
)

// filesOf returns the files directory of a.example.com on node i (1..3)
// of the cluster.
func (c *cluster) filesOf(i int) string {
	return filepath.Join(c.nodes[i-1].Prefix, "www", "sites", "a.example.com", "files")
}

// filesTree lists every path under dir with its content (a directory ends
// with /), sorted; nil when dir does not exist.
func filesTree(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if d.IsDir() {
			out = append(out, rel+"/")
			return nil
		}
		b, err := os.ReadFile(p)
		out = append(out, rel+": "+string(b))
		return err
	})
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// upload writes a file into a.example.com's files directory on node i,
// as the site's code would.
func (c *cluster) upload(i int, rel, content string) {
	c.t.Helper()
	p := filepath.Join(c.filesOf(i), rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
		c.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o640); err != nil {
		c.t.Fatal(err)
	}
}

// sameFilesEverywhere checks that nodes 2 and 3 hold exactly node 1's
// files, and that node 1 holds want.
func (c *cluster) sameFilesEverywhere(when string, want ...string) {
	c.t.Helper()
	primary := filesTree(c.t, c.filesOf(1))
	if !slices.Equal(primary, want) {
		c.t.Fatalf("%s: web1 has %q, want %q", when, primary, want)
	}
	for i := 2; i <= 3; i++ {
		if got := filesTree(c.t, c.filesOf(i)); !slices.Equal(got, primary) {
			c.t.Errorf("%s: web%d has %q, web1 %q", when, i, got, primary)
		}
	}
}

// noChanges checks that berth plan has nothing to do.
func (c *cluster) noChanges(when string) {
	c.t.Helper()
	if code, out, errOut := c.berth("plan"); code != exitOK {
		c.t.Fatalf("plan %s: exit %d, want 0 (nothing to do)\n%s\n%s", when, code, out, errOut)
	}
}

// request sends method path with body for a.example.com through the load
// balancer and returns the status and the node that answered (X-Berth-Node).
func (c *cluster) request(client *http.Client, method, path, body string) (int, string) {
	c.t.Helper()
	req, err := http.NewRequest(method, "http://"+c.lb.Addr+path, strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Host = "a.example.com"
	r, err := client.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s through the load balancer: %v", method, path, err)
	}
	defer r.Body.Close()
	io.Copy(io.Discard, r.Body)
	return r.StatusCode, r.Header.Get("X-Berth-Node")
}

// TestClusterFiles: a three-node cluster whose platform syncs its files
// from web1: an upload on web1 reaches web2 and web3 in the next run (the
// plan says what it copies, in counts and bytes), a deleted one
// disappears from them, and the run after that changes nothing; a backup
// of the site reads web1, and its restore puts the files back on all
// three. Then the platform's files go on a shared path that node 3 sees
// as another file system: the run fails on web3, naming it, without
// touching the site's files there, and the next plan is refused; once
// web3 sees the shared path, the run converges.
func TestClusterFiles(t *testing.T) {
	c := newCluster(t)
	backups := testenv.Dir(t)
	c.write("berth.yaml", "environments:\n  production: { branch: main }\nbackups: { server: web1, dir: "+backups+" }\n")
	c.write("platforms/static.yaml", "kind: Platform\nname: static\ntype: static\nsource: { path: code }\nservers: [web1, web2, web3]\nlb: lb1\nfiles: { mode: sync, primary: web1 }\n")
	c.apply()
	c.sameFilesEverywhere("first converge")
	c.noChanges("after the first converge")

	// An upload on web1 reaches the others.
	c.upload(1, "2026/12/photo.jpg", "JPEG bytes")
	c.upload(1, "old.txt", "to be deleted")
	code, plan, errOut := c.berth("plan")
	if code != exitChanges {
		t.Fatalf("plan of the uploads: exit %d, want 2\n%s\n%s", code, plan, errOut)
	}
	for _, node := range []string{"web2", "web3"} {
		if !strings.Contains(plan, "site/a.example.com/files-sync@"+node) || !strings.Contains(plan, "copy 4 entries (2 files, 23 B)") {
			t.Errorf("the plan does not show the copy to %s in counts and bytes:\n%s", node, plan)
		}
	}
	if strings.Contains(plan, "JPEG bytes") {
		t.Errorf("the plan shows the uploaded content:\n%s", plan)
	}
	c.apply()
	c.sameFilesEverywhere("after the upload", "2026/", "2026/12/", "2026/12/photo.jpg: JPEG bytes", "old.txt: to be deleted")
	c.noChanges("after the upload's run")

	// A deletion on web1 propagates.
	if err := os.Remove(filepath.Join(c.filesOf(1), "old.txt")); err != nil {
		t.Fatal(err)
	}
	if code, plan, _ := c.berth("plan"); code != exitChanges || !strings.Contains(plan, "delete 1 entry") {
		t.Errorf("plan of the deletion: exit %d\n%s", code, plan)
	}
	c.apply()
	c.sameFilesEverywhere("after the deletion", "2026/", "2026/12/", "2026/12/photo.jpg: JPEG bytes")
	c.noChanges("after the deletion's run")

	// From here the files travel over rsync, relayed by berth between the
	// SSH connections. A backup reads web1's files; after a change
	// everywhere, its restore puts them back on web1 and copies them to
	// web2 and web3.
	c.write("platforms/static.yaml", "kind: Platform\nname: static\ntype: static\nsource: { path: code }\nservers: [web1, web2, web3]\nlb: lb1\nfiles: { mode: sync, primary: web1, transport: rsync }\n")
	c.noChanges("after the switch to rsync")
	code, out, errOut := c.berth("backup", "a.example.com")
	if code != exitOK {
		t.Fatalf("backup: exit %d\n%s\n%s", code, out, errOut)
	}
	code, out, errOut = c.berth("backups", "a.example.com", "--json")
	var list []struct{ ID string }
	if code != exitOK || json.Unmarshal([]byte(out), &list) != nil || len(list) != 1 {
		t.Fatalf("backups: exit %d\n%s\n%s", code, out, errOut)
	}
	if err := os.RemoveAll(filepath.Join(c.filesOf(1), "2026")); err != nil {
		t.Fatal(err)
	}
	c.upload(1, "after-backup.txt", "newer")
	c.apply()
	c.sameFilesEverywhere("before the restore", "after-backup.txt: newer")
	code, out, errOut = c.berth("restore", "a.example.com", "--backup", list[0].ID)
	if code != exitOK {
		t.Fatalf("restore: exit %d\n%s\n%s", code, out, errOut)
	}
	for _, node := range []string{"web2", "web3"} {
		if !strings.Contains(out, "Synced "+node+": files of a.example.com from web1: copy 3 entries (1 file, 10 B) and delete 1 entry over rsync.") {
			t.Errorf("restore does not say it re-synced %s:\n%s", node, out)
		}
	}
	c.sameFilesEverywhere("after the restore", "2026/", "2026/12/", "2026/12/photo.jpg: JPEG bytes")
	c.noChanges("after the restore")

	// A shared path that web3 sees as another file system.
	shared, elsewhere := testenv.Dir(t), testenv.Dir(t)
	web3 := c.nodes[2].Host
	bind := func(args ...string) {
		t.Helper()
		argv := append([]string{"-t", strconv.Itoa(web3.SSH.Proc.PID()), "-m"}, args...)
		if out, err := exec.Command("nsenter", argv...).CombinedOutput(); err != nil {
			t.Fatalf("nsenter %s: %v\n%s", strings.Join(argv, " "), err, out)
		}
	}
	bind("mount", "--bind", elsewhere, shared)
	mounted := true
	t.Cleanup(func() {
		if mounted {
			bind("umount", shared)
		}
	})
	c.write("platforms/static.yaml", "kind: Platform\nname: static\ntype: static\nsource: { path: code }\nservers: [web1, web2, web3]\nlb: lb1\nfiles: { mode: shared, path: "+shared+" }\n")
	code, out, errOut = c.berth("apply", "--auto-approve")
	notShared := "files path " + shared + " on server web3 is not the file system server web1 has there"
	if code != exitError || !strings.Contains(out+errOut, notShared) || !strings.Contains(out+errOut, "mount the shared file system at "+shared+" on web3") {
		t.Fatalf("apply with web3 off the shared path: exit %d, want 1 naming web3\n%s\n%s", code, out, errOut)
	}
	sharedFiles := filepath.Join(shared, "a.example.com", "files")
	if st, err := os.Stat(sharedFiles); err != nil || !st.IsDir() {
		t.Errorf("web1 and web2 have no files directory on the shared path: %v", err)
	}
	if _, err := os.Stat(filepath.Join(elsewhere, "a.example.com")); !os.IsNotExist(err) {
		t.Errorf("the site's files directory was made on web3's other file system: %v", err)
	}
	code, out, errOut = c.berth("plan")
	if code != exitError || !strings.Contains(out+errOut, notShared) {
		t.Fatalf("plan with web3 off the shared path: exit %d, want 1 (refused) naming web3\n%s\n%s", code, out, errOut)
	}

	// web3 sees the shared path: the run converges, then nothing.
	bind("umount", shared)
	mounted = false
	c.apply()
	c.noChanges("on the shared path")
}

// TestClusterWritesToPrimary: behind the load balancer, a platform whose
// files are synced from web1 gets every request that may write on web1
// (what the others write would be replaced at the next run), its reads
// on every server, a file only web1 has yet from web1 whichever server
// was asked first, and uploads as large as the site allows; with web1's
// nginx gone, the others answer everything.
func TestClusterWritesToPrimary(t *testing.T) {
	c := newCluster(t)
	c.write("platforms/static.yaml", "kind: Platform\nname: static\ntype: static\nsource: { path: code }\nservers: [web1, web2, web3]\nlb: lb1\nfiles: { mode: sync, primary: web1 }\n")
	c.write("sites/a.yaml", "kind: Site\nname: a.example.com\nplatform: static\nweb: { client_max_body_size: 8m }\n")
	c.apply()
	client := &http.Client{Timeout: 5 * time.Second}
	// Bounded: a worker of the load balancer's configuration before the
	// reload may still take a connection while it shuts down.
	testenv.EventuallyWith(t, "POST through the load balancer answered by web1", 10*time.Second, func() (bool, string) {
		for range 6 {
			if status, node := c.request(client, "POST", "/", "form=1"); node != "web1" {
				return false, fmt.Sprintf("%d from %q", status, node)
			}
		}
		return true, ""
	})
	seen := map[string]map[string]int{}
	for _, method := range []string{"POST", "PUT", "DELETE", "GET"} {
		seen[method] = map[string]int{}
		for range 9 {
			status, node := c.request(client, method, "/", "form=1")
			seen[method][node]++
			if method == "GET" && status != 200 {
				t.Errorf("GET / through the load balancer: %d from %s", status, node)
			}
		}
	}
	for _, method := range []string{"POST", "PUT", "DELETE"} {
		if len(seen[method]) != 1 || seen[method]["web1"] != 9 {
			t.Errorf("%s through the load balancer answered by %v, want web1 (the files primary) only", method, seen[method])
		}
	}
	// An upload the site allows (client_max_body_size: 8m), larger than
	// nginx's default 1m, passes the load balancer.
	if status, node := c.request(client, "POST", "/", strings.Repeat("x", 2<<20)); status == http.StatusRequestEntityTooLarge || node != "web1" {
		t.Errorf("POST of 2 MiB: %d from %q, want web1's answer", status, node)
	}
	if len(seen["GET"]) < 2 {
		t.Errorf("GET through the load balancer answered by %v only, want every server", seen["GET"])
	}
	current := filepath.Join(c.nodes[0].Prefix, "www", "platforms", "static", "production", "current")
	if err := os.WriteFile(filepath.Join(current, "only-web1.txt"), []byte("fresh"), 0o644); err != nil {
		t.Fatal(err)
	}
	for range 9 {
		if status, node := c.request(client, "GET", "/only-web1.txt", ""); status != 200 || node != "web1" {
			t.Errorf("GET of a file only web1 has: %d from %q, want 200 from web1", status, node)
		}
		if status, node := c.request(client, "GET", "/nowhere.txt", ""); status != 404 || node != "web1" {
			t.Errorf("GET of a file no server has: %d from %q, want 404 from web1", status, node)
		}
	}

	// web1's nginx stops: the others take the writes and answer 404
	// themselves, rather than the load balancer answering 502.
	c.nodes[0].Proc.Stop()
	for range 6 {
		if status, node := c.request(client, "POST", "/", "form=1"); node != "web2" && node != "web3" {
			t.Errorf("POST with web1 down: %d from %q, want web2's or web3's answer", status, node)
		}
		if status, node := c.request(client, "GET", "/nowhere.txt", ""); status != 404 || (node != "web2" && node != "web3") {
			t.Errorf("GET of a file no server has, web1 down: %d from %q, want 404 from web2 or web3", status, node)
		}
	}
}
