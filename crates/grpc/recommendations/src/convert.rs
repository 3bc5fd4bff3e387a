//! The recommendations contract's types and their wire form, both ways: `to_*` encodes, the
//! plain-named function decodes. Limits travel as the caller gave them, so the module's own
//! checks answer the same errors in both topologies. Decoding what a peer sent fails as a bad
//! request naming the field (a malformed id), never a panic.

use comptoir_contracts::recommendations::{RebuildReport, Recommendation};
use comptoir_grpc::convert::uuid;
use comptoir_kernel::Result;

use crate::pb;

pub fn to_recommendation(r: &Recommendation) -> pb::Recommendation {
    pb::Recommendation {
        product_id: r.product_id.to_string(),
        product_name: r.product_name.clone(),
        orders_together: r.orders_together,
        confidence: r.confidence,
        lift: r.lift,
        score: r.score,
    }
}

pub fn recommendation(value: pb::Recommendation, path: &str) -> Result<Recommendation> {
    Ok(Recommendation {
        product_id: uuid(&value.product_id, &format!("{path}.product_id"))?,
        product_name: value.product_name,
        orders_together: value.orders_together,
        confidence: value.confidence,
        lift: value.lift,
        score: value.score,
    })
}

pub fn to_list(recommendations: &[Recommendation]) -> pb::RecommendationList {
    pb::RecommendationList { recommendations: recommendations.iter().map(to_recommendation).collect() }
}

/// Each element named by its index (`recommendations[1]`) so that an error points at it.
pub fn list(value: pb::RecommendationList) -> Result<Vec<Recommendation>> {
    value
        .recommendations
        .into_iter()
        .enumerate()
        .map(|(i, r)| recommendation(r, &format!("recommendations[{i}]")))
        .collect()
}

pub fn to_rebuild_report(report: &RebuildReport) -> pb::RebuildReport {
    pb::RebuildReport { orders: report.orders, pairs: report.pairs, took_ms: report.took_ms }
}

pub fn rebuild_report(value: pb::RebuildReport) -> RebuildReport {
    RebuildReport { orders: value.orders, pairs: value.pairs, took_ms: value.took_ms }
}

#[cfg(test)]
mod tests {
    use comptoir_kernel::Error;
    use uuid::Uuid;

    use super::*;

    #[test]
    fn every_value_survives_the_round_trip() {
        let recommendations = vec![
            Recommendation {
                product_id: Uuid::now_v7(),
                product_name: "Mug".into(),
                orders_together: 3,
                confidence: 0.75,
                lift: 1.3333,
                score: 0.1318,
            },
            Recommendation {
                product_id: Uuid::now_v7(),
                product_name: String::new(),
                orders_together: 0,
                confidence: 0.0,
                lift: 0.0,
                score: 0.0,
            },
        ];
        assert_eq!(list(to_list(&recommendations)).unwrap(), recommendations);
        let report = RebuildReport { orders: 7, pairs: 12, took_ms: 40 };
        assert_eq!(rebuild_report(to_rebuild_report(&report)), report);
    }

    #[test]
    fn a_malformed_answer_names_its_field() {
        let mut wire = to_list(&[]);
        wire.recommendations.push(pb::Recommendation { product_id: "nope".into(), ..Default::default() });
        match list(wire) {
            Err(e @ Error::BadRequest { .. }) => {
                assert!(e.to_string().contains("recommendations[0].product_id"), "{e}")
            }
            other => panic!("expected a bad request, got {other:?}"),
        }
    }
}
