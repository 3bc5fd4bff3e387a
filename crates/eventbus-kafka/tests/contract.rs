//! The provider contract against Kafka (a tansu broker this binary starts on a free port), plus
//! checks on the raw broker (`raw`): what the records look like, the dead-letter topic, offsets
//! of unfinished handlings, failing fast while the broker is away.

mod raw;
mod support;

use comptoir_eventbus::contract;

use support::{Kafka, exclusive_broker, shared_broker};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patterns_route_each_event_to_its_consumers() {
    let _broker = shared_broker().await;
    contract::patterns_route_each_event_to_its_consumers(&Kafka).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_consumer_receives_its_own_copy() {
    let _broker = shared_broker().await;
    contract::every_consumer_receives_its_own_copy(&Kafka).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_of_a_consumer_share_its_queue() {
    let _broker = shared_broker().await;
    contract::instances_of_a_consumer_share_its_queue(&Kafka).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_handling_is_redelivered() {
    let _broker = shared_broker().await;
    contract::a_failed_handling_is_redelivered(&Kafka).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_last_failure_is_dead_lettered_then_replayed() {
    let _broker = shared_broker().await;
    contract::the_last_failure_is_dead_lettered_then_replayed(&Kafka).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redelivered_event_has_no_second_effect() {
    let _broker = shared_broker().await;
    contract::a_redelivered_event_has_no_second_effect(&Kafka).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broadcasts_reach_every_instance() {
    let _broker = shared_broker().await;
    contract::broadcasts_reach_every_instance(&Kafka).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_lost_across_a_broker_restart() {
    let _broker = exclusive_broker().await;
    contract::nothing_is_lost_across_a_broker_restart(&Kafka).await;
}
