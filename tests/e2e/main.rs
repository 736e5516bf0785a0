//! End-to-end tests: each drives the built `runner` binary in a temporary directory.

mod support;

mod bad_input;
mod cloud;
mod dataplane;
mod destroy;
mod exec_basics;
mod faults;
mod host_bounds;
mod hostile;
mod locking;
mod moto;
mod policy;
mod reference_job;
mod resume;
mod sandbox_cli;
