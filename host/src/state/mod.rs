//! Everything runner keeps on disk between runs: journals, audit logs, the lock.

pub mod audit;
pub mod journal;
pub mod lock;
pub mod runs;

pub use audit::AuditLog;
pub use journal::Journal;
pub use lock::StateLock;
pub use runs::{RunRecord, StateDir, StepRecord};
