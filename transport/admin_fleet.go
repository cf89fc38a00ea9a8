package transport

import (
	"context"
	"errors"

	"github.com/wealthwarriors/wealthcoach/cluster"
)

// Fleet is the cluster a node belongs to, as the operator endpoints use
// it: package cluster's Fleet.
type Fleet interface {
	// Report is the fleet as the node last read it; it does no I/O.
	Report() cluster.View
	// Revoke tells every other node to close a user's sessions and
	// returns how many nodes heard it, this one included.
	Revoke(ctx context.Context, userID string) (int64, error)
}

var _ Fleet = (*cluster.Fleet)(nil)

// errFleetDegraded is the readiness report of a degraded fleet: the node
// serves on its own limits, so /readyz stays 200 (SPEC 8.6).
var errFleetDegraded = errors.New("redis unreachable: connection cap, rate limit and budget apply per node")

// fleetCheck reads the fleet's state for /readyz without I/O of its own:
// the fleet's periodic work is what finds Redis gone or back.
func fleetCheck(f Fleet) func(context.Context) error {
	return func(context.Context) error {
		if f.Report().Degraded {
			return errFleetDegraded
		}
		return nil
	}
}

// addFleetMetrics exports the fleet view; nothing when the node is alone.
func (c *adminCollector) addFleetMetrics(f Fleet) {
	if f == nil {
		return
	}
	read := func(get func(cluster.View) int64) func() []seriesValue {
		return func() []seriesValue { return []seriesValue{{value: get(f.Report())}} }
	}
	c.value("wealthcoach_cluster_degraded", "1 while Redis is unreachable and the node applies its own limits.", "", promGauge,
		read(func(v cluster.View) int64 { return boolValue(v.Degraded) }))
	c.value("wealthcoach_cluster_nodes", "Live nodes of the fleet, from their heartbeats.", "", promGauge,
		read(func(v cluster.View) int64 { return int64(len(v.Nodes)) }))
	c.value("wealthcoach_cluster_sessions", "Live sessions over the fleet.", "", promGauge,
		read(func(v cluster.View) int64 { return v.Sessions }))
	c.value("wealthcoach_cluster_users", "Distinct users holding a connection lease in the fleet.", "", promGauge,
		read(func(v cluster.View) int64 { return v.Users }))
	c.value("wealthcoach_cluster_fallbacks_total", "Decisions taken on the node's own limits because Redis could not be asked.", "", promCounter,
		read(func(v cluster.View) int64 { return v.Fallbacks }))
	c.value("wealthcoach_cluster_errors_total", "Failed calls to the fleet's Redis.", "", promCounter,
		read(func(v cluster.View) int64 { return v.Errors }))
	c.value("wealthcoach_cluster_leases_refused_total", "Sessions refused because the user's fleet-wide cap was full.", "", promCounter,
		read(func(v cluster.View) int64 { return v.Refused }))
}
