//! libFuzzer entry point of the `snapshot_record` target; the target itself is
//! [`tickforge_fuzz::snapshot_record`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tickforge_fuzz::snapshot_record::run(data));
