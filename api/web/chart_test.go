package web

import "testing"

func TestAxisScale(t *testing.T) {
	for _, tc := range []struct{ peak, top, step int64 }{
		{0, 1, 1}, {1, 1, 1}, {4, 4, 1}, {6, 6, 2}, {11, 15, 5}, {380, 400, 100}, {499_999, 500_000, 100_000},
	} {
		top, step := axisScale(tc.peak)
		if top != tc.top || step != tc.step || top < tc.peak || top/step > 5 {
			t.Errorf("axisScale(%d) = %d, %d; want %d, %d", tc.peak, top, step, tc.top, tc.step)
		}
	}
}
