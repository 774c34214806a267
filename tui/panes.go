package tui

// sessionPane is one of the session view's three panes; tab moves the
// cursor to the next.
type sessionPane int

const (
	paneConnections sessionPane = iota
	paneStreams
	paneEvents
	sessionPanesN // how many panes there are
)

func (p sessionPane) next() sessionPane { return (p + 1) % sessionPanesN }

// sessionPanes splits a session view's height (below its summary line):
// connections get half, streams and events a quarter each; every pane
// has a title line and a header line. A short terminal shows the focused
// pane alone.
func sessionPanes(height int, pane sessionPane) (nc, ns, nt int, show [sessionPanesN]bool) {
	body := height - 6
	nc = max(body/2, 1)
	ns = max(body/4, 1)
	nt = max(body-nc-ns, 1)
	show = [sessionPanesN]bool{true, true, true}
	if body < 6 {
		show = [sessionPanesN]bool{}
		show[pane] = true
		nc, ns, nt = max(height-2, 1), max(height-2, 1), max(height-2, 1)
	}
	return nc, ns, nt, show
}
