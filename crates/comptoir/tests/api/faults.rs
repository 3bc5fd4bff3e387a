//! Faults in a distributed topology: a service that stops and comes back. In the monolith there
//! is no service to stop; CI runs this suite in the distributed and mixed topologies.

use std::time::{Duration, Instant};

use comptoir::topology::Module;
use serde_json::Value;

use crate::checkout::{cart_with, checkout, checkout_body, fulfilment};
use crate::support::{TestApp, spawn_app, topology};

/// Whether the payment module runs as its own service here; says so loudly when it does not.
fn payment_is_a_service(t: &TestApp) -> bool {
    let apart = t.runs_as_service(Module::Payment);
    if !apart {
        eprintln!(
            "NOT RUN in the {:?} topology: payment runs in the monolith; run with COMPTOIR_TEST_TOPOLOGY=distributed or mixed",
            topology()
        );
    }
    apart
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkouts_fail_fast_while_payment_is_down_leave_nothing_behind_and_recover() {
    let mut t = spawn_app().await;
    if !payment_is_a_service(&t) {
        return;
    }
    let admin = t.admin_token().await;
    fulfilment(&t, &admin).await;
    t.stocked_product(&admin, "DOWN", 5).await;
    let (_, customer, _) = t.customer("ann@shop.test").await;
    let cart = cart_with(&t, &customer, "DOWN-M", 2).await;

    t.stop_service(Module::Payment).await;
    for attempt in 1..=3 {
        let started = Instant::now();
        let refused = checkout(&t, &customer, &format!("down-{attempt}"), checkout_body(&cart, "tok_visa")).await;
        let detail = refused.body["detail"].as_str().unwrap_or_default().to_string();
        refused.problem(503);
        assert!(detail.contains("payment service"), "the problem names the service: {detail}");
        // Far below the 30 s call deadline: the caller is refused, not left hanging.
        assert!(started.elapsed() < Duration::from_secs(5), "attempt {attempt} took {:?}", started.elapsed());
    }
    t.settle().await;
    let orders = t.get("/api/v1/me/orders", Some(&customer)).await.expect(200);
    let statuses: Vec<&Value> = orders["items"].as_array().unwrap().iter().map(|o| &o["status"]).collect();
    assert!(!statuses.is_empty() && statuses.iter().all(|s| *s == "cancelled"), "{statuses:?}");
    let stock = t.get("/api/v1/admin/stock/DOWN-M", Some(&admin)).await.expect(200);
    assert_eq!((stock["reserved"].as_i64(), stock["available"].as_i64()), (Some(0), Some(5)), "nothing stays reserved");

    t.start_service(Module::Payment).await;
    // The callers' circuit breaker lets calls through again within its pause (5 s).
    // Each attempt is a new checkout (a key reused would answer the order it cancelled).
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut attempt = 0;
    let paid = loop {
        attempt += 1;
        let reply = checkout(&t, &customer, &format!("up-{attempt}"), checkout_body(&cart, "tok_visa")).await;
        if reply.status.as_u16() == 201 || Instant::now() > deadline {
            break reply.expect(201);
        }
        assert_eq!(reply.status.as_u16(), 503, "only unavailability while recovering: {}", reply.body);
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert_eq!(paid["status"], "confirmed");
    t.settle().await;

    // No charge without an order: every payment belongs to the confirmed order.
    let payments = t.get("/api/v1/admin/payments", Some(&admin)).await.expect(200);
    let charged: Vec<&Value> = payments["items"].as_array().unwrap().iter().map(|p| &p["order_id"]).collect();
    assert_eq!(charged, vec![&paid["id"]], "{payments}");
    let stock = t.get("/api/v1/admin/stock/DOWN-M", Some(&admin)).await.expect(200);
    assert_eq!((stock["reserved"].as_i64(), stock["available"].as_i64()), (Some(0), Some(3)));
    // Events for the shipment and invoice drained once everything ran again.
    let order_id = paid["id"].as_str().unwrap();
    t.get(&format!("/api/v1/admin/orders/{order_id}/invoice"), Some(&admin)).await.expect(200);
    t.get(&format!("/api/v1/admin/orders/{order_id}/shipment"), Some(&admin)).await.expect(200);
}

/// Runs `rabbitmqctl <command>`, failing the test if it cannot.
fn rabbitmqctl(command: &str) {
    let output = std::process::Command::new("rabbitmqctl")
        .arg(command)
        .output()
        .unwrap_or_else(|e| panic!("rabbitmqctl {command} could not run ({e}); this test restarts RabbitMQ"));
    assert!(output.status.success(), "rabbitmqctl {command} failed: {}", String::from_utf8_lossy(&output.stderr));
}

async fn wait_for_amqp_port(open: bool) {
    for _ in 0..300 {
        if tokio::net::TcpStream::connect("127.0.0.1:5672").await.is_ok() == open {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("RabbitMQ's port did not {} within 30 s", if open { "open" } else { "close" });
}

/// Starts the broker again if the test fails while it is stopped.
struct RestartBrokerOnPanic;

impl Drop for RestartBrokerOnPanic {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let _ = std::process::Command::new("rabbitmqctl").arg("start_app").status();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "restarts RabbitMQ, which every other test uses: scripts/test.sh runs it alone"]
async fn orders_placed_while_the_broker_restarts_are_fulfilled_once_it_is_back() {
    assert_eq!(
        std::env::var("COMPTOIR_TEST_BUS").as_deref(),
        Ok("rabbitmq"),
        "this test restarts RabbitMQ: run it with COMPTOIR_TEST_BUS=rabbitmq"
    );
    let t = spawn_app().await;
    let admin = t.admin_token().await;
    fulfilment(&t, &admin).await;
    t.stocked_product(&admin, "BRK", 10).await;
    // One customer per order: a customer's cart is closed by an event, which waits too.
    let mut customers = Vec::new();
    for n in 1..=3 {
        customers.push(t.customer(&format!("buyer{n}@shop.test")).await.1);
    }
    t.settle().await;

    let _guard = RestartBrokerOnPanic;
    rabbitmqctl("stop_app");
    wait_for_amqp_port(false).await;
    // The saga's calls are synchronous: orders are taken while the broker is away; what they
    // cause elsewhere (stock committed, shipment, invoice) waits in the outboxes.
    let mut orders = Vec::new();
    for (n, customer) in customers.iter().enumerate() {
        let cart = cart_with(&t, customer, "BRK-M", 1).await;
        let order = checkout(&t, customer, &format!("brk-{n}"), checkout_body(&cart, "tok_visa")).await.expect(201);
        assert_eq!(order["status"], "confirmed");
        orders.push(order["id"].as_str().unwrap().to_string());
    }
    rabbitmqctl("start_app");
    wait_for_amqp_port(true).await;

    let deadline = Instant::now() + Duration::from_secs(60);
    for order_id in &orders {
        for what in ["invoice", "shipment"] {
            let path = format!("/api/v1/admin/orders/{order_id}/{what}");
            while t.get(&path, Some(&admin)).await.status.as_u16() != 200 {
                assert!(Instant::now() < deadline, "the {what} of order {order_id} never came");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
    t.settle().await;
    let stock = t.get("/api/v1/admin/stock/BRK-M", Some(&admin)).await.expect(200);
    assert_eq!((stock["reserved"].as_i64(), stock["available"].as_i64()), (Some(0), Some(7)), "{stock}");
}
