package opentok

// StreamsService lists and inspects streams and sets their layout classes.
type StreamsService service
