//! The `snapshot_record` target: any bytes as a stored snapshot value (the
//! embedded store's table), as the records of a spill file, and as a value
//! whose head alone is read (the writer's newest-wins check).
//!
//! The decoders never panic; what they accept encodes back to exactly the
//! same bytes (the layout has one encoding per snapshot), and the head read
//! alone agrees with the full decode.

use std::sync::Arc;

use tickforge_server::persist::record::{
    decode_records, decode_value, encode_record, encode_value, head_of,
};

/// Runs one input.
pub fn run(data: &[u8]) {
    let player: Arc<str> = Arc::from("p0");
    let head = head_of(data);
    if let Ok(snapshot) = decode_value(player.clone(), data) {
        assert_eq!(snapshot.player_id, player);
        let mut again = Vec::with_capacity(data.len());
        encode_value(&snapshot, &mut again);
        assert_eq!(again, data, "a value does not encode back to its bytes");
        let head = head.unwrap_or_else(|e| panic!("a decodable value has no head: {e}"));
        assert_eq!(
            (head.version, head.captured_us, head.expires_us),
            (snapshot.version, snapshot.captured_us, snapshot.expires_us),
            "the head and the value disagree"
        );
    }
    if let Ok(records) = decode_records(data) {
        let mut again = Vec::with_capacity(data.len());
        for record in &records {
            encode_record(record, &mut again);
        }
        assert_eq!(again, data, "records do not encode back to their bytes");
    }
}
