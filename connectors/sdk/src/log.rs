//! Logging captured per invocation by the host.

/// How important a line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Detail for connector authors.
    Debug,
    /// Progress.
    Info,
    /// Worked around.
    Warn,
    /// Failed.
    Error,
}

/// Records a line at `level` for the current invocation.
pub fn log(level: Level, message: &str) {
    crate::transport::log(level, message);
}

/// Records a debug line.
pub fn debug(message: &str) {
    log(Level::Debug, message);
}

/// Records an info line.
pub fn info(message: &str) {
    log(Level::Info, message);
}

/// Records a warning.
pub fn warn(message: &str) {
    log(Level::Warn, message);
}

/// Records an error line.
pub fn error(message: &str) {
    log(Level::Error, message);
}
