//! Why a Hello's identity was refused: one stable label per check, used as
//! the metric label and as the close reason (close code 4003; 4004 for a
//! banned player). README's close-code table lists them.

/// A check a session token failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthRefusal {
    /// Hello carried no token (and the node does not trust Hello).
    Missing,
    /// Not a JWT: wrong shape, bad base64 or JSON, missing or malformed claims.
    Malformed,
    /// The signature does not match the key.
    Signature,
    /// `alg: none`, an unknown algorithm, or one the key does not allow
    /// (e.g. HS256 signed with an RSA public key as the secret).
    Algorithm,
    /// `exp` is in the past (beyond the allowed clock skew).
    Expired,
    /// `nbf` or `iat` is in the future (beyond the allowed clock skew).
    NotYetValid,
    /// `aud` is not the configured audience.
    Audience,
    /// `iss` is not the configured (or tickforge's own) issuer.
    Issuer,
    /// The `kid` names no known key, or no key is configured for the token.
    UnknownKey,
    /// `Hello.player_id` is set and differs from the token's subject.
    SubjectMismatch,
    /// A guest session, but guest sessions are switched off.
    GuestDisabled,
    /// A token of the wrong kind: a resume token in `Hello.token`, or an
    /// identity token in `Hello.resume_token`.
    TokenKind,
    /// A Hello with only a resume token, and no node holds its seat (the
    /// grace ended, or the seat was left).
    ResumeExpired,
}

impl AuthRefusal {
    /// Every refusal, for registering metrics at zero.
    pub const ALL: [AuthRefusal; 13] = [
        AuthRefusal::Missing,
        AuthRefusal::Malformed,
        AuthRefusal::Signature,
        AuthRefusal::Algorithm,
        AuthRefusal::Expired,
        AuthRefusal::NotYetValid,
        AuthRefusal::Audience,
        AuthRefusal::Issuer,
        AuthRefusal::UnknownKey,
        AuthRefusal::SubjectMismatch,
        AuthRefusal::GuestDisabled,
        AuthRefusal::TokenKind,
        AuthRefusal::ResumeExpired,
    ];

    /// Stable label: metric label value and close reason.
    pub fn label(self) -> &'static str {
        match self {
            AuthRefusal::Missing => "auth_missing",
            AuthRefusal::Malformed => "auth_malformed",
            AuthRefusal::Signature => "auth_signature",
            AuthRefusal::Algorithm => "auth_algorithm",
            AuthRefusal::Expired => "auth_expired",
            AuthRefusal::NotYetValid => "auth_not_yet_valid",
            AuthRefusal::Audience => "auth_audience",
            AuthRefusal::Issuer => "auth_issuer",
            AuthRefusal::UnknownKey => "auth_unknown_key",
            AuthRefusal::SubjectMismatch => "auth_subject_mismatch",
            AuthRefusal::GuestDisabled => "auth_guest_disabled",
            AuthRefusal::TokenKind => "auth_token_kind",
            AuthRefusal::ResumeExpired => "auth_resume_expired",
        }
    }

    /// The refusal a `jsonwebtoken` error stands for.
    pub fn from_jwt(error: &jsonwebtoken::errors::Error) -> AuthRefusal {
        use jsonwebtoken::errors::ErrorKind;
        match error.kind() {
            ErrorKind::InvalidSignature
            | ErrorKind::InvalidEcdsaKey
            | ErrorKind::InvalidRsaKey(_)
            | ErrorKind::InvalidKeyFormat => AuthRefusal::Signature,
            ErrorKind::ExpiredSignature => AuthRefusal::Expired,
            ErrorKind::ImmatureSignature => AuthRefusal::NotYetValid,
            ErrorKind::InvalidAudience => AuthRefusal::Audience,
            ErrorKind::InvalidIssuer => AuthRefusal::Issuer,
            ErrorKind::InvalidAlgorithm
            | ErrorKind::InvalidAlgorithmName
            | ErrorKind::MissingAlgorithm => AuthRefusal::Algorithm,
            ErrorKind::MissingRequiredClaim(claim) => match claim.as_str() {
                "aud" => AuthRefusal::Audience,
                "iss" => AuthRefusal::Issuer,
                _ => AuthRefusal::Malformed,
            },
            _ => AuthRefusal::Malformed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_unique() {
        let mut labels: Vec<_> = AuthRefusal::ALL.iter().map(|r| r.label()).collect();
        labels.sort_unstable();
        labels.dedup();
        assert_eq!(labels.len(), AuthRefusal::ALL.len());
    }
}
