//! Identity and access metrics: sessions accepted by kind, refusals by
//! reason, guest logins, replaced sessions, refused browser origins, and
//! whether the node believes Hello without a token.

use metrics::{counter, describe_counter, describe_gauge, gauge};

use crate::auth::{AuthRefusal, IdentityKind};

/// Hellos accepted (counter; label `kind` = [`IdentityKind::label`]).
pub const AUTH_ACCEPTED: &str = "tickforge_auth_accepted_total";
/// Hellos refused (counter; label `reason` = [`AuthRefusal::label`] or `banned`).
pub const AUTH_REFUSED: &str = "tickforge_auth_refused_total";
/// 1 when `--auth trust-hello` is on: Hello without a token is believed (gauge).
pub const AUTH_TRUST_HELLO: &str = "tickforge_auth_trust_hello";
/// Guest sessions issued by `POST /auth/guest` (counter).
pub const GUEST_ISSUED: &str = "tickforge_guest_sessions_issued_total";
/// Guest sessions refused (counter; label `reason`: `rate`, `busy`, `disabled`).
pub const GUEST_REFUSED: &str = "tickforge_guest_sessions_refused_total";
/// Live sessions closed because a newer login of the same player arrived (counter).
pub const SESSIONS_REPLACED: &str = "tickforge_sessions_replaced_total";
/// WebSocket upgrades refused for their browser Origin (counter).
pub const ORIGIN_REFUSED: &str = "tickforge_origin_refused_total";

/// JWKS document loads (counter; label `result`: `ok`, `error`).
pub const JWKS_REFRESHES: &str = "tickforge_jwks_refreshes_total";

/// `reason` of [`AUTH_REFUSED`] for a banned player.
pub const REFUSED_BANNED: &str = "banned";
/// `reason` of [`GUEST_REFUSED`] when guest sessions are switched off.
pub const GUEST_DISABLED: &str = "disabled";

/// Registers the identity series at zero, with their help texts.
pub fn register_auth(trust_hello: bool) {
    describe_counter!(
        AUTH_ACCEPTED,
        "Hellos accepted, by how the identity was established."
    );
    describe_counter!(AUTH_REFUSED, "Hellos refused, by the check that failed.");
    describe_gauge!(
        AUTH_TRUST_HELLO,
        "1 when Hello without a token is believed (--auth trust-hello: development only)."
    );
    describe_counter!(GUEST_ISSUED, "Guest sessions issued by POST /auth/guest.");
    describe_counter!(GUEST_REFUSED, "Guest sessions refused, by reason.");
    describe_counter!(
        SESSIONS_REPLACED,
        "Live sessions closed because a newer login of the same player arrived."
    );
    describe_counter!(
        ORIGIN_REFUSED,
        "WebSocket upgrades refused for their browser Origin."
    );
    for kind in IdentityKind::ALL {
        counter!(AUTH_ACCEPTED, "kind" => kind.label()).absolute(0);
    }
    for refusal in AuthRefusal::ALL {
        counter!(AUTH_REFUSED, "reason" => refusal.label()).absolute(0);
    }
    counter!(AUTH_REFUSED, "reason" => REFUSED_BANNED).absolute(0);
    for reason in ["rate", "busy", GUEST_DISABLED] {
        counter!(GUEST_REFUSED, "reason" => reason).absolute(0);
    }
    counter!(GUEST_ISSUED).absolute(0);
    counter!(SESSIONS_REPLACED).absolute(0);
    counter!(ORIGIN_REFUSED).absolute(0);
    describe_counter!(JWKS_REFRESHES, "JWKS document loads, by result.");
    for result in ["ok", "error"] {
        counter!(JWKS_REFRESHES, "result" => result).absolute(0);
    }
    gauge!(AUTH_TRUST_HELLO).set(if trust_hello { 1.0 } else { 0.0 });
}

/// Counts one accepted Hello.
pub fn auth_accepted(kind: IdentityKind) {
    counter!(AUTH_ACCEPTED, "kind" => kind.label()).increment(1);
}

/// Counts one refused Hello.
pub fn auth_refused(reason: &'static str) {
    counter!(AUTH_REFUSED, "reason" => reason).increment(1);
}

/// Counts one session replaced by a newer login of its player.
pub fn session_replaced() {
    counter!(SESSIONS_REPLACED).increment(1);
}
