package testenv

import (
	"bytes"
	"sync"
)

// Buffer collects output written from several goroutines (a child's
// stdout and stderr, a logger), for assertions and failure messages.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
