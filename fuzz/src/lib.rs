//! The host's fuzzed parsers without the rest of runner: JSONPath (`wait`'s subset) and
//! the journal reader, compiled from host/src by `#[path]` in the module layout they
//! have there, so `host/src/fuzzing.rs` (their fuzz bodies, also replayed by runner's
//! tests) compiles unchanged. Building runner itself would instrument wasmtime, kube and
//! the AWS SDK for nothing.

#[path = "../../host/src/events.rs"]
pub mod events;

#[path = "../../host/src/capabilities"]
pub mod capabilities {
    pub mod kubernetes {
        pub mod jsonpath;
    }
}

#[path = "../../host/src/state"]
pub mod state {
    pub mod journal;
}

#[path = "../../host/src/fuzzing.rs"]
pub mod fuzzing;
