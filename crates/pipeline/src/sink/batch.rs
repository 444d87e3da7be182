//! One topic's pending rows and dead letters, and the offsets they cover.

use std::collections::HashMap;
use std::time::Instant;

use rdkafka::message::{BorrowedMessage, Message};
use schema::rows::{self, RowKind};

/// What goes into one insert (and its dead letters), and the offsets it covers.
#[derive(Debug)]
pub(super) struct Batch {
    pub kind: RowKind,
    pub topic: String,
    pub rows: Vec<u8>,
    pub row_count: u64,
    pub dead: Vec<u8>,
    pub dead_count: u64,
    /// partition → highest offset in the batch.
    pub offsets: HashMap<i32, i64>,
    pub first_at: Option<Instant>,
}

impl Batch {
    pub fn new(kind: RowKind, topic: &str, capacity: usize) -> Batch {
        Batch {
            kind,
            topic: topic.to_owned(),
            rows: Vec::with_capacity(capacity),
            row_count: 0,
            dead: Vec::new(),
            dead_count: 0,
            offsets: HashMap::new(),
            first_at: None,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.offsets.is_empty()
    }

    /// Rows and dead letters in it.
    pub fn len(&self) -> u64 {
        self.row_count + self.dead_count
    }

    fn note(&mut self, partition: i32, offset: i64) {
        let high = self.offsets.entry(partition).or_insert(offset);
        *high = (*high).max(offset);
        if self.first_at.is_none() {
            self.first_at = Some(Instant::now());
        }
    }

    fn dead_letter(&mut self, partition: i32, offset: i64, reason: &str, payload: &[u8]) {
        rows::encode_dead_letter(
            &mut self.dead,
            &self.topic,
            partition,
            offset,
            reason,
            payload,
        );
        self.dead_count += 1;
    }

    /// Appends the message as a row, or as a dead letter with the reason.
    pub fn push(&mut self, message: &BorrowedMessage<'_>) {
        let (partition, offset) = (message.partition(), message.offset());
        self.note(partition, offset);
        let Some(payload) = message.payload().filter(|p| !p.is_empty()) else {
            self.dead_letter(partition, offset, "empty message", &[]);
            return;
        };
        match self.kind.encode(&mut self.rows, payload, partition, offset) {
            Ok(()) => self.row_count += 1,
            Err(reason) => self.dead_letter(partition, offset, &reason.to_string(), payload),
        }
    }

    /// Hands over what it holds and starts again with `rows` (a buffer of an earlier batch,
    /// cleared, so that its capacity is reused).
    pub fn take(&mut self, rows: Vec<u8>) -> Batch {
        let full = Batch {
            kind: self.kind,
            topic: self.topic.clone(),
            rows: std::mem::replace(&mut self.rows, rows),
            row_count: std::mem::take(&mut self.row_count),
            dead: std::mem::take(&mut self.dead),
            dead_count: std::mem::take(&mut self.dead_count),
            offsets: std::mem::take(&mut self.offsets),
            first_at: self.first_at.take(),
        };
        self.rows.clear();
        full
    }
}
