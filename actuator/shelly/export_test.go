package shelly

// ChallengeFromBody exposes the JSON-RPC 401 challenge parser to tests.
func ChallengeFromBody(b []byte) (realm, nonce string, ok bool) {
	c, ok := challengeFromBody(b)
	return c.Realm, c.Nonce, ok
}
