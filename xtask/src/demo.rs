//! `cargo xtask demo`: a throwaway sandbox shaped like the fork, on which every stage runs for real.
