#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| runner_sandbox::fuzzing::http_guard(data));
