//! The admin module served over gRPC and driven through `AdminClient`, against the same module in
//! process: the same settings, and every refusal the same status, code, fields and message.
//! SQLite by default, PostgreSQL with COMPTOIR_TEST_BACKEND=postgres.

use std::sync::Arc;

use async_trait::async_trait;
use comptoir_admin::{AdminConfig, AdminModule, MIGRATIONS};
use comptoir_admin_grpc::{AdminClient, service};
use comptoir_catalog::CatalogModule;
use comptoir_contracts::admin::events::{self, SettingsUpdated};
use comptoir_contracts::admin::{AdminPort, SettingsUpdate};
use comptoir_contracts::identity::SellerDirectory;
use comptoir_grpc::server::ServiceSet;
use comptoir_grpc::{Remote, RemoteSettings};
use comptoir_kernel::{Actor, Error, RequestContext, Result};
use comptoir_storage::{outbox, testing};
use tokio::net::TcpListener;
use uuid::Uuid;

struct NoSellers;

#[async_trait]
impl SellerDirectory for NoSellers {
    async fn seller_exists(&self, _ctx: &RequestContext, _id: Uuid) -> Result<bool> {
        Ok(false)
    }
}

struct Shop {
    local: AdminModule,
    remote: AdminClient,
    db: testing::TestDb,
    _catalog_db: testing::TestDb,
}

async fn shop() -> Shop {
    let db = testing::open("admin", &MIGRATIONS).await;
    let catalog_db = testing::open("catalog", &comptoir_catalog::MIGRATIONS).await;
    let catalog = Arc::new(CatalogModule::new(catalog_db.db.clone(), Arc::new(NoSellers)));
    let local = AdminModule::new(db.db.clone(), catalog, AdminConfig::default());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(ServiceSet::new().add(service(Arc::new(local.clone()))).serve(listener, std::future::pending()));
    let remote = Remote::connect("admin", &format!("http://{address}"), RemoteSettings::default()).unwrap();
    Shop { local, remote: AdminClient::new(remote), db, _catalog_db: catalog_db }
}

fn ctx() -> RequestContext {
    RequestContext::new("corr-admin-grpc", Actor::user("staff-9"))
}

impl Shop {
    /// The same call through the client and in process: both refused alike.
    async fn refused(
        &self,
        call: impl AsyncFn(&dyn AdminPort) -> Result<comptoir_contracts::admin::ShopSettings>,
    ) -> Error {
        let remote = call(&self.remote).await.expect_err("refused through the client");
        let local = call(&self.local).await.expect_err("refused in process");
        assert_eq!(
            (remote.status(), remote.code(), remote.field_errors(), remote.to_string()),
            (local.status(), local.code(), local.field_errors(), local.to_string()),
        );
        remote
    }
}

#[tokio::test]
async fn settings_are_read_and_changed_through_the_client_with_the_callers_context() {
    let shop = shop().await;
    let first = shop.remote.settings(&ctx()).await.unwrap();
    assert_eq!(first, shop.local.settings(&ctx()).await.unwrap());
    assert_eq!((first.version, first.updated_by.as_deref()), (1, None));

    let update = SettingsUpdate {
        shop_name: Some("Chez Ann".into()),
        default_channel: Some("store".into()),
        maintenance_mode: Some(true),
        maintenance_message: Some("Stocktaking".into()),
        maintenance_retry_after_secs: Some(60),
        expected_version: Some(1),
        ..SettingsUpdate::default()
    };
    let updated = shop.remote.update_settings(&ctx(), update).await.unwrap();
    assert_eq!(updated, shop.local.settings(&ctx()).await.unwrap(), "every field survives the wire");
    assert_eq!(
        (updated.shop_name.as_str(), updated.default_channel.as_str(), updated.maintenance_mode, updated.version),
        ("Chez Ann", "store", true, 2)
    );
    assert_eq!(updated.updated_by.as_deref(), Some("staff-9"));

    let announced = outbox::pending(&shop.db, 100).await.unwrap();
    let settings_updated: Vec<_> = announced.iter().filter(|e| e.event_type == events::SETTINGS_UPDATED).collect();
    assert_eq!(settings_updated.len(), 1);
    assert_eq!(settings_updated[0].correlation_id, "corr-admin-grpc", "the context travelled in metadata");
    let data: SettingsUpdated = settings_updated[0].data_as().unwrap();
    assert_eq!(data.settings, updated);
    assert!(announced.iter().any(|e| e.event_type == events::MAINTENANCE_STARTED));
}

#[tokio::test]
async fn refusals_cross_the_wire_unchanged() {
    let shop = shop().await;
    let bad = SettingsUpdate {
        shop_name: Some(" ".into()),
        default_currency: Some("XYZ".into()),
        maintenance_retry_after_secs: Some(0),
        ..SettingsUpdate::default()
    };
    let e = shop.refused(async |port| port.update_settings(&ctx(), bad.clone()).await).await;
    let fields: Vec<&str> = e.field_errors().iter().map(|f| f.field.as_str()).collect();
    assert_eq!((e.status(), fields), (422, vec!["shop_name", "default_currency", "maintenance_retry_after_secs"]));

    let stale = SettingsUpdate { maintenance_mode: Some(true), expected_version: Some(7), ..SettingsUpdate::default() };
    let e = shop.refused(async |port| port.update_settings(&ctx(), stale.clone()).await).await;
    assert_eq!((e.status(), e.field_errors()[0].field.as_str()), (409, "expected_version"));

    let e = shop.refused(async |port| port.update_settings(&ctx(), SettingsUpdate::default()).await).await;
    assert_eq!(e.status(), 400);
    assert_eq!(shop.local.settings(&ctx()).await.unwrap().version, 1, "nothing was written");
}
