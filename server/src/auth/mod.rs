//! Identity and access: who a connection is, and whether it may be.
//!
//! A Hello carries a session token; [`Auth::identify`] verifies it before
//! anything else, and the player id is the token's subject. Tokens come from
//! the game's login service or an identity provider (`jwt`), from the node
//! itself (`guest` sessions, `tickforge token mint`, the swarm's bots; signed
//! with the session key), or — only in `trust-hello` mode, for local
//! development — there is no token and `Hello.player_id` is believed.
//!
//! | file | owns |
//! |---|---|
//! | [`options`] | `--auth`, keys, skew, guest rate, allowed origins |
//! | [`verify`] | the checks a token goes through, in order |
//! | [`external`] | third-party keys: HS256 secret, PEM public key |
//! | [`jwks`] | JWKS documents from a file or a URL, refreshed |
//! | [`refusal`] | why a token was refused (close reason, metric label) |
//! | [`resume`] | resume tokens: signed for Welcome, checked at a resuming Hello |
//! | [`name`] | display names: cleaned, length-limited |
//! | [`guest`] | guest ids and the per-IP guest login rate |
//! | [`sessions`] | one live session per player; replace, kick |
//! | [`bans`] | banned player ids until a time |
//! | [`origin`] | which browser origins may open `/ws` |

pub mod bans;
pub mod external;
pub mod guest;
pub mod jwks;
pub mod name;
pub mod options;
pub mod origin;
pub mod refusal;
pub mod resume;
pub mod sessions;
pub mod verify;

use std::sync::Arc;

use tickforge_protocol::session_token::{Claims, KeyError, SessionKeys};

pub use options::{AuthMode, AuthOptions};
pub use refusal::AuthRefusal;

use crate::net::close::Disconnect;

/// How an identity was established.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdentityKind {
    /// A JWT from the game's login service or an identity provider.
    Jwt,
    /// A token the node's session key signed (mint, swarm, resume).
    Session,
    /// A guest session from `POST /auth/guest`.
    Guest,
    /// `Hello.player_id` taken on trust (`--auth trust-hello`).
    TrustHello,
}

impl IdentityKind {
    /// Every kind, for registering metrics at zero.
    pub const ALL: [IdentityKind; 4] = [
        IdentityKind::Jwt,
        IdentityKind::Session,
        IdentityKind::Guest,
        IdentityKind::TrustHello,
    ];

    /// Stable label (metric `kind`).
    pub fn label(self) -> &'static str {
        match self {
            IdentityKind::Jwt => "jwt",
            IdentityKind::Session => "session",
            IdentityKind::Guest => "guest",
            IdentityKind::TrustHello => "trust_hello",
        }
    }
}

/// A verified player.
#[derive(Debug, Clone)]
pub struct Identity {
    /// The token's subject: keys saved state and presence; never shown to
    /// other players.
    pub player_id: Arc<str>,
    /// What other players see.
    pub name: Arc<str>,
    /// How it was established.
    pub kind: IdentityKind,
}

