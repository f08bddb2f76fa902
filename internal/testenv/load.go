package testenv

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// LoadResult is one load run's throughput and latency.
type LoadResult struct {
	Name     string
	RPS      float64
	P50, P99 time.Duration
}

// Load runs op b.N times from concurrency goroutines (a closed loop: each
// starts its next call when the last returns), reports req/s, p50 and p99
// as benchmark metrics, and returns them. op gets the call's number; an
// error fails the benchmark.
func Load(b *testing.B, name string, concurrency int, op func(i int) error) LoadResult {
	var result LoadResult
	b.Run(name, func(b *testing.B) {
		var next atomic.Int64
		latencies := make([][]time.Duration, concurrency)
		var wg sync.WaitGroup
		b.ResetTimer()
		start := time.Now()
		for w := range concurrency {
			wg.Go(func() {
				for {
					i := int(next.Add(1)) - 1
					if i >= b.N {
						return
					}
					t0 := time.Now()
					if err := op(i); err != nil {
						b.Error(err)
						return
					}
					latencies[w] = append(latencies[w], time.Since(t0))
				}
			})
		}
		wg.Wait()
		elapsed := time.Since(start)
		all := slices.Concat(latencies...)
		if len(all) == 0 {
			return
		}
		slices.Sort(all)
		result = LoadResult{Name: name, RPS: float64(len(all)) / elapsed.Seconds(), P50: all[len(all)/2], P99: all[len(all)*99/100]}
		b.ReportMetric(result.RPS, "req/s")
		b.ReportMetric(float64(result.P50.Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(result.P99.Microseconds())/1000, "p99-ms")
	})
	return result
}

// LoadTable formats results with each one's throughput as a ratio of the
// first's (the ceiling or the baseline).
func LoadTable(results ...LoadResult) string {
	var t strings.Builder
	fmt.Fprintf(&t, "\n%-28s %10s %8s %8s %8s\n", "run", "req/s", "p50 ms", "p99 ms", "ratio")
	for _, r := range results {
		ratio := 0.0
		if results[0].RPS > 0 {
			ratio = r.RPS / results[0].RPS
		}
		fmt.Fprintf(&t, "%-28s %10.0f %8.2f %8.2f %8.2f\n", r.Name, r.RPS,
			float64(r.P50.Microseconds())/1000, float64(r.P99.Microseconds())/1000, ratio)
	}
	return t.String()
}
