package reconcile

// Hook receives the engine's progress. The CLI draws it, the daemon logs it.
// Methods are called from several goroutines (one per server) and must be
// safe for concurrent use; they must return quickly.
type Hook interface {
	// Observed is called when a server's state was read.
	Observed(server string, paths int, err error)
	// Applying is called before change n of total is applied.
	Applying(c *Change, n, total int)
	// Applied is called after a change was applied, with its error.
	Applied(c *Change, err error)
	// ServiceChecked is called after a service's config check ran.
	ServiceChecked(server, service string, err error)
	// Reloaded is called after a service was reloaded.
	Reloaded(server, service string, err error)
}

// NopHook does nothing; embed it to implement only some of Hook.
type NopHook struct{}

func (NopHook) Observed(string, int, error)          {}
func (NopHook) Applying(*Change, int, int)           {}
func (NopHook) Applied(*Change, error)               {}
func (NopHook) ServiceChecked(string, string, error) {}
func (NopHook) Reloaded(string, string, error)       {}
