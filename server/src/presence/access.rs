//! Access-control actions that must reach every node: a newer login of a
//! player (the node holding the older session closes it with `replaced`),
//! an operator's kick, a ban and its lifting. Nodes exchange them as
//! bulletins on the presence channel; bans are also kept in Redis (hash
//! `tf:bans`) so a node that starts or reconnects later learns them.
//!
//! With the in-process backend there is one node and the action was
//! already applied where it was taken.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// One action, as carried between nodes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "a", rename_all = "snake_case")]
pub enum AccessAction {
    /// `player` logged in on the sending node at `at_us`: close any
    /// session of the player that logged in earlier.
    Replace {
        /// The player.
        player: Arc<str>,
        /// When the new session's Hello was accepted, Unix microseconds.
        at_us: u64,
    },
    /// An operator kicked `player`.
    Kick {
        /// The player.
        player: Arc<str>,
    },
    /// `player` is banned until `until_ms` (Unix milliseconds).
    Ban {
        /// The player.
        player: Arc<str>,
        /// End of the ban, Unix milliseconds.
        until_ms: u64,
    },
    /// `player`'s ban is lifted.
    Unban {
        /// The player.
        player: Arc<str>,
    },
}

impl AccessAction {
    /// Stable label (metrics).
    pub fn label(&self) -> &'static str {
        match self {
            AccessAction::Replace { .. } => "replace",
            AccessAction::Kick { .. } => "kick",
            AccessAction::Ban { .. } => "ban",
            AccessAction::Unban { .. } => "unban",
        }
    }

    /// Every label, for registering series at zero.
    pub const LABELS: [&'static str; 4] = ["replace", "kick", "ban", "unban"];
}

/// Where a node applies the actions other nodes took.
pub trait AccessSink: Send + Sync + 'static {
    /// Applies one action taken on another node.
    fn apply(&self, action: &AccessAction);
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::presence::change::{Body, Bulletin};

    #[test]
    fn access_bulletins_survive_a_json_round_trip() {
        let bulletin = Bulletin {
            node: "a".into(),
            sent_us: 9,
            body: Body::Access {
                actions: vec![
                    AccessAction::Replace {
                        player: "p\t\"1".into(),
                        at_us: 5,
                    },
                    AccessAction::Kick { player: "k".into() },
                    AccessAction::Ban {
                        player: "b".into(),
                        until_ms: 7,
                    },
                    AccessAction::Unban { player: "b".into() },
                ],
            },
        };
        let text = serde_json::to_string(&bulletin).unwrap();
        assert_eq!(serde_json::from_str::<Bulletin>(&text).unwrap(), bulletin);
    }
}
