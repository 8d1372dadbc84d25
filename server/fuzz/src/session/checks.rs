//! What the session target holds the server to, read from the documents
//! rather than the code: the close codes and reasons of the README's
//! "Close codes" table, and the verifier every client runs on server frames.

use std::collections::BTreeSet;
use std::sync::OnceLock;

/// The README, whose "Close codes" table is the contract.
const README: &str = include_str!("../../../../README.md");

/// Every `(code, reason)` pair the README documents.
pub fn documented_closes() -> &'static BTreeSet<(u16, String)> {
    static CLOSES: OnceLock<BTreeSet<(u16, String)>> = OnceLock::new();
    CLOSES.get_or_init(|| {
        let table = README
            .split("### Close codes")
            .nth(1)
            .and_then(|rest| rest.split("\n#").next())
            .unwrap_or_else(|| panic!("README.md has no \"### Close codes\" section"));
        let closes: BTreeSet<(u16, String)> = table
            .lines()
            .filter_map(|line| {
                let mut cells = line.split('|').map(str::trim).skip(1);
                let code = cells.next()?.parse::<u16>().ok()?;
                let reason = cells.next()?.strip_prefix('`')?.strip_suffix('`')?;
                Some((code, reason.to_string()))
            })
            .collect();
        assert!(
            closes.len() >= 20,
            "the README's close code table did not parse: {closes:?}"
        );
        closes
    })
}

/// Panics unless `(code, reason)` is in the README's table.
pub fn assert_documented(code: u16, reason: &str) {
    assert!(
        documented_closes().contains(&(code, reason.to_string())),
        "close {code} `{reason}` is not in the README's close code table"
    );
}
