//! Operator commands: backup and restore of the data directory, dead-letter purges, the outbox
//! backlog. The backup tests run against SQLite; on PostgreSQL they check the refusal instead.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use clap::Parser;
use comptoir::backup::{self, DataDirLock};
use comptoir::config::RateLimitConfig;
use comptoir::topology::Module;
use comptoir_kernel::{EventEnvelope, RequestContext};
use comptoir_storage::{Backend, testing};
use reqwest::Method;
use serde_json::{Value, json};

use crate::shop::{cart_with, checkout, checkout_body, fulfilment};
use crate::support::{TestApp, spawn_app, spawn_app_with};

fn on_postgres() -> bool {
    testing::backend() == Backend::Postgres
}

/// Every file under `dir` with its content's hash, to tell whether anything changed.
fn snapshot_of(dir: &Path) -> BTreeMap<PathBuf, String> {
    use sha2::Digest;
    let mut files = BTreeMap::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        for entry in std::fs::read_dir(&current).expect("readable") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let digest = hex::encode(sha2::Sha256::digest(std::fs::read(&path).expect("readable")));
                files.insert(path.strip_prefix(dir).expect("inside").to_path_buf(), digest);
            }
        }
    }
    files
}

fn file_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("readable")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("created");
    for entry in std::fs::read_dir(from).expect("readable") {
        let entry = entry.expect("entry");
        std::fs::copy(entry.path(), to.join(entry.file_name())).expect("copied");
    }
}

