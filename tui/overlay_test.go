package tui

// Accessors the tests read overlays through; the console itself asks only
// for the question and the form (overlays.ask, overlays.form).

func (o overlays) shown() *shown       { return overlayOf[*shown](o) }
func (o overlays) prompt() *promptLine { return overlayOf[*promptLine](o) }
func (o overlays) help() bool          { return overlayOf[*helpScreen](o) != nil }
