package ui

// TEMPORARY until hub.Connections lands (after the hub-tests merge).

import (
	"time"

	"github.com/ssehub/ssehub"
	"github.com/ssehub/ssehub/hub"
)

type connState string

type hubConnection struct {
	Stream, Client string
	Since          time.Time
	Filter         ssehub.Filter
	Format         string
	EpochIDs       bool
	TokenID        string
	State          connState
	Queued         int
	Position, Head uint64
	known          bool
}

func (c *hubConnection) Lag() (uint64, bool) { return c.Head - c.Position, c.known }

func listConnections(h *hub.Hub) []hubConnection { return nil }
