//! Identity settings: which ways of proving an identity the node accepts,
//! the keys it verifies and signs tokens with, guest sessions, and the
//! browser origins allowed to open `/ws`.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};
use serde::{Deserialize, Serialize};

/// A way a player may prove who they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AuthMode {
    /// JWTs from the game's login service or an identity provider, verified
    /// with `--jwt-secret-file`/`TICKFORGE_JWT_SECRET`, `--jwt-public-key-file`
    /// or `--jwks-file`.
    Jwt,
    /// Guest sessions the node signs itself, from `POST /auth/guest`.
    Guest,
    /// `Hello.player_id` taken on trust when Hello has no token: local
    /// development and tests only (refused unless `--listen` is loopback).
    TrustHello,
}

impl AuthMode {
    /// Stable label (logs, `/readyz`, metrics).
    pub fn label(self) -> &'static str {
        match self {
            AuthMode::Jwt => "jwt",
            AuthMode::Guest => "guest",
            AuthMode::TrustHello => "trust-hello",
        }
    }
}

/// The algorithm of the key in `--jwt-public-key-file`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
pub enum PublicKeyAlg {
    /// Ed25519 (`alg: EdDSA`).
    #[value(name = "EdDSA")]
    EdDSA,
    /// RSA with SHA-256 (`alg: RS256`).
    #[value(name = "RS256")]
    RS256,
    /// ECDSA P-256 with SHA-256 (`alg: ES256`).
    #[value(name = "ES256")]
    ES256,
}

/// Identity and access settings.
#[derive(Debug, Clone, Args, Serialize, Deserialize)]
pub struct AuthOptions {
    /// Accepted identities, comma-separated: `jwt`, `guest`, `trust-hello`.
    /// Default: `guest` with no JWT key configured, `jwt` with one (list
    /// `jwt,guest` for both). Tokens signed with the session key (`tickforge
    /// token mint`, the swarm's bots) are accepted in every mode.
    #[arg(long = "auth", env = "TICKFORGE_AUTH", value_delimiter = ',')]
    pub auth: Vec<AuthMode>,
    /// Key file tokens the node issues are signed with (`tickforge token
    /// keygen > FILE`; Ed25519 or HMAC, one or two keys: the first signs).
    /// Without it a random key is generated at start: sessions then do not
    /// survive a restart or move between nodes. Required with Redis presence.
    #[arg(long, env = "TICKFORGE_SESSION_KEY_FILE", global = true)]
    pub session_key_file: Option<PathBuf>,
    /// File holding the HS256 secret shared with the game's login service.
    #[arg(long, env = "TICKFORGE_JWT_SECRET_FILE")]
    pub jwt_secret_file: Option<PathBuf>,
    /// The HS256 secret itself (prefer the file; never put it in a TOML file).
    #[arg(long, env = "TICKFORGE_JWT_SECRET", hide_env_values = true)]
    #[serde(skip)]
    pub jwt_secret: Option<String>,
    /// PEM file with the identity provider's public key (SPKI).
    #[arg(long, env = "TICKFORGE_JWT_PUBLIC_KEY_FILE")]
    pub jwt_public_key_file: Option<PathBuf>,
    /// Algorithm of `--jwt-public-key-file`: `EdDSA`, `RS256` or `ES256`;
    /// tokens with any other `alg` are refused.
    #[arg(
        long,
        env = "TICKFORGE_JWT_PUBLIC_KEY_ALG",
        value_enum,
        default_value = "EdDSA"
    )]
    pub jwt_public_key_alg: PublicKeyAlg,
    /// JWKS document (a JSON Web Key Set file); keys are chosen by `kid`.
    /// Re-read every `--jwks-refresh-s` and when a token names an unknown
    /// `kid` (at most once per 10 s).
    #[arg(long, env = "TICKFORGE_JWKS_FILE")]
    pub jwks_file: Option<PathBuf>,
    /// JWKS document URL (HTTP or HTTPS, e.g. an identity provider's
    /// `…/.well-known/jwks.json`), fetched at start by a thread of its own,
    /// then every `--jwks-refresh-s` and on an unknown `kid`.
    #[arg(long, env = "TICKFORGE_JWKS_URL")]
    pub jwks_url: Option<String>,
    /// Period of re-reading `--jwks-file` or re-fetching `--jwks-url`, in seconds.
    #[arg(long, env = "TICKFORGE_JWKS_REFRESH_S", default_value_t = 300)]
    pub jwks_refresh_s: u64,
    /// Required `aud` of JWTs from the login service or identity provider.
    #[arg(long, env = "TICKFORGE_JWT_AUDIENCE")]
    pub jwt_audience: Option<String>,
    /// Required `iss` of JWTs from the login service or identity provider.
    #[arg(long, env = "TICKFORGE_JWT_ISSUER")]
    pub jwt_issuer: Option<String>,
    /// Clock skew allowed when checking `exp`, `nbf` and `iat`, in seconds.
    #[arg(long, env = "TICKFORGE_AUTH_CLOCK_SKEW_S", default_value_t = 30)]
    pub auth_clock_skew_s: u64,
    /// Lifetime of a guest session token, in seconds (a connection stays
    /// open after its token expires; a reconnect needs a fresh token).
    #[arg(long, env = "TICKFORGE_GUEST_TOKEN_TTL_S", default_value_t = 86_400)]
    pub guest_token_ttl_s: u64,
    /// Guest sessions one client IP may start per minute (burst: the same
    /// number); beyond it `POST /auth/guest` answers 429 with Retry-After.
    #[arg(long, env = "TICKFORGE_GUEST_LOGINS_PER_MINUTE", default_value_t = 10)]
    pub guest_logins_per_minute: u32,
    /// Browser origins allowed to open `/ws`, comma-separated: exact
    /// (`https://game.example.com`) or a wildcard subdomain
    /// (`https://*.example.com`). Pages served by this node (same host) and
    /// clients that send no Origin (native clients, bots) are always allowed;
    /// any other browser origin gets HTTP 403 before the upgrade.
    #[arg(long, env = "TICKFORGE_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub allowed_origins: Vec<String>,
}

