//! Which offsets of each partition are finished. A consumer handles up to its prefetch of messages
//! at once and they finish in any order, while Kafka keeps a single committed offset per
//! partition: the commit may only move up to the first message still being handled, so that a
//! crash never skips one.

use std::collections::{BTreeSet, HashMap};

/// A message being handled: hand it back to [`Progress::finish`] when done.
#[derive(Debug, Clone)]
pub(crate) struct Ticket {
    generation: u64,
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
}

#[derive(Debug, Default)]
struct Partition {
    /// Offsets received and not finished yet.
    pending: BTreeSet<i64>,
    /// One past the last offset received: where the partition resumes when nothing is pending.
    next: i64,
    /// The offset last committed (or about to be), to commit only when it changes.
    committed: Option<i64>,
}

impl Partition {
    fn commit_point(&self) -> i64 {
        self.pending.first().copied().unwrap_or(self.next)
    }
}

#[derive(Debug, Default)]
pub(crate) struct Progress {
    /// Bumped on every rebalance: tickets of an earlier assignment no longer commit anything,
    /// as their partitions may now belong to another instance (or be a recreated topic).
    generation: u64,
    partitions: HashMap<(String, i32), Partition>,
}

impl Progress {
    /// Records that the message at `offset` was received and is being handled.
    pub fn start(&mut self, topic: &str, partition: i32, offset: i64) -> Ticket {
        let state = self.partitions.entry((topic.to_string(), partition)).or_default();
        state.pending.insert(offset);
        // The last offset received, not the highest: after a rewind (a topic recreated with
        // fresh offsets, an offset reset) the position moves back with the broker's.
        state.next = offset + 1;
        Ticket { generation: self.generation, topic: topic.to_string(), partition, offset }
    }

    /// Records that a message is finished; returns the offset to commit for its partition when
    /// the commit point moved.
    pub fn finish(&mut self, ticket: &Ticket) -> Option<i64> {
        if ticket.generation != self.generation {
            return None;
        }
        let state = self.partitions.get_mut(&(ticket.topic.clone(), ticket.partition))?;
        state.pending.remove(&ticket.offset);
        let point = state.commit_point();
        if state.committed == Some(point) {
            return None;
        }
        state.committed = Some(point);
        Some(point)
    }

    /// Where each partition is, for a last commit before its assignment goes away.
    pub fn commit_points(&self) -> Vec<(String, i32, i64)> {
        self.partitions
            .iter()
            .filter(|(_, state)| state.committed != Some(state.commit_point()))
            .map(|((topic, partition), state)| (topic.clone(), *partition, state.commit_point()))
            .collect()
    }

    /// Forgets every partition: a rebalance took the assignment away (or gave a new one).
    pub fn reset(&mut self) {
        self.generation += 1;
        self.partitions.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_commit_stops_at_the_first_message_still_being_handled() {
        let mut progress = Progress::default();
        let first = progress.start("t", 0, 10);
        let second = progress.start("t", 0, 11);
        let third = progress.start("t", 0, 12);
        assert_eq!(progress.finish(&second), Some(10), "10 is still being handled");
        assert_eq!(progress.finish(&third), None, "still 10");
        assert_eq!(progress.finish(&first), Some(13), "everything up to 12 is done");
        assert!(progress.commit_points().is_empty());
    }

    #[test]
    fn partitions_are_independent() {
        let mut progress = Progress::default();
        let slow = progress.start("t", 0, 5);
        let fast = progress.start("t", 1, 7);
        assert_eq!(progress.finish(&fast), Some(8));
        assert_eq!(progress.commit_points(), vec![("t".to_string(), 0, 5)]);
        assert_eq!(progress.finish(&slow), Some(6));
        assert!(progress.commit_points().is_empty());
    }

    #[test]
    fn tickets_from_before_a_rebalance_commit_nothing() {
        let mut progress = Progress::default();
        let old = progress.start("t", 0, 3);
        progress.reset();
        assert_eq!(progress.finish(&old), None);
        let new = progress.start("t", 0, 3);
        assert_eq!(progress.finish(&new), Some(4));
    }

    #[test]
    fn a_rewound_partition_commits_from_its_new_position() {
        let mut progress = Progress::default();
        let late = progress.start("t", 0, 40);
        assert_eq!(progress.finish(&late), Some(41));
        let fresh = progress.start("t", 0, 0);
        assert_eq!(progress.finish(&fresh), Some(1));
    }
}
