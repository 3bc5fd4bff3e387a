//! The provider contract run against the in-process bus. The broker providers run the same
//! checks in their own crates, against real brokers.

use std::sync::Arc;

use async_trait::async_trait;
use comptoir_eventbus::contract::{self, Provider};
use comptoir_eventbus::{EventBus, MemoryBus, RetryPolicy};

struct Memory;

#[async_trait]
impl Provider for Memory {
    fn name(&self) -> &'static str {
        "memory"
    }

    async fn connect(&self, _namespace: &str, retry: RetryPolicy) -> Arc<dyn EventBus> {
        Arc::new(MemoryBus::new(retry))
    }

    fn has_broker(&self) -> bool {
        false
    }
}

#[tokio::test]
async fn patterns_route_each_event_to_its_consumers() {
    contract::patterns_route_each_event_to_its_consumers(&Memory).await;
}

#[tokio::test]
async fn every_consumer_receives_its_own_copy() {
    contract::every_consumer_receives_its_own_copy(&Memory).await;
}

#[tokio::test]
async fn a_failed_handling_is_redelivered() {
    contract::a_failed_handling_is_redelivered(&Memory).await;
}

#[tokio::test]
async fn the_last_failure_is_dead_lettered_then_replayed() {
    contract::the_last_failure_is_dead_lettered_then_replayed(&Memory).await;
}

#[tokio::test]
async fn a_redelivered_event_has_no_second_effect() {
    contract::a_redelivered_event_has_no_second_effect(&Memory).await;
}

#[tokio::test]
async fn broadcasts_reach_the_broadcast_consumers_only() {
    contract::broadcasts_reach_every_instance(&Memory).await;
}
