package daemon

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/berthhq/berth/forge"
	"github.com/berthhq/berth/reconcile"
)

// Statuses sets commit statuses on the forge (forge.Gitea, forge.GitHub,
// forge.GitLab).
type Statuses interface {
	SetStatus(ctx context.Context, sha string, st forge.Status) error
}

// commitRE is a git commit id: statuses go only on those (a plain
// directory's revision is not a commit).
var commitRE = regexp.MustCompile(`^[0-9a-f]{40}([0-9a-f]{24})?$`)

// reportsStatus says whether a run of these triggers posts a commit
// status: a run for a new commit does (webhook, poll, watch, startup,
// manual); a drift check of the same commit does not.
func reportsStatus(trigger, rev string) bool {
	if !commitRE.MatchString(rev) {
		return false
	}
	for _, r := range strings.Split(trigger, ",") {
		if slices.Contains([]string{ReasonWebhook, ReasonPoll, ReasonWatch, ReasonStartup, ReasonManual}, r) {
			return true
		}
	}
	return false
}

// postStatus sets the environment's commit status on rev (context
// berth/ENV), linking to the run's page when the daemon knows its public
// URL. A forge that does not answer does not stop the run: it is logged.
func (w *envWorker) postStatus(log zerolog.Logger, rev string, run int64, state, desc string) {
	st := w.d.cfg.Statuses
	if st == nil {
		return
	}
	s := forge.Status{State: state, Context: "berth/" + w.env, Description: desc}
	if u := w.d.cfg.PublicURL; u != "" && run > 0 {
		s.TargetURL = fmt.Sprintf("%s/ui/runs/%d", strings.TrimSuffix(u, "/"), run)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := st.SetStatus(ctx, rev, s); err != nil {
		log.Warn().Err(err).Str("step", "status").Msg("cannot set the commit status " + state + " on " + reconcile.ShortRevision(rev))
	}
}
