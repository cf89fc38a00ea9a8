package config

import (
	"log/slog"
	"time"

	"github.com/wealthwarriors/wealthcoach/actors"
	"github.com/wealthwarriors/wealthcoach/transport"
)

// Config is the whole server configuration. The yaml tag of each field is
// its key in config.yaml and, upper-cased with dots as underscores behind
// the WEALTHCOACH_ prefix, its environment variable.
type Config struct {
	Server   Server   `yaml:"server"`
	Admin    Admin    `yaml:"admin"`
	Auth     Auth     `yaml:"auth"`
	Limits   Limits   `yaml:"limits"`
	History  History  `yaml:"history"`
	Audit    Audit    `yaml:"audit"`
	LLM      LLM      `yaml:"llm"`
	Coach    Coach    `yaml:"coach"`
	Store    Store    `yaml:"store"`
	Cache    Cache    `yaml:"cache"`
	Cluster  Cluster  `yaml:"cluster"`
	Stream   Stream   `yaml:"stream"`
	Shutdown Shutdown `yaml:"shutdown"`
	// Dev relaxes the checks meant for production: an empty auth.jwt_secret
	// is allowed (the server generates one), every browser origin is
	// accepted and logs default to text. Default false.
	Dev bool `yaml:"dev"`
	Log Log  `yaml:"log"`
}

// Server configures the public WebSocket listener.
type Server struct {
	// Listen is the address of the public listener. Default "127.0.0.1:8080".
	Listen string `yaml:"listen"`
	// AllowedOrigins lists the browser origins allowed to upgrade; "*"
	// allows all. Native apps send no Origin and are unaffected. Default []:
	// every browser origin is refused (outside dev mode).
	AllowedOrigins []string `yaml:"allowed_origins"`
	// TrustedProxies lists the CIDRs (or addresses) of the load balancers
	// whose X-Forwarded-For names the client for per-address limits and
	// logs; from any other peer the header is ignored. Default [].
	TrustedProxies []string `yaml:"trusted_proxies"`
	// WriteTimeout bounds one write to a client socket. Default 10s.
	WriteTimeout time.Duration `yaml:"write_timeout"`
	// PingInterval is how long a client may stay silent before it is sent a
	// WebSocket ping; one silent for three intervals is dropped, so that a
	// peer gone without a FIN does not hold its session. Default 30s.
	PingInterval time.Duration `yaml:"ping_interval"`
	// Compression negotiates permessage-deflate with clients that offer it.
	// Frames stay capped at limits.max_frame_bytes after decompression.
	// Default false.
	Compression bool `yaml:"compression"`
	// TLSCertFile is the PEM certificate (chain) the public listener serves
	// wss with; set together with TLSKeyFile. A replaced file is picked up
	// by new connections within 10s. Default "" (plain ws, e.g. behind a
	// proxy that terminates TLS).
	TLSCertFile string `yaml:"tls_cert_file"`
	// TLSKeyFile is the PEM private key of TLSCertFile. Default "".
	TLSKeyFile string `yaml:"tls_key_file"`
}

// Admin configures the operator listener (stats, metrics, health).
type Admin struct {
	// Listen is the address of the admin listener, never the public port.
	// Default "127.0.0.1:9090".
	Listen string `yaml:"listen"`
	// Token, when set, is the bearer token the admin endpoints require.
	// Default "" (no token).
	Token string `yaml:"token"`
}

