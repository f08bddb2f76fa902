package api

import (
	"context"
	"net/netip"

	"github.com/gin-gonic/gin"

	"github.com/caido-cloud/caido-cloud/access"
)

// actorContext is the request's context carrying who makes the change it
// asks for, so that the audit log records the user and the client address.
// The address is clientIP's: the socket's, unless a trusted proxy says
// otherwise.
func actorContext(c *gin.Context, userID string) context.Context {
	ip, _ := netip.ParseAddr(clientIP(c.Request))
	return access.WithActor(c.Request.Context(), access.Actor{UserID: userID, IP: ip.Unmap()})
}
