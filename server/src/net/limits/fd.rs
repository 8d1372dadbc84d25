//! The node-wide connection cap against the process's file-descriptor
//! limit. At start the soft `RLIMIT_NOFILE` is raised to the hard limit
//! (what the operator allowed), then `--max-connections` must leave
//! `--fd-reserve` descriptors for everything else: 0 means exactly that
//! many, a larger value is lowered to it with a warning (policy: clamp),
//! and a limit that leaves fewer than [`MIN_CONNECTIONS`] refuses the start.

use rlimit::Resource;

/// The fewest public connections a node starts with.
pub const MIN_CONNECTIONS: u64 = 16;

/// The file-descriptor limit leaves too few connections.
#[derive(Debug, thiserror::Error)]
#[error(
    "RLIMIT_NOFILE is {limit}: minus --fd-reserve {reserve} that leaves fewer than \
     {MIN_CONNECTIONS} connections; raise `ulimit -n` or lower --fd-reserve"
)]
pub struct FdLimitError {
    /// The soft limit after raising it.
    pub limit: u64,
    /// `--fd-reserve`.
    pub reserve: u32,
}

/// The soft file-descriptor limit, raised to the hard one when it can be;
/// `None` when the platform does not say.
pub fn nofile_limit() -> Option<u64> {
    let (soft, hard) = Resource::NOFILE.get().ok()?;
    if soft < hard {
        match rlimit::increase_nofile_limit(hard) {
            Ok(raised) => return Some(raised),
            Err(e) => tracing::warn!(soft, hard, error = %e, "could not raise RLIMIT_NOFILE"),
        }
    }
    Some(soft)
}

/// The node-wide cap for `configured` (`--max-connections`, 0 = derived)
/// under a descriptor limit of `limit` with `reserve` kept aside.
pub fn effective_max_connections(
    configured: u32,
    reserve: u32,
    limit: Option<u64>,
) -> Result<u32, FdLimitError> {
    let Some(limit) = limit else {
        return Ok(if configured == 0 {
            u32::MAX
        } else {
            configured
        });
    };
    let room = limit.saturating_sub(u64::from(reserve));
    if room < MIN_CONNECTIONS {
        return Err(FdLimitError { limit, reserve });
    }
    let room = u32::try_from(room).unwrap_or(u32::MAX);
    if configured == 0 {
        return Ok(room);
    }
    if configured > room {
        tracing::warn!(
            max_connections = configured,
            nofile = limit,
            fd_reserve = reserve,
            lowered_to = room,
            "--max-connections is over RLIMIT_NOFILE minus --fd-reserve; lowered"
        );
        return Ok(room);
    }
    Ok(configured)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_leaves_the_reserve_and_is_lowered_to_fit() {
        assert_eq!(
            effective_max_connections(0, 128, Some(1024)).ok(),
            Some(896)
        );
        assert_eq!(
            effective_max_connections(500, 128, Some(1024)).ok(),
            Some(500)
        );
        assert_eq!(
            effective_max_connections(5000, 128, Some(1024)).ok(),
            Some(896)
        );
        assert!(effective_max_connections(0, 128, Some(140)).is_err());
        assert_eq!(effective_max_connections(7, 128, None).ok(), Some(7));
    }
}
