//! Counts the hits in each price range, reading the price column of every hit.

use comptoir_contracts::search::PriceRange;
use tantivy::collector::{Collector, SegmentCollector};
use tantivy::columnar::Column;
use tantivy::{DocId, Score, SegmentReader};

/// Lower bounds of the ranges, in minor units: under 25, 25–50, 50–100, 100–250, 250 and more.
pub const BOUNDS: [u64; 5] = [0, 2_500, 5_000, 10_000, 25_000];

fn bucket(price: u64) -> usize {
    BOUNDS.iter().rposition(|bound| price >= *bound).unwrap_or(0)
}

pub struct PriceRanges;

pub struct SegmentPriceRanges {
    prices: Column<u64>,
    counts: [u64; BOUNDS.len()],
}

impl Collector for PriceRanges {
    type Fruit = Vec<PriceRange>;
    type Child = SegmentPriceRanges;

    fn for_segment(&self, _segment: u32, reader: &SegmentReader) -> tantivy::Result<SegmentPriceRanges> {
        Ok(SegmentPriceRanges { prices: reader.fast_fields().u64("price")?, counts: [0; BOUNDS.len()] })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, segments: Vec<[u64; BOUNDS.len()]>) -> tantivy::Result<Vec<PriceRange>> {
        let mut counts = [0u64; BOUNDS.len()];
        for segment in segments {
            for (total, count) in counts.iter_mut().zip(segment) {
                *total += count;
            }
        }
        Ok(counts
            .iter()
            .enumerate()
            .filter(|(_, count)| **count > 0)
            .map(|(i, count)| PriceRange {
                min: BOUNDS[i] as i64,
                max: BOUNDS.get(i + 1).map(|b| *b as i64),
                count: *count,
            })
            .collect())
    }
}

impl SegmentCollector for SegmentPriceRanges {
    type Fruit = [u64; BOUNDS.len()];

    fn collect(&mut self, doc: DocId, _score: Score) {
        // Products without a price in the channel carry u64::MAX: they belong to no range.
        if let Some(price) = self.prices.first(doc).filter(|p| *p != u64::MAX) {
            self.counts[bucket(price)] += 1;
        }
    }

    fn harvest(self) -> Self::Fruit {
        self.counts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_price_falls_in_the_range_below_the_next_bound() {
        assert_eq!(bucket(0), 0);
        assert_eq!(bucket(2_499), 0);
        assert_eq!(bucket(2_500), 1);
        assert_eq!(bucket(9_999), 2);
        assert_eq!(bucket(1_000_000), 4);
    }
}
