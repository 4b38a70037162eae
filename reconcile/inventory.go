package reconcile

// Unsynced compares the desired state with the inventory alone, without
// touching any host, and returns for each site ("" for shared resources)
// whose resources differ the first difference found. A site berth still
// has records of but no longer declares is listed too, and so is a record
// an interrupted run saved before its write (Record.Pending); pending
// reloads are listed under "".
func Unsynced(d *Desired, recs []Record, pending []PendingReload) map[string]string {
	byID := make(map[string]Record, len(recs))
	for _, r := range recs {
		byID[r.ID] = r
	}
	why := map[string]string{}
	note := func(site, reason string) {
		if _, ok := why[site]; !ok {
			why[site] = reason
		}
	}
	for _, r := range d.Resources {
		want := r.Record()
		have, ok := byID[want.ID]
		delete(byID, want.ID)
		switch {
		case !ok:
			note(r.Site(), "+ "+want.ID)
		case have.Hash != want.Hash || have.Path != want.Path || have.Service != want.Service:
			note(r.Site(), "~ "+want.ID)
		case have.Pending:
			note(r.Site(), "~ "+want.ID+" (written by an interrupted run)")
		}
	}
	for _, r := range recs { // sorted by ID: the first reason is stable
		if _, left := byID[r.ID]; left && !r.Adopted {
			note(r.Site, "- "+r.ID)
		}
	}
	for _, p := range pending {
		note("", p.String())
	}
	return why
}
