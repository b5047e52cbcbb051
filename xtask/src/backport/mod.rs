//! The backport engine: brings upstream fix commits onto the fork branch.
