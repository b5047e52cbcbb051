//! The integration tests, one binary with a module per capability (as jj's tests are): the
//! library is linked once instead of once per test file. Run one module with
//! `cargo test --test it backport::`.

mod github_server;
mod support;

mod advisories;
mod apicompat;
mod backport;
mod bench;
mod bump;
mod cli;
mod compat;
mod demo;
mod feed;
mod github;
mod init;
mod msi;
mod official_build;
mod package;
mod patches;
mod pipelines;
mod release;
mod schemas;
