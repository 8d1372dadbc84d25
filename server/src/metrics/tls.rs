//! TLS on the public listener (`--tls-cert`/`--tls-key`): certificate
//! reloads on SIGHUP, handshakes that failed or ran out of time, and accept
//! loops that waited for a free handshake slot. The
//! series exist (at zero) on every node, TLS or not, so dashboards and
//! alerts need no special case.

use metrics::{counter, describe_counter};

/// Certificate and key re-read and put in service on SIGHUP (counter).
pub const TLS_RELOADS: &str = "tickforge_tls_reloads_total";
/// SIGHUP reloads refused because the new files did not load; the node
/// keeps serving the previous certificate (counter).
pub const TLS_RELOAD_FAILURES: &str = "tickforge_tls_reload_failures_total";
/// TLS handshakes that did not finish within `--tls-handshake-timeout-ms`;
/// the connection is closed (counter).
pub const TLS_HANDSHAKE_TIMEOUTS: &str = "tickforge_tls_handshake_timeouts_total";
/// TLS handshakes that failed (plain HTTP on the TLS port, an unknown
/// certificate authority on the client, a protocol error) (counter).
pub const TLS_HANDSHAKE_FAILURES: &str = "tickforge_tls_handshake_failures_total";
/// Times a shard's accept loop found every handshake slot taken and waited
/// (policy: wait; new connections stay in the kernel's accept backlog)
/// (counter).
pub const TLS_HANDSHAKE_SLOTS_FULL: &str = "tickforge_tls_handshake_slots_full_total";

/// Registers the TLS series at zero, with their help texts.
pub fn register_tls() {
    describe_counter!(
        TLS_RELOADS,
        "TLS certificate reloads (SIGHUP) put in service."
    );
    describe_counter!(
        TLS_RELOAD_FAILURES,
        "TLS certificate reloads (SIGHUP) refused; the previous certificate stays in service."
    );
    describe_counter!(
        TLS_HANDSHAKE_TIMEOUTS,
        "TLS handshakes that did not finish within --tls-handshake-timeout-ms."
    );
    describe_counter!(TLS_HANDSHAKE_FAILURES, "TLS handshakes that failed.");
    describe_counter!(
        TLS_HANDSHAKE_SLOTS_FULL,
        "Times a shard waited to accept because its handshake slots were all taken."
    );
    for name in [
        TLS_RELOADS,
        TLS_RELOAD_FAILURES,
        TLS_HANDSHAKE_TIMEOUTS,
        TLS_HANDSHAKE_FAILURES,
        TLS_HANDSHAKE_SLOTS_FULL,
    ] {
        counter!(name).absolute(0);
    }
}
