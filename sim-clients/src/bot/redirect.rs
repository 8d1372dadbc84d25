//! Following a `Redirect` to another node: the bot's endpoint (where it
//! connects from then on), and the two kinds of Redirect.
//!
//! - **Unasked, in a room, with a resume token**: the room moved to another
//!   node (a hand-off in a drain). The bot connects to the Redirect's URL
//!   and takes its seat back there through [`Bot::resume`], the same path
//!   as after a drop: same entity, the gap in ticks recorded, the input
//!   sequence going on from the resumed Joined's last applied input.
//! - **In answer to JoinRoom** (the node is draining): the bot opens a new
//!   session at the URL and joins the Redirect's room there, or joins or
//!   creates one of its mode when the room id is empty.
//!
//! Both count as `redirects_followed`. URLs go through the same
//! [`Target::parse`] as `--url` (`ws://` only).

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tickforge_protocol::wire;

use super::{Bot, Failure, Joined, Session};
use crate::handshake::Target;
use crate::stats::ErrorKind;

/// Redirects a single join may follow before it counts as refused.
pub const MAX_JOIN_REDIRECTS: usize = 3;
/// Time allowed to take the seat back at a hand-off's target, when the
/// server announced no resume grace of its own.
pub const HANDOFF_GRACE: Duration = Duration::from_secs(10);

/// Where a bot connects: `--url`'s at first, a Redirect's once followed.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// The resolved address.
    pub addr: SocketAddr,
    /// Host header and path of the upgrade request.
    pub target: Target,
}

/// A Redirect, owned (it outlives the read that brought it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redirected {
    /// The node to go to.
    pub url: String,
    /// The room there (empty: join or create one of the mode).
    pub room_id: String,
    /// Set when the room moved: a Hello with it takes the seat back.
    pub resume_token: String,
}

impl Redirected {
    /// The fields of a decoded Redirect.
    pub fn from_wire(r: &wire::Redirect<'_>) -> Redirected {
        Redirected {
            url: r.url().unwrap_or_default().to_string(),
            room_id: r.room_id().unwrap_or_default().to_string(),
            resume_token: r.resume_token().unwrap_or_default().to_string(),
        }
    }

    /// Whether the room moved (an unasked Redirect with a resume token).
    pub fn moved(&self) -> bool {
        !self.resume_token.is_empty()
    }
}

impl Bot {
    /// Points the bot at `url`: every connection from now on goes there.
    pub(super) async fn move_to(&mut self, url: &str, failed: ErrorKind) -> Result<(), Failure> {
        let target = Target::parse(url).map_err(|_| Failure::Error(failed))?;
        let resolved = tokio::select! {
            r = tokio::net::lookup_host(target.dial.clone()) => r,
            _ = self.shared.stop.cancelled() => return Err(Failure::Stopped),
        };
        let addr = resolved
            .ok()
            .and_then(|mut addrs| addrs.next())
            .ok_or(Failure::Error(failed))?;
        self.endpoint = Some(Endpoint { addr, target });
        Ok(())
    }

    /// Follows a room that moved: connects to the Redirect's URL and takes
    /// the seat back with its resume token, as after a drop (`grace`: the
    /// old node's resume grace; `tick`: the room's tick at the Redirect).
    pub async fn follow(
        &mut self,
        redirect: &Redirected,
        grace: Duration,
        tick: u64,
    ) -> Result<(Session, Joined), Failure> {
        self.move_to(&redirect.url, ErrorKind::ResumeFailed).await?;
        let grace = grace.max(HANDOFF_GRACE);
        let seat = self.resume(&redirect.resume_token, grace, tick).await?;
        self.count_redirect();
        Ok(seat)
    }

    /// Follows a Redirect answering JoinRoom: a new session at its URL,
    /// then the join there (the caller sends it).
    pub(super) async fn follow_join(
        &mut self,
        redirect: &Redirected,
        session: &mut Session,
    ) -> Result<(), Failure> {
        self.move_to(&redirect.url, ErrorKind::JoinRefused).await?;
        // The old session closes as it drops; the new one takes its place.
        *session = self.open().await?;
        self.count_redirect();
        Ok(())
    }

    fn count_redirect(&self) {
        self.shared
            .stats
            .redirects_followed
            .fetch_add(1, Ordering::Relaxed);
    }
}
