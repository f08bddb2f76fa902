package oidc

import (
	"context"
	"sync"
	"time"
)

// DecisionTTL bounds how long a cached "may use" decision is believed.
//
// A change of access bumps the workspace generation in the same
// transaction, so the next request (which reads the generation anyway, in
// Active's one query) misses the cache at once, on every replica. The TTL
// covers the one gap: a request that comes after the bump but before the
// outbox has applied the change to OpenFGA may cache the old answer under
// the new generation. So a revocation is refused by every replica at most
// DecisionTTL after OpenFGA has it (which is before the admin's call
// returns, unless that call reported the change as pending).
const DecisionTTL = time.Second

// decisionCache remembers can_use answers per session and workspace
// generation, for the hot path of the instance API.
type decisionCache struct {
	mu      sync.Mutex
	entries map[decisionKey]decision
	now     func() time.Time
}

type decisionKey struct {
	session    string
	generation int64
}

type decision struct {
	allowed bool
	until   time.Time
}

// maxDecisions bounds the cache's memory; past it, the cache is emptied
// (rare: one entry per active session).
const maxDecisions = 100_000

func (d *decisionCache) canUse(ctx context.Context, p *Provider, session string, generation int64, userID, instanceID string) (bool, error) {
	key := decisionKey{session, generation}
	now := d.now()
	d.mu.Lock()
	e, ok := d.entries[key]
	d.mu.Unlock()
	if ok && now.Before(e.until) {
		return e.allowed, nil
	}
	allowed, err := p.canUse(ctx, userID, instanceID)
	if err != nil {
		return false, err
	}
	d.mu.Lock()
	if d.entries == nil || len(d.entries) >= maxDecisions {
		d.entries = make(map[decisionKey]decision)
	}
	d.entries[key] = decision{allowed: allowed, until: now.Add(DecisionTTL)}
	d.mu.Unlock()
	return allowed, nil
}
