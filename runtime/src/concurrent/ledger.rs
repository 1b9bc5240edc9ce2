//! The low-water mark of a stream's windows read at the same time.

use std::collections::BTreeMap;

/// The low-water mark of windows read at the same time: the largest watermark such that every
/// record at or below it, in every window, has been emitted.
///
/// Windows are numbered from 0 in cursor order. A window that finished reports the watermark
/// its core reached at its end (its upper bound, or below it where the time cap holds it back);
/// a window still being read may report a safe point inside it. The mark only takes a window's
/// watermark once every window below it finished, so it never passes an unfinished window.
#[derive(Debug, Clone)]
pub(crate) struct Ledger<C> {
    /// The lowest window not finished.
    head: usize,
    /// Finished windows above the head, with their watermarks.
    done: BTreeMap<usize, Option<C>>,
    /// The latest safe point inside windows being read, the head's included: the head's is
    /// part of the mark until its window finishes, or is withdrawn ([`Ledger::forget`]).
    marks: BTreeMap<usize, C>,
    /// The low-water mark of the finished windows.
    low: Option<C>,
}

impl<C: Ord + Clone> Ledger<C> {
    /// A ledger starting from `low`, the saved watermark.
    pub(crate) fn new(low: Option<C>) -> Self {
        Ledger {
            head: 0,
            done: BTreeMap::new(),
            marks: BTreeMap::new(),
            low,
        }
    }

    /// The lowest window not finished.
    pub(crate) fn head(&self) -> usize {
        self.head
    }

    /// The low-water mark: the finished windows', or the safe point inside the lowest
    /// unfinished window above it.
    pub(crate) fn low(&self) -> Option<&C> {
        self.low.as_ref().max(self.marks.get(&self.head))
    }

    /// Every record of window `index` at or below `watermark` has been emitted: a safe point
    /// inside it (a checkpoint, or where its reader failed).
    pub(crate) fn mark(&mut self, index: usize, watermark: Option<C>) {
        let Some(watermark) = watermark else { return };
        if index >= self.head {
            let mark = self.marks.entry(index).or_insert_with(|| watermark.clone());
            if watermark > *mark {
                *mark = watermark;
            }
        }
    }

    /// Window `index` broke its declared order: its safe points prove nothing, and the mark
    /// stays at what the finished windows below it reached (what a STATE already claimed
    /// stands; the caller never emits a lower one).
    pub(crate) fn forget(&mut self, index: usize) {
        self.marks.remove(&index);
    }

    /// Window `index` was read in full, up to `watermark`.
    pub(crate) fn done(&mut self, index: usize, watermark: Option<C>) {
        if index != self.head {
            if index > self.head {
                self.marks.remove(&index);
                self.done.insert(index, watermark);
            }
            return;
        }
        if let Some(mark) = self.marks.remove(&index) {
            raise(&mut self.low, mark);
        }
        let mut finished = watermark;
        loop {
            if let Some(watermark) = finished {
                raise(&mut self.low, watermark);
            }
            self.head += 1;
            match self.done.remove(&self.head) {
                Some(watermark) => finished = watermark,
                None => break,
            }
        }
    }
}

/// Raises `low` to `watermark` if that is above it.
fn raise<C: Ord>(low: &mut Option<C>, watermark: C) {
    if low.as_ref().is_none_or(|low| watermark > *low) {
        *low = Some(watermark);
    }
}
