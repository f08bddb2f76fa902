package device

// SetUserCodeDraw makes Start draw user codes from draw until restore is
// called, so that tests can force collisions.
func SetUserCodeDraw(draw func() string) (restore func()) {
	drawUserCode = draw
	return func() { drawUserCode = newUserCode }
}
