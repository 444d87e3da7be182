//! The scheduler: a 4-ary min-heap of every charger's next event, laid out in cache lines.
//!
//! One entry per charger, `(timestamp, charger index)`, packed into one `u128` key so that the
//! order is a single integer comparison. The four children of a node fill one 64-byte line, so a
//! sift through a heap of 100 000 chargers touches about 9 lines instead of the 17 of a binary
//! heap; free slots hold a sentinel larger than any key, so every sift step compares four keys
//! without branching on the heap's length.

/// The next event of one charger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Due {
    pub(crate) ts: i64,
    pub(crate) index: u32,
}

/// Larger than every key: marks free slots.
const FREE: u128 = u128::MAX;

/// Four keys on one cache line.
#[derive(Debug, Clone, Copy)]
#[repr(C, align(64))]
struct Line([u128; 4]);

/// A min-heap on `(ts, index)`; every `ts` must be at or after `base_ms`.
///
/// Logical node `j` lives in line `(j + 3) / 4`, slot `(j + 3) % 4`, so the children of node `j`
/// (`4j+1 ..= 4j+4`) are exactly line `j + 1`.
#[derive(Debug, Clone)]
pub(crate) struct Queue {
    lines: Vec<Line>,
    len: usize,
    base_ms: i64,
}

impl Queue {
    /// A heap of `items`, in any order.
    pub(crate) fn from_vec(base_ms: i64, items: Vec<Due>) -> Self {
        let mut q = Queue {
            lines: vec![Line([FREE; 4]); (items.len() + 3).div_ceil(4)],
            len: items.len(),
            base_ms,
        };
        for (j, item) in items.into_iter().enumerate() {
            let key = q.key(item);
            q.set(j, key);
        }
        if q.len > 1 {
            for j in (0..=(q.len - 2) / 4).rev() {
                q.sift_down(j, q.get(j));
            }
        }
        q
    }

    #[inline]
    fn key(&self, item: Due) -> u128 {
        debug_assert!(item.ts >= self.base_ms);
        (u128::from((item.ts - self.base_ms) as u64) << 32) | u128::from(item.index)
    }

    #[inline]
    fn due(&self, key: u128) -> Due {
        Due {
            ts: self.base_ms + (key >> 32) as i64,
            index: key as u32,
        }
    }

    #[inline]
    fn get(&self, j: usize) -> u128 {
        let p = j + 3;
        self.lines[p >> 2].0[p & 3]
    }

    #[inline]
    fn set(&mut self, j: usize, key: u128) {
        let p = j + 3;
        self.lines[p >> 2].0[p & 3] = key;
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The earliest entry.
    #[inline]
    pub(crate) fn peek(&self) -> Option<Due> {
        (self.len > 0).then(|| self.due(self.get(0)))
    }

    /// Replaces the earliest entry (the heap must not be empty) and restores the order.
    #[inline]
    pub(crate) fn replace_top(&mut self, item: Due) {
        debug_assert!(self.len > 0);
        let key = self.key(item);
        self.sift_down(0, key);
    }

    /// Removes the earliest entry (the heap must not be empty).
    pub(crate) fn pop_top(&mut self) {
        debug_assert!(self.len > 0);
        self.len -= 1;
        let last = self.get(self.len);
        self.set(self.len, FREE);
        if self.len > 0 {
            self.sift_down(0, last);
        }
    }

    /// Adds an entry.
    #[cfg(test)]
    pub(crate) fn push(&mut self, item: Due) {
        if self.len + 3 >= self.lines.len() * 4 {
            self.lines.push(Line([FREE; 4]));
        }
        let key = self.key(item);
        let mut j = self.len;
        self.len += 1;
        while j > 0 {
            let parent = (j - 1) / 4;
            let p = self.get(parent);
            if key > p {
                break;
            }
            self.set(j, p);
            j = parent;
        }
        self.set(j, key);
    }

    /// Places `key` at node `j` or below: the smallest child moves up while it is smaller.
    #[inline]
    fn sift_down(&mut self, mut j: usize, key: u128) {
        while let Some(children) = self.lines.get(j + 1) {
            let c = &children.0;
            let (low01, at01) = if c[1] < c[0] { (c[1], 1) } else { (c[0], 0) };
            let (low23, at23) = if c[3] < c[2] { (c[3], 3) } else { (c[2], 2) };
            let (low, at) = if low23 < low01 {
                (low23, at23)
            } else {
                (low01, at01)
            };
            // Free slots hold FREE, never below a key: a node without children stops here.
            if low >= key {
                break;
            }
            self.set(j, low);
            j = 4 * j + 1 + at;
        }
        self.set(j, key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn behaves_like_a_sorted_list(
            initial in proptest::collection::vec((0i64..50, 0u32..20), 0..40),
            ops in proptest::collection::vec((0u8..3, 0i64..60, 0u32..20), 0..200),
        ) {
            let base = 1_000;
            let initial: Vec<Due> = initial.into_iter().map(|(ts, index)| Due { ts: base + ts, index }).collect();
            let mut model: Vec<(i64, u32)> = initial.iter().map(|d| (d.ts, d.index)).collect();
            let mut q = Queue::from_vec(base, initial);
            for (op, ts, index) in ops {
                model.sort_unstable();
                prop_assert_eq!(q.peek().map(|d| (d.ts, d.index)), model.first().copied());
                prop_assert_eq!(q.len(), model.len());
                let item = Due { ts: base + ts, index };
                match op {
                    0 => { q.push(item); model.push((item.ts, index)); }
                    1 if !model.is_empty() => { q.replace_top(item); model[0] = (item.ts, index); }
                    2 if !model.is_empty() => { q.pop_top(); model.remove(0); }
                    _ => {}
                }
            }
            model.sort_unstable();
            for expected in model {
                prop_assert_eq!(q.peek().map(|d| (d.ts, d.index)), Some(expected));
                q.pop_top();
            }
            prop_assert!(q.is_empty());
        }
    }

    #[test]
    fn extreme_keys_order() {
        let base = 100_000_000_000;
        let items = vec![
            Due {
                ts: base + 9_000_000_000_000,
                index: u32::MAX,
            },
            Due {
                ts: base,
                index: u32::MAX,
            },
            Due {
                ts: base + 1,
                index: 0,
            },
            Due { ts: base, index: 0 },
        ];
        let mut q = Queue::from_vec(base, items.clone());
        let mut sorted = items;
        sorted.sort_by_key(|d| (d.ts, d.index));
        for d in sorted {
            assert_eq!(q.peek(), Some(d));
            q.pop_top();
        }
        assert_eq!(q.peek(), None);
    }
}