// Auth configures how access tokens are verified.
type Auth struct {
	// JWTSecret is the HMAC key for HS* algorithms, at least 32 bytes outside
	// dev mode. Default "" (dev mode generates one).
	JWTSecret string `yaml:"jwt_secret"`
	// PublicKeyFile is the PEM public key for RS*, PS*, ES* and EdDSA.
	// Default "".
	PublicKeyFile string `yaml:"public_key_file"`
	// Algorithms is the allow-list of JWT algorithms; the token header never
	// chooses the key. Default ["HS256"].
	Algorithms []string `yaml:"algorithms"`
	// Issuer, when set, must equal the token's iss. Default "" (not checked).
	Issuer string `yaml:"issuer"`
	// Audience, when set, must be in the token's aud. Default "" (not checked).
	Audience string `yaml:"audience"`
	// UserClaim names the claim holding the user id. Default "sub".
	UserClaim string `yaml:"user_claim"`
	// Leeway is the clock skew tolerated on exp, nbf and iat. Default 30s.
	Leeway time.Duration `yaml:"leeway"`
	// Timeout is how long a connection may stay unauthenticated. Default 30s.
	Timeout time.Duration `yaml:"timeout"`
	// ExpireSessions ends a session when its token expires (leeway
	// included) unless the client sent a new token. Default false: a
	// session lasts as long as its socket.
	ExpireSessions bool `yaml:"expire_sessions"`
	// RefreshWarning is how long before the token's exp the client is told
	// token_expiring, with expire_sessions. Default 60s.
	RefreshWarning time.Duration `yaml:"refresh_warning"`
}

// Limits caps what one connection, one user and the node may use.
type Limits struct {
	// MaxConnectionsPerUser caps one user's live sessions. Default 3.
	MaxConnectionsPerUser int `yaml:"max_connections_per_user"`
	// MaxSessions caps the node's live sessions. Default 50000.
	MaxSessions int `yaml:"max_sessions"`
	// MaxUnauthenticated caps the node's connections that have not yet
	// authenticated, so idle sockets cannot exhaust it. Default 10000.
	MaxUnauthenticated int `yaml:"max_unauthenticated"`
	// MaxUnauthenticatedPerIP caps the connections from one client address
	// that have not authenticated yet; more are refused with HTTP 429
	// before the upgrade. Default 64.
	MaxUnauthenticatedPerIP int `yaml:"max_unauthenticated_per_ip"`
	// MaxMessageChars caps a chat message in Unicode characters after
	// trimming. Default 4000.
	MaxMessageChars int `yaml:"max_message_chars"`
	// MaxFrameBytes caps one incoming frame; larger ones close with 1009.
	// Default 65536.
	MaxFrameBytes int `yaml:"max_frame_bytes"`
	// MaxAuthFrameBytes caps the first frame, before authentication; at
	// most MaxFrameBytes. Default 8192.
	MaxAuthFrameBytes int `yaml:"max_auth_frame_bytes"`
	// FramesPerSecond is the refill rate of the per-connection flood guard.
	// Default 20.
	FramesPerSecond int `yaml:"frames_per_second"`
	// FrameBurst is the capacity of the per-connection flood guard.
	// Default 40.
	FrameBurst int `yaml:"frame_burst"`
	// MaxPendingBytes is how much outbound data may queue for one
	// connection before the slow client is dropped. Default 1048576.
	MaxPendingBytes int `yaml:"max_pending_bytes"`
}

// History configures the conversation memory sent with each request, and
// how conversations are kept in the store (SPEC 8.2).
type History struct {
	// MaxMessages is how many earlier messages (user and assistant each
	// count one) go to the model, and, with Persist, how many of the
	// conversation's last messages a session starts with. Default 10; 0
	// sends none.
	MaxMessages int `yaml:"max_messages"`
	// Persist keeps each user's conversation in the store, so that it
	// survives the socket; false keeps memory per session, as protocol 1.0
	// did. Default true.
	Persist bool `yaml:"persist"`
	// FlushInterval is how long the conversation writer gathers exchanges
	// before it writes them in one batch. Default 200ms.
	FlushInterval time.Duration `yaml:"flush_interval"`
	// Queue caps the exchanges waiting for the store through an outage;
	// past it the oldest are dropped and counted. Default 10000.
	Queue int `yaml:"queue"`
	// Retention prunes messages older than it, hourly: 0 or at least 1h.
	// Default 0 (keep).
	Retention time.Duration `yaml:"retention"`
}