/// Staff logs in with the password `TestApp::staff_token` gives.
async fn staff_login(t: &TestApp, email: &str) -> String {
    let body = t
        .post("/api/v1/staff/auth/login", None, json!({"email": email, "password": "staff-password-123"}))
        .await
        .expect(200);
    body["access_token"].as_str().expect("token").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_while_the_shop_runs_restores_the_same_shop() {
    let t = spawn_app().await;
    let backups = tempfile::tempdir().unwrap();
    let target = backups.path().join("backup");
    if on_postgres() {
        let error = format!("{:#}", backup::backup(&t.app.config, &target).await.unwrap_err());
        assert!(error.contains("pg_dump") && error.contains("PostgreSQL"), "{error}");
        assert!(!target.exists(), "a refused backup writes nothing");
        return;
    }
    let admin = t.admin_token().await;
    fulfilment(&t, &admin).await;
    let product = t.stocked_product(&admin, "BAK", 5).await;
    let (customer_id, customer, _) = t.customer("ann@shop.test").await;
    let cart = cart_with(&t, &customer, "BAK-S", 2).await;
    let order = checkout(&t, &customer, "backup-1", checkout_body(&cart, "tok_visa")).await.expect(201);
    assert_eq!(order["status"], "confirmed");
    t.settle().await;
    let product_id = product["id"].as_str().unwrap();
    let order_id = order["id"].as_str().unwrap();
    let product_before = t.get(&format!("/api/v1/products/{product_id}"), None).await.expect(200);
    let stock_before = t.get("/api/v1/admin/stock/BAK-S", Some(&admin)).await.expect(200);
    let order_before = t.get(&format!("/api/v1/me/orders/{order_id}"), Some(&customer)).await.expect(200);

    // The shop keeps taking writes while the copies are made.
    let writes = async {
        for i in 0..8 {
            let body = json!({"email": format!("during-{i}@shop.test"), "password": "customer-pass-1"});
            t.post("/api/v1/auth/register", None, body).await.expect(201);
        }
    };
    let (manifest, ()) = tokio::join!(backup::backup(&t.app.config, &target), writes);
    let manifest = manifest.expect("the backup is taken while the shop runs");
    let names: Vec<&str> = manifest.databases.iter().map(|d| d.name.as_str()).collect();
    for module in Module::ALL {
        assert!(names.contains(&module.name()), "{module} is backed up: {names:?}");
    }
    assert!(names.contains(&"api"));
    assert!(
        manifest.databases.iter().all(|d| d.file.size > 0 && d.file.sha256.len() == 64 && d.migration_level >= Some(1))
    );
    let written: serde_json::Value =
        serde_json::from_slice(&std::fs::read(target.join("manifest.json")).unwrap()).expect("a JSON manifest");
    assert_eq!(written["comptoir_version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(written["databases"].as_array().unwrap().len(), manifest.databases.len());
    // Only the copies and the manifest: never the live WAL files.
    assert!(
        file_names(&target).iter().all(|f| f.ends_with(".sqlite") || f.ends_with(".secret") || f == "manifest.json")
    );
    let summary = comptoir::operations::backup_summary(&target, &manifest);
    assert!(summary.contains("catalog.sqlite"), "{summary}");

    // Restored into a fresh data directory, the application serves the same shop.
    let fresh = tempfile::tempdir().unwrap();
    let data_dir = fresh.path().join("data");
    let mut config = t.app.config.clone();
    config.data_dir = data_dir.clone();
    let restored = backup::restore(&config, &target).await.expect("the backup restores");
    assert_eq!(restored.moved_aside, None, "a fresh directory has nothing to move aside");
    assert!(restored.republished > 0, "the events published just before the backup are sent again");
    assert!(comptoir::operations::restore_summary(&restored).contains("ordering.sqlite"));
    drop(t);

    let r = spawn_app_with(|c| {
        c.data_dir = data_dir.clone();
        c.http.rate_limit = RateLimitConfig { per_ip: 0, per_customer: 0, per_api_key: 0 };
    })
    .await;
    // Events sent again are handled once: the inboxes came back with the databases.
    r.settle().await;
    assert_eq!(r.get(&format!("/api/v1/products/{product_id}"), None).await.expect(200), product_before);
    let admin = staff_login(&r, "root@shop.test").await;
    assert_eq!(r.get("/api/v1/admin/stock/BAK-S", Some(&admin)).await.expect(200), stock_before);
    assert_eq!((stock_before["on_hand"].as_i64(), stock_before["reserved"].as_i64()), (Some(3), Some(0)));
    let login = r
        .post("/api/v1/auth/login", None, json!({"email": "ann@shop.test", "password": "customer-pass-1"}))
        .await
        .expect(200);
    let customer = login["access_token"].as_str().unwrap();
    let me = r.get("/api/v1/me", Some(customer)).await.expect(200);
    assert_eq!(me["id"], customer_id);
    let order_after = r.get(&format!("/api/v1/me/orders/{order_id}"), Some(customer)).await.expect(200);
    assert_eq!(order_after["status"], "confirmed");
    assert_eq!(order_after, order_before);
    assert_eq!(r.get("/api/v1/me/orders", Some(customer)).await.expect(200)["total"], 1);
    let mail =
        r.get("/api/v1/admin/messages?to=ann@shop.test&template=order_confirmation", Some(&admin)).await.expect(200);
    assert_eq!(mail["total"], 1, "the confirmation is not sent twice: {mail}");
    // The restored shop takes new orders.
    let cart = cart_with(&r, customer, "BAK-S", 1).await;
    let second = checkout(&r, customer, "after-restore-1", checkout_body(&cart, "tok_visa")).await.expect(201);
    assert_eq!(second["status"], "confirmed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_refuses_a_damaged_backup_and_a_running_shop() {
    let t = spawn_app().await;
    let backups = tempfile::tempdir().unwrap();
    let good = backups.path().join("good");
    let stopped = backups.path().join("stopped-shop");
    let mut config = t.app.config.clone();
    config.data_dir = stopped.clone();
    if on_postgres() {
        std::fs::create_dir_all(&good).unwrap();
        std::fs::write(good.join("manifest.json"), "{}").unwrap();
        let error = format!("{:#}", backup::restore(&config, &good).await.unwrap_err());
        assert!(error.contains("pg_dump"), "{error}");
        assert!(!stopped.exists(), "a refused restore touches nothing");
        return;
    }
    let admin = t.admin_token().await;
    t.stocked_product(&admin, "TMP", 2).await;
    backup::backup(&t.app.config, &good).await.expect("backup");
    let again = format!("{:#}", backup::backup(&t.app.config, &good).await.unwrap_err());
    assert!(again.contains("is not empty"), "{again}");

    // A stopped shop's data directory, restored from the good backup once.
    backup::restore(&config, &good).await.expect("restore");
    let before = snapshot_of(&stopped);
    assert!(before.keys().any(|p| p == Path::new("catalog.sqlite")));

    // A byte changed in one copy: refused, naming the file.
    let tampered = backups.path().join("tampered");
    copy_dir(&good, &tampered);
    let mut bytes = std::fs::read(tampered.join("catalog.sqlite")).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(tampered.join("catalog.sqlite"), bytes).unwrap();
    let error = format!("{:#}", backup::restore(&config, &tampered).await.unwrap_err());
    assert!(error.contains("catalog.sqlite") && error.contains("checksum"), "{error}");
    assert_eq!(snapshot_of(&stopped), before, "a refused restore leaves the data directory as it was");

    // A copy missing: refused.
    let incomplete = backups.path().join("incomplete");
    copy_dir(&good, &incomplete);
    std::fs::remove_file(incomplete.join("identity.sqlite")).unwrap();
    let error = format!("{:#}", backup::restore(&config, &incomplete).await.unwrap_err());
    assert!(error.contains("lacks identity.sqlite"), "{error}");
    // No manifest, or one naming a file outside the backup: refused.
    std::fs::remove_file(incomplete.join("manifest.json")).unwrap();
    let error = format!("{:#}", backup::restore(&config, &incomplete).await.unwrap_err());
    assert!(error.contains("no manifest.json"), "{error}");
    let mut manifest: Value = serde_json::from_slice(&std::fs::read(good.join("manifest.json")).unwrap()).unwrap();
    manifest["secrets"] = json!([{"file": "../escape.secret", "size": 1, "sha256": "00"}]);
    std::fs::write(incomplete.join("manifest.json"), manifest.to_string()).unwrap();
    let error = format!("{:#}", backup::restore(&config, &incomplete).await.unwrap_err());
    assert!(error.contains("no secret file"), "{error}");
    assert_eq!(snapshot_of(&stopped), before);

    // A shop running on the data directory (holding it as `comptoir serve` does): refused.
    let serving = DataDirLock::shared(&config).expect("the lock").expect("an embedded data directory");
    let error = format!("{:#}", backup::restore(&config, &good).await.unwrap_err());
    assert!(error.contains("the shop is running"), "{error}");
    assert_eq!(snapshot_of(&stopped), before);
    drop(serving);
    // The test application's own directory, while it serves.
    let live_dir = t.app.config.data_dir.clone();
    let _live = DataDirLock::shared(&t.app.config).unwrap();
    let live_files = file_names(&live_dir);
    let error = format!("{:#}", backup::restore(&t.app.config, &good).await.unwrap_err());
    assert!(error.contains("the shop is running"), "{error}");
    assert_eq!(file_names(&live_dir), live_files, "nothing moved aside");

    // Once stopped, the restore goes through and keeps what it replaced.
    let restored = backup::restore(&config, &good).await.expect("restore");
    let aside = restored.moved_aside.expect("the replaced files are kept");
    assert!(aside.file_name().unwrap().to_string_lossy().starts_with("before-restore-"));
    assert!(aside.join("catalog.sqlite").is_file());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_are_purged_through_the_api_and_the_office() {
    let t = spawn_app().await;
    let admin = t.admin_token().await;
    let ctx = RequestContext::system();
    // The inventory consumer cannot handle an event whose data is not a product.
    for n in 0..3 {
        let bogus = EventEnvelope::new(&ctx, "catalog", "product.item.created", json!({"unexpected": n}));
        t.app.bus.publish(&bogus).await.unwrap();
    }
    t.settle().await;
    // Search and reporting read product events too and give up on them alike: this test is about
    // inventory's.
    assert_eq!(t.app.dead_letter_office().purge_all(Some(comptoir_search::PRODUCTS)).await.unwrap(), 3);
    assert_eq!(t.app.dead_letter_office().purge_all(Some(comptoir_reporting::CATALOG)).await.unwrap(), 3);
    let letters = t.get("/api/v1/admin/dead-letters", Some(&admin)).await.expect(200);
    assert_eq!(letters["total"], 3);
    let id = letters["items"][0]["id"].as_str().unwrap().to_string();
    let path = format!("/api/v1/admin/dead-letters/{id}");

    let support = t.staff_token("help@shop.test", &["support"]).await;
    t.call(Method::DELETE, &path, Some(&support), None).await.problem(403);
    t.call(Method::DELETE, &path, None, None).await.problem(401);
    t.call(Method::DELETE, "/api/v1/admin/dead-letters/not-an-id", Some(&admin), None).await.problem(404);
    assert_eq!(t.call(Method::DELETE, &path, Some(&admin), None).await.status, 204);
    t.get(&path, Some(&admin)).await.problem(404);
    t.call(Method::DELETE, &path, Some(&admin), None).await.problem(404);
    assert_eq!(t.get("/api/v1/admin/dead-letters", Some(&admin)).await.expect(200)["total"], 2);

    // The office reaches every module database, here or in the services.
    let office = t.app.dead_letter_office();
    assert_eq!(office.purge_all(Some("nobody.listens")).await.unwrap(), 0);
    let second = office.list(comptoir_kernel::PageRequest::new(1, 1).unwrap()).await.unwrap().items[0].letter.id;
    assert_eq!(office.purge(second).await.unwrap().letter.consumer, "inventory.catalog-skus");
    assert!(matches!(office.purge(second).await, Err(comptoir_kernel::Error::NotFound { .. })));
    assert_eq!(office.purge_all(Some("inventory.catalog-skus")).await.unwrap(), 1);
    assert_eq!(office.purge_all(None).await.unwrap(), 0);
    assert_eq!(t.get("/api/v1/admin/dead-letters", Some(&admin)).await.expect(200)["total"], 0);
}

#[test]
fn the_purge_command_wants_an_id_or_all() {
    use comptoir::cli::Cli;
    let parse = |args: &[&str]| Cli::try_parse_from(["comptoir", "dead-letters", "purge"].iter().chain(args));
    assert!(parse(&[]).is_err(), "nothing to purge named");
    assert!(parse(&["--consumer", "inventory.catalog-skus"]).is_err(), "--consumer filters --all");
    assert!(parse(&["not-a-uuid"]).is_err());
    assert!(parse(&["--all", "0190d6a0-0000-7000-8000-000000000000"]).is_err());
    assert!(parse(&["--all", "--consumer", "inventory.catalog-skus"]).is_ok());
    assert!(parse(&["0190d6a0-0000-7000-8000-000000000000"]).is_ok());
    assert!(Cli::try_parse_from(["comptoir", "backup"]).is_err(), "backup needs --to");
    assert!(Cli::try_parse_from(["comptoir", "restore", "--from", "/tmp/b"]).is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_outbox_backlog_is_reported_per_module() {
    let t = spawn_app().await;
    let admin = t.admin_token().await;
    t.stocked_product(&admin, "OBX", 1).await;
    t.settle().await;
    let body = t.get("/api/v1/admin/outbox", Some(&admin)).await.expect(200);
    let modules = body["modules"].as_array().expect("a list");
    let by_name: BTreeMap<&str, &Value> = modules.iter().map(|m| (m["module"].as_str().unwrap(), m)).collect();
    for module in Module::ALL {
        assert!(by_name.contains_key(module.name()), "{module} is reported: {body}");
    }
    assert!(by_name.contains_key("api"), "the API's own database too: {body}");
    for m in modules {
        assert_eq!(m["pending"], 0, "{m}");
        assert_eq!(m["oldest_pending_at"], Value::Null, "{m}");
        assert_eq!(m["oldest_pending_age_secs"], Value::Null, "{m}");
    }
    assert!(by_name["catalog"]["published_kept"].as_u64().unwrap() >= 2, "product created and published: {body}");

    let support = t.staff_token("help@shop.test", &["support"]).await;
    t.get("/api/v1/admin/outbox", Some(&support)).await.problem(403);
    t.get("/api/v1/admin/outbox", None).await.problem(401);

    // What `comptoir outbox` prints (once the support account's events are relayed).
    t.settle().await;
    let outboxes = t.app.dead_letter_office().outboxes().await.unwrap();
    assert_eq!(outboxes.len(), modules.len());
    let table = comptoir::operations::outbox_table(&outboxes, comptoir_kernel::time::now());
    assert!(
        table.contains("catalog") && table.ends_with(&format!("0 event(s) pending in {} outbox(es).", modules.len())),
        "{table}"
    );
    assert_eq!(comptoir::operations::age(chrono::TimeDelta::seconds(185)), "3m 05s");
}
