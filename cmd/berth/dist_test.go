package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// The systemd unit's exposure, as systemd-analyze security rates it
// offline: at most 5.0 for berth managing remote servers
// (dist/berth.service), and with the drop-in for a local server
// (dist/berth-local.conf) too.
func TestSystemdUnitExposure(t *testing.T) {
	unit, err := filepath.Abs("../../dist/berth.service")
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	dir := filepath.Join(root, "etc", "systemd", "system")
	for src, dst := range map[string]string{unit: filepath.Join(dir, "berth.service"), "../../dist/berth-local.conf": filepath.Join(dir, "berth.service.d", "local.conf")} {
		data, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		os.MkdirAll(filepath.Dir(dst), 0o755)
		if err := os.WriteFile(dst, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"remote servers only", []string{unit}},
		{"with the local-server drop-in", []string{"--root=" + root, "berth.service"}},
	} {
		// --threshold=50: exit non-zero above an exposure of 5.0.
		out, err := exec.Command("systemd-analyze", append([]string{"security", "--offline=yes", "--threshold=50", "--no-pager"}, tc.args...)...).CombinedOutput()
		if err != nil {
			t.Errorf("%s: systemd-analyze security: %v, exposure above 5.0?\n%s", tc.name, err, out)
		}
	}
}
