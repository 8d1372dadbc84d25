//! libFuzzer entry point of the `session` target; the target itself is
//! [`tickforge_fuzz::session`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tickforge_fuzz::session::run(data));
