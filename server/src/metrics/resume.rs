//! Session resume: seats held for a dropped connection, resumes by result,
//! grace periods that ended without a resume, and half-open sessions a
//! resume replaced. Every series exists at zero from the start.

use metrics::{counter, describe_counter, describe_gauge, gauge};

/// Seats held for a dropped connection, waiting for a resume (gauge).
pub const SEATS_HELD: &str = "tickforge_resume_seats_held";
/// Hellos with a resume token, by `result` (counter).
pub const RESUMES: &str = "tickforge_resumes_total";
/// Held seats whose grace ended without a resume: ordinary leaves (counter).
pub const GRACE_EXPIRED: &str = "tickforge_resume_grace_expired_total";
/// Live sessions (a half-open connection the server had not noticed)
/// whose seat a resume took at once (counter).
pub const HALF_OPEN_REPLACED: &str = "tickforge_resume_half_open_replaced_total";

/// `result`: the held seat was reattached.
pub const RESUME_RESUMED: &str = "resumed";
/// `result`: the seat lives on another node; the client was redirected there.
pub const RESUME_REDIRECTED: &str = "redirected";
/// `result`: no node holds the seat (grace over, or left); without an
/// identity token the Hello is refused with `auth_resume_expired`.
pub const RESUME_EXPIRED: &str = "expired";
/// `result`: the token failed a check (signature, kind, subject, key).
pub const RESUME_REFUSED: &str = "refused";
/// `result`: the room could not take the resume now (its queue was full).
pub const RESUME_BUSY: &str = "busy";

const RESULTS: [&str; 5] = [
    RESUME_RESUMED,
    RESUME_REDIRECTED,
    RESUME_EXPIRED,
    RESUME_REFUSED,
    RESUME_BUSY,
];

/// Registers the resume series at zero, with their help texts.
pub fn register_resume() {
    describe_gauge!(
        SEATS_HELD,
        "Seats held for a dropped connection, waiting for a resume."
    );
    describe_counter!(
        RESUMES,
        "Hellos with a resume token, by result (resumed, redirected, expired, refused, busy)."
    );
    describe_counter!(
        GRACE_EXPIRED,
        "Held seats whose resume grace ended without a resume (ordinary leaves)."
    );
    describe_counter!(
        HALF_OPEN_REPLACED,
        "Half-open sessions whose seat a resume took at once."
    );
    // Registered without a reset: several servers of one process (tests) add to it.
    gauge!(SEATS_HELD).increment(0.0);
    for result in RESULTS {
        counter!(RESUMES, "result" => result).absolute(0);
    }
    counter!(GRACE_EXPIRED).absolute(0);
    counter!(HALF_OPEN_REPLACED).absolute(0);
}

/// A Hello with a resume token ended with `result`.
pub fn resume_result(result: &'static str) {
    counter!(RESUMES, "result" => result).increment(1);
}

/// One more (`1.0`) or one fewer (`-1.0`) seat held.
pub fn seats_held(delta: f64) {
    gauge!(SEATS_HELD).increment(delta);
}

/// A held seat's grace ended without a resume.
pub fn grace_expired() {
    counter!(GRACE_EXPIRED).increment(1);
}

/// A resume replaced a half-open session.
pub fn half_open_replaced() {
    counter!(HALF_OPEN_REPLACED).increment(1);
}
