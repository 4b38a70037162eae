package filesync

import (
	"errors"
	"slices"
	"testing"
)

// The rsync relay runs on the server only rsync's receiving server, into
// the server's files directory.
func TestRsyncServerArgv(t *testing.T) {
	const dst = "/var/www/sites/a.example.com/files"
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{name: "receiver", args: []string{"berth", "rsync", "--server", "-logDtpre.iLsfxCIvu", "--delete", ".", dst + "/"},
			want: []string{"rsync", "--server", "-logDtpre.iLsfxCIvu", "--delete", ".", dst + "/"}},
		{name: "sender", args: []string{"berth", "rsync", "--server", "--sender", "-logDtpre.iLsfxCIvu", ".", dst + "/"}},
		{name: "another directory", args: []string{"berth", "rsync", "--server", "-logDtpre.iLsfxCIvu", ".", "/etc/"}},
		{name: "another program", args: []string{"berth", "sh", "--server", "-c", ".", dst + "/"}},
		{name: "an operand among the options", args: []string{"berth", "rsync", "--server", "/etc", ".", dst + "/"}},
		{name: "a log file", args: []string{"berth", "rsync", "--server", "-logDtpre.iLsfxCIvu", "--log-file=/etc/cron.d/x", ".", dst + "/"}},
		{name: "a temp dir", args: []string{"berth", "rsync", "--server", "-T/etc", ".", dst + "/"}},
		{name: "another host", args: []string{"web9", "rsync", "--server", "-logDtpre.iLsfxCIvu", ".", dst + "/"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := serverArgv(tt.args, dst)
			if tt.want == nil {
				if !errors.Is(err, errRelay) {
					t.Errorf("serverArgv(%q) = %q, %v; want errRelay", tt.args, got, err)
				}
				return
			}
			if err != nil || !slices.Equal(got, tt.want) {
				t.Errorf("serverArgv(%q) = %q, %v; want %q", tt.args, got, err, tt.want)
			}
		})
	}
}