// Audit configures the audit trail (SPEC 8.5).
type Audit struct {
	// Enabled stores one hash-chained record per answer that reached a
	// user. Default true.
	Enabled bool `yaml:"enabled"`
	// Retention prunes records older than it, hourly, re-anchoring each
	// chain: 0 or at least 1h. Default 0 (keep).
	Retention time.Duration `yaml:"retention"`
}

// LLM configures the model provider.
type LLM struct {
	// Provider is "openai" (any OpenAI-compatible endpoint) or "demo" (an
	// offline canned coach). Default "": openai when APIKey is set, else
	// demo; see Config.LLMProvider.
	Provider string `yaml:"provider"`
	// BaseURL is the OpenAI-compatible API root. Default
	// "https://api.openai.com/v1".
	BaseURL string `yaml:"base_url"`
	// APIKey is the provider's API key. Default "" (OPENAI_API_KEY is read too).
	APIKey string `yaml:"api_key"`
	// Model is the chat model name. Default "gpt-4o-mini".
	Model string `yaml:"model"`
	// Timeout bounds one whole request, streaming included. Default 60s.
	Timeout time.Duration `yaml:"timeout"`
	// MaxTokens caps the length of one answer. Default 800.
	MaxTokens int `yaml:"max_tokens"`
	// MaxAnswerBytes cuts an answer at this many bytes, on a character
	// boundary: the upstream call is cancelled and the answer ends with
	// finish_reason "length". It bounds what one answer costs in memory,
	// cache and frames whatever the model does. Default 32768.
	MaxAnswerBytes int `yaml:"max_answer_bytes"`
	// Temperature is the sampling temperature, 0 to 2. Default 0.7.
	Temperature float64 `yaml:"temperature"`
	// MaxRetries is how many times a 429 or 5xx is retried before the
	// first token. Default 2.
	MaxRetries int `yaml:"max_retries"`
	// RateLimit is the per-user token bucket for model calls.
	RateLimit RateLimit `yaml:"rate_limit"`
	// Budget caps each user's model tokens a day.
	Budget Budget `yaml:"budget"`
	// Fallbacks are OpenAI-compatible providers tried in order when the
	// primary fails before the first token, after its retries; their
	// answers are not cached. In the environment,
	// WEALTHCOACH_LLM_FALLBACKS holds the list as JSON. Default [].
	Fallbacks []Fallback `yaml:"fallbacks"`
	// Breaker skips a provider that keeps failing.
	Breaker Breaker `yaml:"breaker"`
}

// Budget is the per-user daily token budget (SPEC 8.5).
type Budget struct {
	// DailyTokens is each user's prompt and completion tokens, as the model
	// reports them, per UTC day; past it a question that misses the cache
	// gets budget_exceeded until 00:00 UTC. 0 is off. Counted per node.
	// Default 0.
	DailyTokens int `yaml:"daily_tokens"`
}

// Fallback is one provider of llm.fallbacks.
type Fallback struct {
	BaseURL string `yaml:"base_url" json:"base_url"`
	APIKey  string `yaml:"api_key" json:"api_key"`
	Model   string `yaml:"model" json:"model"`
}

// Breaker is the per-provider circuit breaker.
type Breaker struct {
	// Failures is how many failed requests in a row, retries included, make
	// a provider skipped for Cooldown. Default 5.
	Failures int `yaml:"failures"`
	// Cooldown is how long a failing provider is skipped before one request
	// probes it again. Default 30s.
	Cooldown time.Duration `yaml:"cooldown"`
}

// Coach configures what the coach tells every user.
type Coach struct {
	// Notice is the disclosure sent in every connected frame: the user talks
	// to an AI and gets general education, not personal advice. "" or off
	// turns it off (Load reads off as ""); in the environment, where an
	// empty variable counts as unset, WEALTHCOACH_COACH_NOTICE=off does.
	// Default "You are talking to an AI coach. It gives general financial education, not personal financial advice."
	Notice string `yaml:"notice"`
}

// DefaultNotice is coach.notice's default.
const DefaultNotice = "You are talking to an AI coach. It gives general financial education, not personal financial advice."

