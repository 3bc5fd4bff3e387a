//! Outbound webhooks through the API, in every topology: a third party's endpoint written from
//! docs/WEBHOOKS.md alone (tests/api/fixtures/webhook_receiver.py runs the page's own Python
//! `verify`) receives signed events, failures are retried and logged, and staff redeliver.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::support::spawn_app;

struct Receiver {
    url: String,
    dir: tempfile::TempDir,
    _process: Child,
}

impl Receiver {
    async fn start() -> Receiver {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
        let dir = tempfile::tempdir().expect("a directory");
        let mut process = Command::new("python3")
            .arg(root.join("crates/comptoir/tests/api/fixtures/webhook_receiver.py"))
            .arg(root.join("docs/WEBHOOKS.md"))
            .arg(dir.path())
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("python3 runs the receiver (apt-get install python3)");
        let mut first = String::new();
        BufReader::new(process.stdout.take().unwrap()).read_line(&mut first).await.expect("its port");
        let port: u16 = first.trim().parse().unwrap_or_else(|_| panic!("the receiver printed {first:?}"));
        Receiver { url: format!("http://127.0.0.1:{port}/hooks"), dir, _process: process }
    }

    fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn set_secret(&self, secret: &str) {
        std::fs::write(self.file("secret"), secret).unwrap();
    }

    fn fail(&self, failing: bool) {
        match failing {
            true => std::fs::write(self.file("fail"), "").unwrap(),
            false => std::fs::remove_file(self.file("fail")).unwrap_or(()),
        }
    }

    fn received(&self) -> Vec<Value> {
        read_lines(&self.file("received.jsonl"))
    }

    /// Waits until `count` deliveries of `event_type` have arrived.
    async fn wait_for(&self, event_type: &str, count: usize) -> Vec<Value> {
        for _ in 0..400 {
            let got: Vec<Value> = self.received().into_iter().filter(|r| r["type"] == event_type).collect();
            if got.len() >= count {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("fewer than {count} {event_type} deliveries after 10 s: {:?}", self.received());
    }
}

fn read_lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn third_parties_get_signed_events_retried_logged_and_redelivered() {
    let t = spawn_app().await;
    let admin = t.admin_token().await;
    let receiver = Receiver::start().await;

    let (_, customer, _) = t.customer("nosy@shop.test").await;
    let subscribe = json!({"url": receiver.url, "patterns": ["product.item.*"], "description": "PIM sync"});
    t.post("/api/v1/admin/webhooks", Some(&customer), subscribe.clone()).await.problem(403);
    let bad = json!({"url": "ftp://example.com/hooks", "patterns": ["product.item.*"]});
    assert_eq!(t.post("/api/v1/admin/webhooks", Some(&admin), bad).await.problem(422), ["url"]);
    let subscription = t.post("/api/v1/admin/webhooks", Some(&admin), subscribe).await.expect(201);
    let secret = subscription["secret"].as_str().expect("the secret, shown once");
    receiver.set_secret(secret);
    let id = subscription["id"].as_str().unwrap().to_string();
    let shown = t.get(&format!("/api/v1/admin/webhooks/{id}"), Some(&admin)).await.expect(200);
    assert!(shown.get("secret").is_none() && shown["secret_hint"].as_str().unwrap().starts_with("whsec_"), "{shown}");

    // A product published: its events arrive signed, with the envelope as the body.
    let product = t.stocked_product(&admin, "HOOK", 1).await;
    let created = receiver.wait_for("product.item.created", 1).await;
    assert_eq!(created[0]["valid"], true, "the documented verification accepts it: {created:?}");
    assert_eq!(created[0]["body"]["data"]["product_id"], product["id"]);
    assert_eq!(created[0]["body"]["source"], "catalog");
    assert!(created[0]["body"]["correlation_id"].as_str().is_some_and(|c| !c.is_empty()));
    receiver.wait_for("product.item.published", 1).await;
    assert!(receiver.received().iter().all(|r| r["type"].as_str().unwrap().starts_with("product.item.")));

    // The endpoint fails: every attempt is logged, then the delivery fails.
    receiver.fail(true);
    let product_id = product["id"].as_str().unwrap();
    t.post(&format!("/api/v1/admin/products/{product_id}/unpublish"), Some(&admin), json!({})).await.expect(200);
    let tries = receiver.wait_for("product.item.unpublished", 3).await;
    assert!(
        tries.iter().all(|r| r["valid"] == true && r["delivery"] == tries[0]["delivery"]),
        "one delivery, re-signed: {tries:?}"
    );
    let delivery_id = tries[0]["delivery"].as_str().unwrap().to_string();
    let mut failed = Value::Null;
    for _ in 0..200 {
        failed =
            t.get(&format!("/api/v1/admin/webhooks/{id}/deliveries?status=failed"), Some(&admin)).await.expect(200);
        if failed["total"] == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(failed["items"][0]["id"], delivery_id.as_str(), "{failed}");
    let detail = t.get(&format!("/api/v1/admin/webhook-deliveries/{delivery_id}"), Some(&admin)).await.expect(200);
    let codes: Vec<&Value> = detail["attempts"].as_array().unwrap().iter().map(|a| &a["response_code"]).collect();
    assert_eq!(codes, [&json!(500), &json!(500), &json!(500)], "{detail}");
    assert_eq!(detail["attempts"][0]["response_body"], "not now");

    // It works again: staff send it once more.
    receiver.fail(false);
    let redelivered = t
        .post(&format!("/api/v1/admin/webhook-deliveries/{delivery_id}/redeliver"), Some(&admin), json!({}))
        .await
        .expect(200);
    assert_eq!(redelivered["status"], "delivered", "{redelivered}");
    assert_eq!(redelivered["attempts"].as_array().unwrap().last().unwrap()["manual"], true);
    assert_eq!(receiver.wait_for("product.item.unpublished", 4).await.len(), 4);
    let subscription = t.get(&format!("/api/v1/admin/webhooks/{id}"), Some(&admin)).await.expect(200);
    assert_eq!(subscription["consecutive_failures"], 0, "a success resets the count: {subscription}");

    t.call(reqwest::Method::DELETE, &format!("/api/v1/admin/webhooks/{id}"), Some(&admin), None).await.expect(204);
    t.get(&format!("/api/v1/admin/webhooks/{id}"), Some(&admin)).await.problem(404);
}
