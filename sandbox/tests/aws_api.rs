//! The emulated AWS APIs driven by real clients: the stock `aws` CLI through the
//! tutorial, boto3, a moto parity script, restarts, and malformed requests. One test
//! binary (modules under `aws_api/`) so the suite links once.

mod support;

#[path = "aws_api/boto3.rs"]
mod boto3;
#[path = "aws_api/cli_commands.rs"]
mod cli_commands;
#[path = "aws_api/cli_tutorial.rs"]
mod cli_tutorial;
#[path = "aws_api/dataplane_ga.rs"]
mod dataplane_ga;
#[path = "aws_api/dns.rs"]
mod dns;
#[path = "aws_api/end_to_end.rs"]
mod end_to_end;
#[path = "aws_api/faults.rs"]
mod faults;
#[path = "aws_api/listeners.rs"]
mod listeners;
#[path = "aws_api/malformed.rs"]
mod malformed;
#[path = "aws_api/parity.rs"]
mod parity;
#[path = "aws_api/restart.rs"]
mod restart;
#[path = "aws_api/sdk_rust.rs"]
mod sdk_rust;
