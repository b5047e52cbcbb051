//! net6-els: the toolkit that keeps a .NET 6 fork secure after Microsoft's end of support.
//!
//! Each capability is one module with a typed API; `main.rs` only parses flags, calls into these
//! modules and prints. Tests call the same API.

pub mod advisories;
pub mod apicompat;
pub mod atomic;
pub mod backport;
pub mod bench;
pub mod bump;
pub mod channel;
pub mod cli;
pub mod compat;
pub mod config;
pub mod console;
pub mod cve;
pub mod error;
pub mod fixtures;
pub mod github;
pub mod init;
#[cfg(test)]
mod module_cycles;
pub mod msbuild;
pub mod nuget_feed;
pub mod official_build;
pub mod package;
#[cfg(test)]
mod parsers_fuzz;
pub mod patches;
pub mod pipelines;
pub mod process;
pub mod publish_lock;
pub mod release;
pub mod remote;
pub mod repo;
pub mod repository;
pub mod schemas;
pub mod table;
pub mod token;
pub mod upstream;
pub mod version;
