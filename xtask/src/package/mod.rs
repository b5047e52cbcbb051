//! `cargo xtask package`: installable packages built from a release's archives.

pub mod msi;
