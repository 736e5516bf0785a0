//! Integration tests of runner-workflow, linked as one binary (one link instead of many).

mod bad_files;
mod conditions;
mod files;
mod good_files;
mod grants;
mod graph;
mod hostile_input;
mod interpolation;
mod overrides;
mod plugins;
mod rendering;
mod sandbox;
mod support;
