//! The spill file: snapshots that could not be written before the shutdown
//! deadline, saved locally and replayed at the next start. Written to a
//! temporary file, synced, then renamed over the old one, so a reader sees
//! either the previous file or the whole new one.
//!
//! `TFSPILL1`, then [`record`](super::record)s back to back. Each record
//! names its own format, so a guest's snapshot keeps its expiry (format 2)
//! and files written before guest expiry existed (format 1 only) still
//! replay.

use std::io::Write;
use std::path::Path;

use super::Snapshot;
use super::record::{decode_records, encode_record};

const MAGIC: &[u8; 8] = b"TFSPILL1";

/// Writes `rows` to `path` atomically.
pub fn write(path: &Path, rows: &[Snapshot]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut buf = Vec::with_capacity(8 + rows.len() * 96);
    buf.extend_from_slice(MAGIC);
    for row in rows {
        encode_record(row, &mut buf);
    }
    let tmp = path.with_extension("spill.tmp");
    {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(&buf)?;
        file.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent()
        && let Ok(d) = std::fs::File::open(dir)
    {
        d.sync_all()?;
    }
    Ok(())
}

/// Reads the spill file; `Ok(None)` when there is none.
pub fn read(path: &Path) -> std::io::Result<Option<Vec<Snapshot>>> {
    let buf = match std::fs::read(path) {
        Ok(buf) => buf,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let body = buf.strip_prefix(MAGIC.as_slice()).ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "not a tickforge spill file",
        )
    })?;
    decode_records(body)
        .map(Some)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

/// Removes the spill file, if any.
pub fn remove(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use std::sync::Arc;

    #[test]
    fn a_spill_file_reads_back_what_was_written() {
        let dir = std::env::temp_dir().join(format!("tickforge-spill-{}", std::process::id()));
        let path = dir.join("snapshots.spill");
        let rows: Vec<Snapshot> = (0..3)
            .map(|i| Snapshot {
                player_id: Arc::from(format!("p{i}")),
                room_id: Arc::from("r"),
                version: i,
                captured_us: 10 + i,
                state: Bytes::from(vec![i as u8; 5]),
                expires_us: (i == 1).then_some(1_000_000 + i),
            })
            .collect();
        assert!(matches!(read(&path), Ok(None)));
        write(&path, &rows).unwrap_or_else(|e| panic!("{e}"));
        let back = read(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back, Some(rows));
        remove(&path).unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(read(&path), Ok(None)));
        let _ = std::fs::remove_dir_all(dir);
    }
}
