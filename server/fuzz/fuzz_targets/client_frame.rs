//! libFuzzer entry point of the `client_frame` target; the target itself is
//! [`tickforge_fuzz::client_frame`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tickforge_fuzz::client_frame::run(data));
