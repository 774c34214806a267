package opentok

// RendersService runs Experience Composer renders.
type RendersService service
