package aws

// Unexported helpers under test.
var (
	MapError       = mapError
	MapState       = mapState
	TransitionTime = transitionTime
	ClientToken    = clientToken
)
