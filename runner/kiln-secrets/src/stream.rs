//! [`StreamMasker`]: masking for output that arrives in arbitrary chunks.

use std::fmt;

use crate::mask::{Masker, ScanState};

/// Masks a byte stream (a build's stdout, a log file being written, ...)
/// that arrives in chunks of any size.
///
/// A secret split across any number of chunks is masked exactly as
/// [`Masker::mask_bytes`] would mask the concatenated stream. To make that
/// possible, [`push`](Self::push) holds back at most
/// `max_pattern_len() - 1` bytes that could still be the start of a secret;
/// [`finish`](Self::finish) releases them at the end of the stream.
///
/// `Debug` shows only how many bytes are buffered.
#[derive(Clone)]
pub struct StreamMasker {
    masker: Masker,
    buf: Vec<u8>,
    state: ScanState,
}

impl StreamMasker {
    /// A stream masker using `masker`'s secrets.
    pub fn new(masker: Masker) -> StreamMasker {
        StreamMasker {
            masker,
            buf: Vec::new(),
            state: ScanState::default(),
        }
    }

    /// The masker in use.
    pub fn masker(&self) -> &Masker {
        &self.masker
    }

    /// Feeds the next chunk; returns the masked bytes that are now safe to
    /// emit (possibly none).
    pub fn push(&mut self, chunk: &[u8]) -> Vec<u8> {
        self.buf.extend_from_slice(chunk);
        let mut out = Vec::with_capacity(chunk.len() + 3);
        self.masker
            .scan(&self.buf, &mut self.state, false, &mut out);
        let drop = self.state.droppable().min(self.buf.len());
        if drop > 0 {
            self.buf.drain(..drop);
            self.state.shift(drop);
        }
        out
    }

    /// Ends the stream: returns the remaining masked bytes and resets the
    /// masker so it can be used for a new stream.
    pub fn finish(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        self.masker.scan(&self.buf, &mut self.state, true, &mut out);
        self.buf.clear();
        self.state = ScanState::default();
        out
    }

    /// Number of received bytes that have not been emitted yet (neither as
    /// themselves nor inside an emitted `***`).
    pub fn pending(&self) -> usize {
        let covered = match self.state.active {
            Some(a) => a.end,
            None => self.state.emitted,
        };
        self.buf.len().saturating_sub(covered)
    }
}

impl fmt::Debug for StreamMasker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamMasker")
            .field("masker", &self.masker)
            .field("buffered", &self.buf.len())
            .finish()
    }
}