// RateLimit is a token bucket: PerMinute tokens a minute, at most Burst held.
type RateLimit struct {
	// PerMinute is the refill rate. Default 20.
	PerMinute int `yaml:"per_minute"`
	// Burst is the bucket's capacity. Default 5.
	Burst int `yaml:"burst"`
}

// Store configures the user and profile database.
type Store struct {
	// Driver is "sqlite" (embedded) or "postgres". Default "sqlite".
	Driver string `yaml:"driver"`
	// DSN is the SQLite file path or the PostgreSQL URL. Default
	// "wealthcoach.db" (DATABASE_URL is read too).
	DSN string `yaml:"dsn"`
	// MigrateOnStart applies pending migrations when the server starts.
	// Default true.
	MigrateOnStart bool `yaml:"migrate_on_start"`
	// ProfileQuery, when set, loads a user and profile from an existing
	// table: one parameter (the user id), named columns (see config.yaml).
	// Default "" (the built-in tables).
	ProfileQuery string `yaml:"profile_query"`
}

// Cache configures the response cache.
type Cache struct {
	// Driver is "memory" or "redis". Default "memory".
	Driver string `yaml:"driver"`
	// URL is the Redis URL, used when Driver is "redis". Default
	// "redis://127.0.0.1:6379/0" (REDIS_URL is read too).
	URL string `yaml:"url"`
	// Prefix goes before every key in Redis, so that deployments can share
	// one server. Default "wc:".
	Prefix string `yaml:"prefix"`
	// TTL is how long a cached answer lives. Default 24h.
	TTL time.Duration `yaml:"ttl"`
	// Scope is "user" (entries never cross users) or "shared". Default "user".
	Scope string `yaml:"scope"`
	// MaxEntries caps the number of entries in the memory cache.
	// Default 10000.
	MaxEntries int `yaml:"max_entries"`
}

// Cluster makes several nodes behave as one server through Redis (SPEC
// 8.4): fleet-wide connection caps, rate limits and budgets, revocation on
// every node, and a fleet view in /stats.
type Cluster struct {
	// Enabled turns the fleet on. Default false.
	Enabled bool `yaml:"enabled"`
	// RedisURL is the Redis the nodes share. Default "" (cache.url).
	RedisURL string `yaml:"redis_url"`
	// NodeID names this node in the fleet and in audit records; it must
	// differ between nodes. Default "" (generated at start).
	NodeID string `yaml:"node_id"`
	// LeaseTTL is how long a session's slot outlives its node: leases are
	// renewed every third of it, so a node that dies frees its users'
	// slots within it. Default 15s.
	LeaseTTL time.Duration `yaml:"lease_ttl"`
}

// Stream configures how answer text is coalesced into frames.
type Stream struct {
	// FlushInterval is the least time between two response frames after
	// the first. Default 30ms.
	FlushInterval time.Duration `yaml:"flush_interval"`
	// FlushBytes sends a frame early once this much text is pending.
	// Default 256.
	FlushBytes int `yaml:"flush_bytes"`
	// ResumeWindow is how long an answer goes on after its socket drops, so
	// that the client can reconnect and resume it; 0 cancels it at the drop,
	// as protocol 1.0 did. Default 30s.
	ResumeWindow time.Duration `yaml:"resume_window"`
}

// Shutdown configures the graceful stop.
type Shutdown struct {
	// DrainTimeout is how long answers in flight may finish before every
	// session is closed with 1001. Default 15s.
	DrainTimeout time.Duration `yaml:"drain_timeout"`
}

// Log configures the process logger.
type Log struct {
	// Level is debug, info, warn or error. Default "info".
	Level string `yaml:"level"`
	// Format is "json" or "text". Default "": json, or text in dev mode;
	// see Config.LogFormat.
	Format string `yaml:"format"`
}

