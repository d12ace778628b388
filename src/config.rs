//! Settings of a running server, filled from the command line (or the
//! environment) by `cli`, or directly by tests.

use std::net::SocketAddr;
use std::time::Duration;

/// Size limits on what clients may store (docs/contract.md §3; documented in api.yaml).
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_body_bytes: usize,
    pub max_room_chars: usize,
    pub max_author_chars: usize,
    pub max_bot_name_chars: usize,
    pub max_url_chars: usize,
    pub max_pattern_chars: usize,
    pub max_text_chars: usize,
    pub max_bots_per_room: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 1 << 20,
            max_room_chars: 256,
            max_author_chars: 256,
            max_bot_name_chars: 256,
            max_url_chars: 2048,
            max_pattern_chars: 2048,
            max_text_chars: 65_536,
            max_bots_per_room: 100,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    pub bind: SocketAddr,
    /// Database path, or `:memory:`.
    pub db: String,
    pub bot_timeout: Duration,
    pub bot_max_reply_bytes: usize,
    /// Reply bytes all bot calls may hold at once (see `BotCaller::new`).
    pub reply_bytes_in_flight: usize,
    /// Bot calls in flight at once: in all, in one room, for one client
    /// (see `calllimits`).
    pub bot_calls_in_flight: usize,
    pub bot_calls_in_flight_per_room: usize,
    pub bot_calls_in_flight_per_client: usize,
    /// Bot tests and replays a minute, per client and per bot (0: no limit).
    pub bot_tests_per_minute_per_client: f64,
    pub bot_tests_per_minute_per_bot: f64,
    pub limits: Limits,
    /// Events a websocket subscriber may fall behind before it is closed.
    pub ws_lag_events: usize,
    /// Bytes of frames a room keeps for subscribers that have not read
    /// them; one further behind is closed (it resumes with `since`).
    pub ws_lag_bytes: usize,
    /// How long one websocket send may block before the client is dropped.
    pub ws_send_timeout: Duration,
    /// How long in-flight requests get to finish at shutdown.
    pub shutdown_grace: Duration,
    /// Messages read per page when streaming history (GET) and replaying
    /// it (websocket): bounds the memory one long history takes.
    pub history_page: usize,
    pub replay_page: usize,
    /// Bot calls kept per room for the bot-call log.
    pub bot_calls_per_room: usize,
    /// Peers whose `X-Forwarded-For`/`-Proto` headers are believed.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Networks bots may be called on whoever saved them, besides the
    /// public internet (see `netguard`).
    pub allow_bot_networks: Vec<ipnet::IpNet>,
    /// Trust everyone, as the original did: no cross-site check, `/metrics`
    /// open (see `http::crosssite`).
    pub open: bool,
    /// Other sites' origins whose pages may change things here
    /// (`scheme://host[:port]`, lower case).
    pub allow_origins: Vec<String>,
    /// The tutor's token, if one is configured (never logged).
    pub tutor_token: Option<String>,
    /// Posts per second a room accepts in the long run (0: no limit), and
    /// how many it accepts at once.
    pub room_rate_limit: f64,
    pub room_rate_burst: u32,
    /// Posts per second one client (not on this machine) may send in the
    /// long run (0: no limit), and how many at once.
    pub client_rate_limit: f64,
    pub client_rate_burst: u32,
    /// Messages one post may cause, bot replies and notices included
    /// (0: no bound; see `cascade`).
    pub max_messages_per_post: u32,
    /// A bot's failures of one kind closer together than this are told
    /// once (see `episodes`).
    pub failure_notice_gap: Duration,
}

/// Loopback: a reverse proxy on the same machine.
pub fn loopback_nets() -> Vec<ipnet::IpNet> {
    ["127.0.0.0/8", "::1/128"]
        .iter()
        .filter_map(|n| n.parse().ok())
        .collect()
}

impl Default for Config {
    fn default() -> Self {
        Config {
            bind: SocketAddr::from(([127, 0, 0, 1], 6277)),
            db: "necsus.db".to_owned(),
            bot_timeout: Duration::from_secs(120),
            bot_max_reply_bytes: 8 << 20,
            reply_bytes_in_flight: 64 << 20,
            bot_calls_in_flight: 1024,
            bot_calls_in_flight_per_room: 64,
            bot_calls_in_flight_per_client: 64,
            bot_tests_per_minute_per_client: 60.0,
            bot_tests_per_minute_per_bot: 120.0,
            limits: Limits::default(),
            ws_lag_events: 1024,
            ws_lag_bytes: 32 << 20,
            ws_send_timeout: Duration::from_secs(10),
            shutdown_grace: Duration::from_secs(30),
            history_page: 5000,
            replay_page: 1000,
            bot_calls_per_room: 200,
            trusted_proxies: loopback_nets(),
            allow_bot_networks: Vec::new(),
            open: false,
            allow_origins: Vec::new(),
            tutor_token: None,
            room_rate_limit: 20.0,
            room_rate_burst: 120,
            client_rate_limit: 5.0,
            client_rate_burst: 20,
            max_messages_per_post: 200,
            failure_notice_gap: Duration::from_secs(3),
        }
    }
}
