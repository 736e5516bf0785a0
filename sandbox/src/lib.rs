//! The sandbox: an embedded local cloud that speaks the real Kubernetes and AWS wire
//! protocols on loopback, so runner's own clients and a person's `kubectl` and `aws`
//! CLI exercise the same code paths they would against real clouds.

pub mod config;
pub mod kube;
pub mod persist;
pub mod provider;
