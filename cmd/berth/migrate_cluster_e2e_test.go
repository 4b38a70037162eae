package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// newClusterMove is a move fixture with four web servers: platform app
// on web1 + web2 (the site's files synced from web1), app2 on web3 +
// web4 (synced from web3); a.example.com starts on app with a file
// uploaded on web1 and copied to web2.
func newClusterMove(t *testing.T) (m *moveFixture, files1 string) {
	t.Helper()
	m = newMoveFixtureN(t, 4, 0)
	m.write("platforms/app.yaml", "kind: Platform\nname: app\ntype: php\nisolation: false\nsource: { path: code1 }\nservers: [web1, web2]\nfiles: { mode: sync, primary: web1 }\n")
	m.write("platforms/app2.yaml", "kind: Platform\nname: app2\ntype: php\nisolation: false\nsource: { path: code2 }\nservers: [web3, web4]\nfiles: { mode: sync, primary: web3 }\n")
	m.write("code2/index.php", "<?php\necho 'app2 says: ', @file_get_contents(dirname(getenv('BERTH_SETTINGS')) . '/files/upload.txt');\n")
	m.mustApply()
	files1 = filepath.Join(m.roots[0], "sites", "a.example.com", "files")
	for rel, content := range map[string]string{"upload.txt": "uploaded on web1\n", "img/a.png": "png\n"} {
		p := filepath.Join(files1, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	m.mustApply() // web2 gets web1's files
	m.answers(1, 200, m.siteSays)
	m.answers(2, 200, m.siteSays)
	return m, files1
}

// movedToCluster checks that web3 and web4 serve the site with web1's
// files (want), and web1 and web2 show it disabled, keeping theirs.
func (m *moveFixture) movedToCluster(files1 string, want []string) {
	m.t.Helper()
	for i := 3; i <= 4; i++ {
		m.answers(i, 200, "app2 says: uploaded on web1")
		if got := filesTree(m.t, filepath.Join(m.roots[i-1], "sites", "a.example.com", "files")); !slices.Equal(got, want) {
			m.t.Errorf("web%d's files %v, want %v", i, got, want)
		}
	}
	for i := 1; i <= 2; i++ {
		m.answers(i, 503, "is disabled")
		if got := filesTree(m.t, filepath.Join(m.roots[i-1], "sites", "a.example.com", "files")); !slices.Equal(got, want) {
			m.t.Errorf("web%d's files %v, want them kept: %v", i, got, want)
		}
	}
}

// TestMigrateCluster: a site on the cluster web1 + web2 moves to the
// cluster web3 + web4 in one migration: the plan shows it with both
// sides and deletes nothing; while it runs, web1 and web2 answer only
// the site or its maintenance or disabled page; after it web3 and web4
// serve it with the files of web1 (the files' primary), web1 and web2
// show it disabled and keep their copies until the grace period is
// over, when both are removed after the site's backup (of web1's: web2
// holds a copy of its files).
func TestMigrateCluster(t *testing.T) {
	m, files1 := newClusterMove(t)
	before := filesTree(t, files1)
	m.site("app2")
	code, out, errOut := m.berth("plan")
	if code != 2 || !strings.Contains(out, "» a.example.com: web1+web2/app → web3+web4/app2  (planned)") ||
		!strings.Contains(out, "maintenance page on web1, web2") || !strings.Contains(out, "health check on web3, web4 by Host header") {
		t.Errorf("the plan does not show the cluster's migration: exit %d\n%s\n%s", code, out, errOut)
	}
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "- site/a.example.com/") {
			t.Errorf("the plan deletes a source: %s", l)
		}
	}
	stop1, stop2 := m.loop(1), m.loop(2)
	t.Logf("apply:\n%s", m.mustApply())
	for i, seen := range [][]string{stop1(), stop2()} {
		for _, a := range seen {
			t.Errorf("during the move web%d answered %s", i+1, a)
		}
	}
	m.movedToCluster(files1, before)
	code, out, errOut = m.berth("plan")
	if code != 0 || !strings.Contains(out, "(done ") || !strings.Contains(out, "the copy on web1, web2 is kept disabled until") {
		t.Errorf("plan after the move: exit %d\n%s\n%s", code, out, errOut)
	}

	migrationClock = func() time.Time { return time.Now().Add(25 * time.Hour) }
	t.Cleanup(func() { migrationClock = nil })
	code, out, errOut = m.berth("plan")
	// One backup, of web1's copy: web2's files are a copy of web1's.
	for _, want := range []string{"+ site/a.example.com/backup@web1", "- site/a.example.com/dir@web1", "- site/a.example.com/dir@web2"} {
		if code != 2 || !strings.Contains(out, want) {
			t.Errorf("plan after the grace period lacks %q: exit %d\n%s\n%s", want, code, out, errOut)
			break
		}
	}
	t.Logf("apply after the grace period:\n%s", m.mustApply())
	for i := 0; i < 2; i++ {
		if _, err := os.Stat(filepath.Join(m.roots[i], "sites", "a.example.com")); !os.IsNotExist(err) {
			t.Errorf("web%d's copy after the grace period: %v", i+1, err)
		}
	}
	if backups, _ := filepath.Glob(filepath.Join(m.base, "backups", "production", "a.example.com", "*", "*")); len(backups) == 0 {
		t.Errorf("no backup of the site in %s", filepath.Join(m.base, "backups"))
	}
	m.answers(3, 200, "app2 says: uploaded on web1")
	m.answers(4, 200, "app2 says: uploaded on web1")
	if code, out, errOut := m.berth("plan"); code != 0 || strings.Contains(out, "»") {
		t.Errorf("plan once the sources are removed: exit %d\n%s\n%s", code, out, errOut)
	}
}

