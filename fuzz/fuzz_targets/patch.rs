#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| runner_sandbox::fuzzing::patch(data));