// Default returns the built-in configuration: one machine, offline, with an
// embedded SQLite store, an in-memory cache and the demo model. Files and the
// environment override it. A key that a runtime package also defaults takes
// its value from that package's DefaultOptions, so the two cannot disagree;
// only what no runtime package knows (addresses, drivers, the model, logs)
// is written here.
func Default() Config {
	node := actors.DefaultOptions()
	chat := node.Chat
	ws := transport.DefaultOptions()
	return Config{
		Server: Server{
			Listen:         "127.0.0.1:8080",
			AllowedOrigins: []string{},
			TrustedProxies: []string{},
			WriteTimeout:   ws.WriteTimeout,
			PingInterval:   ws.PingInterval,
		},
		Admin: Admin{Listen: "127.0.0.1:9090"},
		Auth: Auth{
			Algorithms: []string{"HS256"},
			UserClaim:  "sub",
			Leeway:     30 * time.Second,
			Timeout:    node.AuthTimeout,

			RefreshWarning: node.RefreshWarning,
		},
		Limits: Limits{
			MaxConnectionsPerUser: node.MaxConnectionsPerUser,
			MaxSessions:           node.MaxSessions,
			MaxUnauthenticated:    node.MaxUnauthenticated,
			MaxMessageChars:       node.MaxMessageChars,
			MaxFrameBytes:         ws.MaxFrameBytes,
			MaxAuthFrameBytes:     ws.MaxAuthFrameBytes,
			FramesPerSecond:       int(ws.FramesPerSecond), // whole, as TestRuntimeDefaultsConvertExactly checks
			FrameBurst:            ws.FrameBurst,
			MaxPendingBytes:       int(ws.MaxPendingBytes),
			// The endpoint counts addresses, so the default is its own.
			MaxUnauthenticatedPerIP: ws.MaxUnauthenticatedPerIP,
		},
		History: History{
			MaxMessages:   10,
			Persist:       true,
			FlushInterval: node.JournalFlushInterval,
			Queue:         node.JournalQueue,
		},
		Audit: Audit{Enabled: true},
		LLM: LLM{
			BaseURL:        "https://api.openai.com/v1",
			Model:          "gpt-4o-mini",
			Timeout:        chat.Timeout,
			MaxTokens:      800,
			MaxAnswerBytes: chat.MaxAnswerBytes,
			Temperature:    0.7,
			MaxRetries:     2,
			Fallbacks:      []Fallback{},
			Breaker:        Breaker{Failures: 5, Cooldown: 30 * time.Second},
			RateLimit:      RateLimit{PerMinute: int(chat.RatePerMinute), Burst: chat.Burst},
		},
		Coach: Coach{Notice: DefaultNotice},
		Store: Store{Driver: "sqlite", DSN: "wealthcoach.db", MigrateOnStart: true},
		Cache: Cache{
			Driver:     "memory",
			URL:        "redis://127.0.0.1:6379/0",
			Prefix:     "wc:",
			TTL:        chat.CacheTTL,
			Scope:      "user",
			MaxEntries: 10000,
		},
		Cluster: Cluster{LeaseTTL: 15 * time.Second},
		Stream: Stream{
			FlushInterval: chat.FlushInterval,
			FlushBytes:    chat.FlushBytes,
			ResumeWindow:  30 * time.Second,
		},
		Shutdown: Shutdown{DrainTimeout: 15 * time.Second},
		Log:      Log{Level: "info"},
	}
}

// LLMProvider resolves llm.provider: an explicit value as is, otherwise
// "openai" when an API key is set and "demo" when not.
func (c Config) LLMProvider() string {
	switch {
	case c.LLM.Provider != "":
		return c.LLM.Provider
	case c.LLM.APIKey != "":
		return "openai"
	default:
		return "demo"
	}
}

// LogFormat resolves log.format: an explicit value as is, otherwise "text"
// in dev mode and "json" outside it.
func (c Config) LogFormat() string {
	switch {
	case c.Log.Format != "":
		return c.Log.Format
	case c.Dev:
		return "text"
	default:
		return "json"
	}
}

// LogLevel returns log.level as a slog level; Validate rejects unknown names.
func (c Config) LogLevel() slog.Level {
	var l slog.Level
	if err := l.UnmarshalText([]byte(c.Log.Level)); err != nil {
		return slog.LevelInfo
	}
	return l
}
