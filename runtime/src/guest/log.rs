//! The host side of `cardhost:connector/log`, and the guest's stdout and
//! stderr: lines kept per invocation under byte and line caps, cut before
//! they are escaped, secrets redacted when collected.

use super::GuestState;
use crate::broker::RequestScope;
use crate::text::truncate;
use serde::Serialize;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};

/// One captured log line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogLine {
    /// `debug`, `info`, `warn`, `error`, or `stdout`/`stderr` for raw output.
    pub level: String,
    /// The line, control characters escaped, secrets redacted.
    pub message: String,
}

/// What the guest wrote and logged, capped.
#[derive(Debug, Default)]
pub(crate) struct Capture {
    pub(crate) lines: Vec<LogLine>,
    pub(crate) stdout: Vec<u8>,
    pub(crate) stderr: Vec<u8>,
    /// Raw stdout/stderr bytes kept.
    pub(crate) raw_bytes: usize,
    /// Bytes of log lines kept (escaped).
    pub(crate) bytes: usize,
    pub(crate) cap: usize,
    pub(crate) line_cap: usize,
    pub(crate) max_lines: usize,
    pub(crate) dropped: usize,
}

/// Control characters escaped, the result cut at `max` bytes.
fn escape_line(line: &str, max: usize) -> String {
    let raw = truncate(line, max);
    let escaped: String = raw.escape_debug().collect();
    truncate(&escaped, max).into_owned()
}

impl Capture {
    fn push_line(&mut self, level: &str, message: &str) {
        if self.lines.len() >= self.max_lines {
            self.dropped += 1;
            return;
        }
        let escaped = escape_line(message, self.line_cap);
        if self.bytes + escaped.len() > self.cap {
            self.dropped += 1;
            return;
        }
        self.bytes += escaped.len();
        self.lines.push(LogLine {
            level: level.into(),
            message: escaped,
        });
    }
}

/// stdout/stderr of a guest, kept in memory up to the cap; the rest is
/// dropped silently, so a chatty guest neither fails nor fills memory.
#[derive(Clone)]
pub(crate) struct CapturedStream {
    pub(crate) capture: Arc<Mutex<Capture>>,
    pub(crate) stderr: bool,
}

impl IsTerminal for CapturedStream {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for CapturedStream {
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl tokio::io::AsyncWrite for CapturedStream {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        if let Ok(mut c) = self.capture.lock() {
            let room = c.cap.saturating_sub(c.raw_bytes);
            let take = buf.len().min(room);
            c.raw_bytes += take;
            if self.stderr {
                c.stderr.extend_from_slice(&buf[..take]);
            } else {
                c.stdout.extend_from_slice(&buf[..take]);
            }
        }
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// A 0.1 connector's log line, kept as the same line in 0.2.
impl crate::bindings::v0_1::cardhost::connector::log::Host for GuestState {
    fn log(
        &mut self,
        level: crate::bindings::v0_1::cardhost::connector::log::Level,
        message: String,
    ) -> wasmtime::Result<()> {
        crate::bindings::log::Host::log(self, level.into(), message)
    }
}

impl crate::bindings::log::Host for GuestState {
    fn log(&mut self, level: crate::bindings::log::Level, message: String) -> wasmtime::Result<()> {
        use crate::bindings::log::Level;
        let level = match level {
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        };
        if let Ok(mut c) = self.capture.lock() {
            c.push_line(level, &message);
        }
        Ok(())
    }
}

/// What the guest left behind, redacted.
#[derive(Debug, Clone, Default, Serialize)]
pub struct GuestOutput {
    /// Log lines, then stdout and stderr lines.
    pub logs: Vec<LogLine>,
    /// Lines dropped over the cap.
    pub dropped_lines: usize,
}

pub(crate) fn collect_output(capture: &Mutex<Capture>, scope: &RequestScope) -> GuestOutput {
    let Ok(mut c) = capture.lock() else {
        return GuestOutput::default();
    };
    for (level, bytes) in [
        ("stdout", std::mem::take(&mut c.stdout)),
        ("stderr", std::mem::take(&mut c.stderr)),
    ] {
        for line in String::from_utf8_lossy(&bytes).lines() {
            c.push_line(level, line);
        }
    }
    let mut logs: Vec<LogLine> = std::mem::take(&mut c.lines);
    for line in &mut logs {
        line.message = scope.redact(&line.message);
    }
    GuestOutput {
        logs,
        dropped_lines: c.dropped,
    }
}
