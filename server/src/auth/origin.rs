//! Which browser pages may open `/ws`. A request without `Origin` (native
//! clients, bots) is allowed; a page served by this node (its `Origin` names
//! the same host as the request's `Host`) is allowed; otherwise the origin
//! must be on `--allowed-origins`, exactly or under a wildcard subdomain
//! (`https://*.example.com` allows `https://eu.example.com`, not
//! `https://example.com`). Anything else gets HTTP 403 before the upgrade.

/// The allow-list.
#[derive(Debug, Clone, Default)]
pub struct OriginPolicy {
    exact: Vec<String>,
    /// (scheme with `://`, `.suffix`) pairs from `scheme://*.suffix`.
    wildcard: Vec<(String, String)>,
}

impl OriginPolicy {
    /// A policy from `--allowed-origins` entries (validated at start).
    pub fn new(entries: &[String]) -> OriginPolicy {
        let mut policy = OriginPolicy::default();
        for entry in entries {
            let entry = entry.trim().trim_end_matches('/').to_ascii_lowercase();
            match entry.split_once("://*.") {
                Some((scheme, suffix)) => policy
                    .wildcard
                    .push((format!("{scheme}://"), format!(".{suffix}"))),
                None => policy.exact.push(entry),
            }
        }
        policy
    }

    /// True when a request with `origin` to `host` (the `Host` header) may
    /// upgrade.
    pub fn allows(&self, origin: Option<&str>, host: Option<&str>) -> bool {
        let Some(origin) = origin else {
            return true;
        };
        let origin = origin.trim().to_ascii_lowercase();
        let origin_host = origin
            .split_once("://")
            .map(|(_, rest)| rest)
            .unwrap_or_default();
        if host.is_some_and(|h| !origin_host.is_empty() && h.eq_ignore_ascii_case(origin_host)) {
            return true;
        }
        if self.exact.contains(&origin) {
            return true;
        }
        self.wildcard.iter().any(|(scheme, suffix)| {
            origin
                .strip_prefix(scheme.as_str())
                .is_some_and(|h| h.len() > suffix.len() && h.ends_with(suffix.as_str()))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_matched_exactly_or_by_wildcard_subdomain() {
        let policy = OriginPolicy::new(&[
            "https://game.example.com".into(),
            "https://*.play.example.net".into(),
        ]);
        assert!(policy.allows(None, Some("127.0.0.1:7700")));
        assert!(policy.allows(Some("http://127.0.0.1:7700"), Some("127.0.0.1:7700")));
        assert!(policy.allows(Some("https://game.example.com"), Some("ws.example.com")));
        assert!(policy.allows(Some("https://eu.play.example.net"), None));
        assert!(!policy.allows(Some("https://play.example.net"), None));
        assert!(!policy.allows(Some("http://eu.play.example.net"), None));
        assert!(!policy.allows(Some("https://evil.example"), Some("127.0.0.1:7700")));
        assert!(!policy.allows(Some("https://game.example.com.evil"), None));
        assert!(!policy.allows(Some("null"), Some("127.0.0.1:7700")));
    }
}
