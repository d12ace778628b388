//! Where log lines go: stdout, written by the log's own thread (see
//! `cli::init_logging`) in batches.
//!
//! That thread drains the queue of formatted lines and flushes each time it
//! has caught up. Flushing line by line under load would cost a write, and
//! a wake-up of the thread, for nearly every request; pausing briefly
//! after each flush lets the next lines gather, so a busy server writes its
//! access log in a few large writes per second while a quiet one still
//! shows each line within milliseconds.

use std::io::{self, BufWriter, Write};
use std::time::Duration;

/// How long the log thread rests after a flush: the most a line waits
/// before it is written.
pub const FLUSH_PAUSE: Duration = Duration::from_millis(5);
/// Bytes gathered before a write even without a flush.
const BUFFER_BYTES: usize = 64 * 1024;

/// Buffers lines and rests after each flush; for the log thread only (a
/// flush blocks the caller for `FLUSH_PAUSE`).
pub struct PacedWriter<W: Write> {
    inner: BufWriter<W>,
    pause: Duration,
}

impl<W: Write> PacedWriter<W> {
    pub fn new(inner: W, pause: Duration) -> Self {
        PacedWriter {
            inner: BufWriter::with_capacity(BUFFER_BYTES, inner),
            pause,
        }
    }
}

impl<W: Write> Write for PacedWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf)
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.inner.write_all(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        let wrote = !self.inner.buffer().is_empty();
        self.inner.flush()?;
        if wrote {
            std::thread::sleep(self.pause);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_reach_the_inner_writer_on_flush_and_not_before() {
        let mut out = PacedWriter::new(Vec::new(), Duration::ZERO);
        out.write_all(b"one\n").unwrap();
        out.write_all(b"two\n").unwrap();
        assert!(out.inner.get_ref().is_empty());
        out.flush().unwrap();
        assert_eq!(out.inner.get_ref().as_slice(), b"one\ntwo\n");
    }
}