// TestMigrateClusterCrash: the cluster's move killed (SIGKILL) with
// both sources showing the maintenance page, and once the switch is
// recorded: the next apply finishes it, both targets serving web1's
// files and both sources disabled; a target failing its health check
// reverts both sources.
func TestMigrateClusterCrash(t *testing.T) {
	for _, point := range []string{"mid-migrate:maintenance", "mid-migrate:switched"} {
		t.Run(point, func(t *testing.T) {
			m, files1 := newClusterMove(t)
			before := filesTree(t, files1)
			m.site("app2")
			killed, out := killedAt(point, append([]string{"apply", "--auto-approve", "--env", "production", "--repo", m.repo,
				"--state-dir", m.stateDir, "--no-color"}, m.flags...)...)
			if !killed {
				t.Fatalf("apply was not killed at %s:\n%s", point, out)
			}
			for i := 1; i <= 2; i++ {
				m.answers(i, 503, "") // its maintenance or disabled page, once nginx's reload is live
			}
			m.mustApply()
			m.movedToCluster(files1, before)
			if code, out, errOut := m.berth("plan"); code != 0 {
				t.Errorf("plan after the rerun: exit %d\n%s\n%s", code, out, errOut)
			}
		})
	}
	t.Run("unhealthy", func(t *testing.T) {
		m, _ := newClusterMove(t)
		// app2 answers 500 on web4 only.
		web4, _, _ := strings.Cut(m.nodes[3].Addr, ":")
		m.write("code2/index.php", "<?php\nif ($_SERVER['SERVER_ADDR'] === '"+web4+"') { http_response_code(500); }\necho 'app2 says: ', @file_get_contents(dirname(getenv('BERTH_SETTINGS')) . '/files/upload.txt');\n")
		m.site("app2")
		code, out, errOut := m.berth("apply", "--auto-approve")
		if code == 0 || !strings.Contains(out+errOut, "reverted (the site is served from web1, web2 as before") || !strings.Contains(out+errOut, "on web4: ") {
			t.Fatalf("apply with web4 failing: exit %d, want a failure saying both were reverted because of web4\n%s\n%s", code, out, errOut)
		}
		m.answers(1, 200, m.siteSays)
		m.answers(2, 200, m.siteSays)
		for i := 3; i <= 4; i++ {
			if code, _, body := m.get(i); code != 404 {
				t.Errorf("web%d after the revert: %d %q, want the default server's 404", i, code, body)
			}
		}
	})
}
