package main

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/wealthwarriors/wealthcoach/actors"
	"github.com/wealthwarriors/wealthcoach/cluster"
	"github.com/wealthwarriors/wealthcoach/cmd/internal/config"
	"github.com/wealthwarriors/wealthcoach/store/redis"
)

// revokeTimeout bounds an operator's revocation on this node's registry.
const revokeTimeout = 2 * time.Second

// fleetRedis opens the client of cluster.redis_url (cache.url when empty).
func fleetRedis(cfg config.Config, log *slog.Logger) (*goredis.Client, error) {
	goredis.SetLogger(redisLogger{log})
	rdb, err := redis.NewClient(cmp.Or(cfg.Cluster.RedisURL, cfg.Cache.URL), redis.Options{})
	if err != nil {
		return nil, fmt.Errorf("cluster.redis_url: %w", err)
	}
	return rdb, nil
}

// newFleet makes this node's member of the fleet, or nil when
// cluster.enabled is off. node is read only once the fleet runs, after the
// node exists.
func newFleet(cfg config.Config, log *slog.Logger, nodeID string, node **actors.Node) (*cluster.Fleet, error) {
	if !cfg.Cluster.Enabled {
		return nil, nil
	}
	rdb, err := fleetRedis(cfg, log)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		log.Warn("cluster redis unreachable at start; limits apply per node until it is back",
			slog.String("error", err.Error()))
	}
	return cluster.New(cluster.Options{
		Client:   rdb,
		Prefix:   cfg.Cache.Prefix,
		NodeID:   nodeID,
		LeaseTTL: cfg.Cluster.LeaseTTL,
		Logger:   log,
		Local:    func() int64 { return (*node).Live() },
		Deliver:  func(m *actors.RelayMessage) { (*node).Deliver(m) },
		Revoke: func(userID string) {
			if n, err := (*node).Disconnect(userID, revokeTimeout); err != nil {
				log.Warn("revocation from the fleet: registry did not answer", slog.String("user", userID), slog.String("error", err.Error()))
			} else if n > 0 {
				log.Info("user sessions revoked", slog.String("user", userID), slog.Int("sessions", n))
			}
		},
	})
}
