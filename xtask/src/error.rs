//! The failures the command line must tell apart. Bad input or environment is the default for
//! any error; the library marks an internal failure (work started on good input that the toolkit
//! could not finish) with [`Internal`]. `cli::exit` maps them to exit statuses.

use std::fmt;

/// An internal failure: the input was accepted and work was done, but the toolkit could not finish
/// it (an I/O error writing its results, a push or a queue update that fails after a finished
/// backport). What was done is kept; the message says how to finish.
#[derive(Debug)]
pub struct Internal(anyhow::Error);

impl fmt::Display for Internal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Only this level: the causes below come through `source`, as for any error.
        write!(f, "{}", self.0)
    }
}

impl std::error::Error for Internal {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

/// Marks a result's error as an [`Internal`] failure.
pub trait ResultExt<T> {
    /// The same result, its error (with its whole chain of causes) marked [`Internal`].
    fn internal(self) -> anyhow::Result<T>;
}

impl<T> ResultExt<T> for anyhow::Result<T> {
    fn internal(self) -> anyhow::Result<T> {
        self.map_err(|e| Internal(e).into())
    }
}

/// Whether `err`, or any error it was caused by, is an [`Internal`] failure.
pub fn is_internal(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| cause.is::<Internal>())
}

#[cfg(test)]
mod tests {
    use anyhow::{anyhow, Context};

    use super::*;

    #[test]
    fn the_mark_survives_context_and_keeps_the_message() {
        let marked: anyhow::Result<()> = Err(anyhow!("disk full")).context("cannot write x.json");
        let err = marked
            .internal()
            .context("the backport finished")
            .unwrap_err();
        assert!(is_internal(&err));
        assert_eq!(
            format!("{err:#}"),
            "the backport finished: cannot write x.json: disk full"
        );
        assert!(!is_internal(&anyhow!("bad flag")));
    }
}