/// Why the node could not set up identity checks.
#[derive(Debug, thiserror::Error)]
pub enum AuthSetupError {
    /// The session key file is unusable.
    #[error("session key: {0}")]
    SessionKey(#[from] KeyError),
    /// A third-party key is unusable.
    #[error("JWT key: {0}")]
    External(#[from] external::KeyLoadError),
}

/// The node's identity checks, keys and access lists.
pub struct Auth {
    modes: Vec<AuthMode>,
    session: SessionKeys,
    external: external::ExternalKeys,
    skew_s: u64,
    audience: Option<String>,
    issuer: Option<String>,
    guest_ttl: std::time::Duration,
    /// Per-IP rate of guest logins.
    pub guest_limiter: guest::GuestLimiter,
    /// Banned players.
    pub bans: bans::Bans,
    /// The live session of each player on this node.
    pub live: sessions::LiveSessions,
    /// Browser origins allowed to open `/ws`.
    pub origins: origin::OriginPolicy,
    /// Seats held for a resume on this node (ended by a newer login, a
    /// kick or a ban).
    pub resume: Arc<crate::resume::ResumeRegistry>,
}

impl Auth {
    /// Loads the keys `options` names (a random session key without a file).
    pub fn new(options: &AuthOptions) -> Result<Auth, AuthSetupError> {
        let session = match &options.session_key_file {
            Some(path) => SessionKeys::load(path)?,
            None => {
                tracing::warn!(
                    "no --session-key-file: signing sessions with a random key; guest sessions \
                     will not survive a restart or move between nodes"
                );
                SessionKeys::ephemeral()?
            }
        };
        let modes = options.modes();
        let external = if modes.contains(&AuthMode::Jwt) {
            external::ExternalKeys::load(options)?
        } else {
            external::ExternalKeys::default()
        };
        if modes.contains(&AuthMode::TrustHello) {
            tracing::warn!(
                "--auth trust-hello: Hello without a token is believed; for local development \
                 and tests only"
            );
        }
        let labels: Vec<_> = modes.iter().map(|m| m.label()).collect();
        tracing::info!(modes = %labels.join(","), "identity checks");
        Ok(Auth {
            modes,
            session,
            external,
            skew_s: options.auth_clock_skew_s,
            audience: options.jwt_audience.clone(),
            issuer: options.jwt_issuer.clone(),
            guest_ttl: options.guest_ttl(),
            guest_limiter: guest::GuestLimiter::new(options.guest_logins_per_minute),
            bans: bans::Bans::default(),
            live: sessions::LiveSessions::default(),
            origins: origin::OriginPolicy::new(&options.allowed_origins),
            resume: Arc::new(crate::resume::ResumeRegistry::new(
                "",
                std::time::Duration::ZERO,
            )),
        })
    }

    /// Uses `resume` as the node's resume registry (resume stays off
    /// without it).
    pub fn with_resume(mut self, resume: Arc<crate::resume::ResumeRegistry>) -> Auth {
        self.resume = resume;
        self
    }

    /// Closes `player`'s session here with `cause` and ends a seat held
    /// for it; true if either was here.
    pub fn close_player(&self, player: &str, cause: Disconnect) -> bool {
        let live = self.live.close(player, cause);
        let held = self.resume.end_held(player);
        live || held
    }

    /// The JWKS document fetched from a URL, if any: its fetcher thread
    /// must run ([`jwks::Jwks::run_fetcher`]).
    pub fn jwks_fetcher(&self) -> Option<Arc<jwks::Jwks>> {
        self.external.jwks().filter(|j| j.is_url()).cloned()
    }

    /// The accepted modes.
    pub fn modes(&self) -> &[AuthMode] {
        &self.modes
    }

    /// True when `POST /auth/guest` issues sessions.
    pub fn guest_enabled(&self) -> bool {
        self.modes.contains(&AuthMode::Guest)
    }

    /// True in `trust-hello` mode.
    pub fn trusts_hello(&self) -> bool {
        self.modes.contains(&AuthMode::TrustHello)
    }

    /// The identity a Hello proves, or the disconnect it earns: 4003 with
    /// the failed check, or 4004 for a banned player.
    pub fn identify(
        &self,
        hello_player_id: &str,
        token: Option<&str>,
    ) -> Result<Identity, Disconnect> {
        let identity = match token {
            Some(token) if !token.is_empty() => {
                self.verify(token).map_err(Disconnect::Unauthorized)?
            }
            _ if self.trusts_hello() => {
                if hello_player_id.is_empty() || hello_player_id.len() > verify::MAX_PLAYER_ID_BYTES
                {
                    return Err(Disconnect::InvalidHello);
                }
                Identity {
                    player_id: Arc::from(hello_player_id),
                    name: Arc::from(
                        name::sanitize(hello_player_id)
                            .unwrap_or_else(|| name::anonymous(hello_player_id)),
                    ),
                    kind: IdentityKind::TrustHello,
                }
            }
            _ => return Err(Disconnect::Unauthorized(AuthRefusal::Missing)),
        };
        if !hello_player_id.is_empty() && hello_player_id != &*identity.player_id {
            return Err(Disconnect::Unauthorized(AuthRefusal::SubjectMismatch));
        }
        if self.bans.is_banned(&identity.player_id) {
            return Err(Disconnect::Banned);
        }
        Ok(identity)
    }

    /// Signs a guest session for a new random player; returns the token,
    /// the player id, the name and the expiry (UNIX seconds).
    pub fn issue_guest(&self, name: Option<&str>) -> Result<GuestSession, KeyError> {
        let player_id = guest::new_player_id();
        let name = name
            .and_then(name::sanitize)
            .unwrap_or_else(guest::default_name);
        let mut claims = Claims::new(player_id.clone(), Some(name.clone()), self.guest_ttl);
        claims.guest = true;
        let token = self.session.mint(&claims)?;
        Ok(GuestSession {
            token,
            player_id,
            name,
            expires_at: claims.exp,
        })
    }

    /// Signs a token for `player` with the session key (tests, tools).
    pub fn mint(&self, claims: &Claims) -> Result<String, KeyError> {
        self.session.mint(claims)
    }
}

impl crate::presence::AccessSink for Auth {
    fn apply(&self, action: &crate::presence::AccessAction) {
        use crate::presence::AccessAction;
        match action {
            AccessAction::Replace { player, at_us } => {
                if self.live.replace_if_older(player, *at_us) {
                    crate::metrics::session_replaced();
                }
                // A newer login elsewhere that did not resume gives up a held seat here.
                self.resume.end_held(player);
            }
            AccessAction::Kick { player } => {
                self.close_player(player, Disconnect::Kicked);
            }
            AccessAction::Ban { player, until_ms } => {
                if let Err(e) = self.bans.ban_until(player, *until_ms) {
                    tracing::error!(error = %e, "ban from another node not applied");
                }
                self.close_player(player, Disconnect::Banned);
            }
            AccessAction::Unban { player } => {
                self.bans.unban(player);
            }
        }
    }
}

/// What `POST /auth/guest` returns.
#[derive(Debug, Clone, serde::Serialize)]
pub struct GuestSession {
    /// The signed session token for Hello.
    pub token: String,
    /// The new player id (the token's subject).
    pub player_id: String,
    /// The display name.
    pub name: String,
    /// Expiry, seconds since the UNIX epoch.
    pub expires_at: u64,
}
