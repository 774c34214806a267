package opentok

// ArchivesService records sessions.
type ArchivesService service
