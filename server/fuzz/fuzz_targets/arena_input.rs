//! libFuzzer entry point of the `arena_input` target; the target itself is
//! [`tickforge_fuzz::arena_input`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tickforge_fuzz::arena_input::run(data));