impl AuthOptions {
    /// True when a key for third-party JWTs is configured.
    pub fn has_jwt_key(&self) -> bool {
        self.jwt_secret_file.is_some()
            || self.jwt_secret.is_some()
            || self.jwt_public_key_file.is_some()
            || self.jwks_file.is_some()
            || self.jwks_url.is_some()
    }

    /// The accepted modes after applying the default.
    pub fn modes(&self) -> Vec<AuthMode> {
        if !self.auth.is_empty() {
            let mut modes = self.auth.clone();
            modes.dedup();
            return modes;
        }
        if self.has_jwt_key() {
            vec![AuthMode::Jwt]
        } else {
            vec![AuthMode::Guest]
        }
    }

    /// Clock skew as a duration.
    pub fn clock_skew(&self) -> Duration {
        Duration::from_secs(self.auth_clock_skew_s)
    }

    /// Guest token lifetime as a duration.
    pub fn guest_ttl(&self) -> Duration {
        Duration::from_secs(self.guest_token_ttl_s.max(60))
    }

    /// A problem clap cannot express, if any. `listen_is_loopback`: the
    /// public listener's address; `shared_cluster`: Redis presence is on.
    pub fn problem(&self, listen_is_loopback: bool, shared_cluster: bool) -> Option<String> {
        let modes = self.modes();
        if modes.contains(&AuthMode::TrustHello) && !listen_is_loopback {
            return Some(
                "--auth trust-hello takes player ids on trust: it is refused unless --listen \
                 is a loopback address (local development and tests only)"
                    .into(),
            );
        }
        if modes.contains(&AuthMode::Jwt) && !self.has_jwt_key() {
            return Some(
                "--auth jwt needs a key: --jwt-secret-file, TICKFORGE_JWT_SECRET, \
                 --jwt-public-key-file, --jwks-file or --jwks-url"
                    .into(),
            );
        }
        if shared_cluster && self.session_key_file.is_none() {
            return Some(
                "with --presence redis://… every node must sign and verify sessions with the \
                 same key: pass --session-key-file (tickforge token keygen > FILE)"
                    .into(),
            );
        }
        if self.jwks_file.is_some() && self.jwks_url.is_some() {
            return Some("give --jwks-file or --jwks-url, not both".into());
        }
        if let Some(url) = &self.jwks_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Some(format!("--jwks-url `{url}` must be http:// or https://"));
        }
        if self.guest_logins_per_minute == 0 {
            return Some("--guest-logins-per-minute must be positive".into());
        }
        for origin in &self.allowed_origins {
            if !(origin.starts_with("http://") || origin.starts_with("https://")) {
                return Some(format!(
                    "--allowed-origins: `{origin}` must start with http:// or https://"
                ));
            }
        }
        None
    }
}
