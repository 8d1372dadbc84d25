//! The in-process backend: one node is the whole cluster, so the view is all
//! there is and nothing needs to be sent anywhere.

use std::sync::Arc;

use super::{Health, Presence, PresenceView, Stamped};

/// Presence of a single node.
pub struct LocalPresence {
    view: PresenceView,
}

impl LocalPresence {
    /// Presence for node `node`, reached at `url`.
    pub fn new(node: &str, url: &str) -> LocalPresence {
        LocalPresence {
            view: PresenceView::new(Arc::from(node), Arc::from(url)),
        }
    }
}

impl Presence for LocalPresence {
    fn backend(&self) -> &'static str {
        "local"
    }

    fn view(&self) -> &PresenceView {
        &self.view
    }

    fn publish(&self, _change: Stamped) {
        // The view already holds the change, and there is nobody else to tell.
    }

    fn health(&self) -> Health {
        Health::Local
    }

    fn publish_access(&self, _action: crate::presence::AccessAction) {
        // One node: the action was applied where it was taken.
    }
}
