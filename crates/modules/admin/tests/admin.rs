//! The admin module against a real database (SQLite, or PostgreSQL when
//! COMPTOIR_TEST_BACKEND=postgres), with the real catalog module answering for channels.

use std::sync::Arc;

use async_trait::async_trait;
use comptoir_admin::{AdminConfig, AdminModule, MIGRATIONS};
use comptoir_catalog::CatalogModule;
use comptoir_contracts::admin::events::{self, Maintenance, SettingsUpdated};
use comptoir_contracts::admin::{AdminPort, DEFAULT_RETRY_AFTER_SECS, SettingsUpdate};
use comptoir_contracts::catalog::CatalogPort;
use comptoir_contracts::identity::SellerDirectory;
use comptoir_kernel::{Actor, Error, EventEnvelope, RequestContext, Result};
use comptoir_storage::{outbox, testing};
use uuid::Uuid;

struct NoSellers;

#[async_trait]
impl SellerDirectory for NoSellers {
    async fn seller_exists(&self, _ctx: &RequestContext, _id: Uuid) -> Result<bool> {
        Ok(false)
    }
}

struct Shop {
    db: testing::TestDb,
    _catalog_db: testing::TestDb,
    catalog: Arc<CatalogModule>,
    admin: AdminModule,
}

async fn shop() -> Shop {
    let db = testing::open("admin", &MIGRATIONS).await;
    let catalog_db = testing::open("catalog", &comptoir_catalog::MIGRATIONS).await;
    let catalog = Arc::new(CatalogModule::new(catalog_db.db.clone(), Arc::new(NoSellers)));
    let defaults = AdminConfig { shop_name: "Le Comptoir".into(), ..AdminConfig::default() };
    let admin = AdminModule::new(db.db.clone(), catalog.clone(), defaults);
    Shop { db, _catalog_db: catalog_db, catalog, admin }
}

fn staff() -> RequestContext {
    RequestContext::new("corr-admin", Actor::user("staff-1"))
}

impl Shop {
    async fn events(&self, event_type: &str) -> Vec<EventEnvelope> {
        outbox::pending(&self.db, 1000).await.unwrap().into_iter().filter(|e| e.event_type == event_type).collect()
    }

    async fn event_count(&self) -> usize {
        outbox::pending(&self.db, 1000).await.unwrap().len()
    }
}

fn maintenance_on(expected_version: Option<i64>) -> SettingsUpdate {
    SettingsUpdate {
        maintenance_mode: Some(true),
        maintenance_message: Some("Back at noon".into()),
        maintenance_retry_after_secs: Some(120),
        expected_version,
        ..SettingsUpdate::default()
    }
}

#[tokio::test]
async fn a_new_shop_starts_with_its_configured_defaults() {
    let shop = shop().await;
    let first = shop.admin.settings(&staff()).await.unwrap();
    assert_eq!(
        (first.shop_name.as_str(), first.default_channel.as_str(), first.default_currency.as_str()),
        ("Le Comptoir", "online", "EUR")
    );
    assert!(!first.maintenance_mode);
    assert_eq!((first.version, first.maintenance_retry_after_secs), (1, DEFAULT_RETRY_AFTER_SECS));
    assert_eq!(first.updated_by, None);
    let again = shop.admin.settings(&staff()).await.unwrap();
    assert_eq!(again, first, "the defaults are written once, not made up on every read");
    assert_eq!(shop.event_count().await, 0, "starting with the defaults is not a change");
}

#[tokio::test]
async fn maintenance_is_turned_on_and_off_with_events_in_the_same_transaction() {
    let shop = shop().await;
    let on = shop.admin.update_settings(&staff(), maintenance_on(Some(1))).await.unwrap();
    assert!(on.maintenance_mode);
    assert_eq!(
        (on.version, on.maintenance_message.as_str(), on.maintenance_retry_after_secs),
        (2, "Back at noon", 120)
    );
    assert_eq!(on.updated_by.as_deref(), Some("staff-1"));
    assert_eq!(shop.admin.settings(&staff()).await.unwrap(), on);

    let started = shop.events(events::MAINTENANCE_STARTED).await;
    assert_eq!(started.len(), 1);
    let started: Maintenance = started[0].data_as().unwrap();
    assert_eq!((started.message.as_str(), started.retry_after_secs, started.version), ("Back at noon", 120, 2));
    let updated: SettingsUpdated = shop.events(events::SETTINGS_UPDATED).await[0].data_as().unwrap();
    assert_eq!(updated.changed, ["maintenance_mode", "maintenance_message", "maintenance_retry_after_secs"]);
    assert_eq!(updated.settings, on);
    assert_eq!(shop.events(events::SETTINGS_UPDATED).await[0].correlation_id, "corr-admin");

    let off = SettingsUpdate { maintenance_mode: Some(false), ..SettingsUpdate::default() };
    let off = shop.admin.update_settings(&staff(), off).await.unwrap();
    assert_eq!((off.maintenance_mode, off.version), (false, 3));
    assert_eq!(shop.events(events::MAINTENANCE_ENDED).await.len(), 1);
    assert_eq!(shop.events(events::SETTINGS_UPDATED).await.len(), 2);
}

#[tokio::test]
async fn an_update_from_a_stale_version_is_refused_and_changes_nothing() {
    let shop = shop().await;
    let rename = SettingsUpdate { shop_name: Some("Chez Ann".into()), ..SettingsUpdate::default() };
    shop.admin.update_settings(&staff(), rename).await.unwrap();
    let events_before = shop.event_count().await;

    let e = shop.admin.update_settings(&staff(), maintenance_on(Some(1))).await.unwrap_err();
    assert!(matches!(e, Error::Conflict { .. }), "{e:?}");
    assert_eq!(e.field_errors()[0].field, "expected_version");
    let now = shop.admin.settings(&staff()).await.unwrap();
    assert_eq!((now.shop_name.as_str(), now.maintenance_mode, now.version), ("Chez Ann", false, 2));
    assert_eq!(shop.event_count().await, events_before);
}

#[tokio::test]
async fn concurrent_updates_from_the_same_version_let_exactly_one_through() {
    let shop = shop().await;
    shop.admin.settings(&staff()).await.unwrap();
    let attempts = (0..8).map(|i| {
        let admin = shop.admin.clone();
        let update =
            SettingsUpdate { shop_name: Some(format!("Shop {i}")), expected_version: Some(1), ..Default::default() };
        tokio::spawn(async move { admin.update_settings(&staff(), update).await })
    });
    let mut won = 0;
    for attempt in attempts {
        match attempt.await.unwrap() {
            Ok(settings) => {
                won += 1;
                assert_eq!(settings.version, 2);
            }
            // SQLite may also answer that the database is busy; what matters is that no second
            // update lands on top of the first.
            Err(Error::Conflict { .. } | Error::Unavailable(_)) => {}
            Err(other) => panic!("unexpected error: {other:?}"),
        }
    }
    assert_eq!(won, 1);
    assert_eq!(shop.admin.settings(&staff()).await.unwrap().version, 2);
    assert_eq!(shop.events(events::SETTINGS_UPDATED).await.len(), 1);
}

#[tokio::test]
async fn bad_values_are_named_and_nothing_is_written() {
    let shop = shop().await;
    let bad = SettingsUpdate {
        shop_name: Some(String::new()),
        default_channel: Some("moon".into()),
        maintenance_retry_after_secs: Some(0),
        maintenance_mode: Some(true),
        ..SettingsUpdate::default()
    };
    let e = shop.admin.update_settings(&staff(), bad).await.unwrap_err();
    assert!(matches!(e, Error::Validation { .. }), "{e:?}");
    let fields: Vec<&str> = e.field_errors().iter().map(|f| f.field.as_str()).collect();
    assert_eq!(fields, ["shop_name", "default_channel", "maintenance_retry_after_secs"]);
    let now = shop.admin.settings(&staff()).await.unwrap();
    assert_eq!((now.version, now.maintenance_mode), (1, false));
    assert_eq!(shop.event_count().await, 0);

    let e = shop.admin.update_settings(&staff(), SettingsUpdate::default()).await.unwrap_err();
    assert!(matches!(e, Error::BadRequest { .. }), "an update naming nothing is a bad request: {e:?}");
}

#[tokio::test]
async fn the_default_channel_is_one_of_the_catalogs_and_sets_the_currency() {
    let shop = shop().await;
    let channels = shop.catalog.list_channels(&staff()).await.unwrap();
    let store = channels.iter().find(|c| c.code == "store").expect("the catalog starts with a store channel");
    let update = SettingsUpdate { default_channel: Some("store".into()), ..SettingsUpdate::default() };
    let settings = shop.admin.update_settings(&staff(), update).await.unwrap();
    assert_eq!(
        (settings.default_channel.as_str(), settings.default_currency.as_str()),
        ("store", store.currency.code())
    );

    let mismatch = SettingsUpdate { default_currency: Some("USD".into()), ..SettingsUpdate::default() };
    let e = shop.admin.update_settings(&staff(), mismatch).await.unwrap_err();
    assert_eq!(e.field_errors()[0].field, "default_currency");
    assert_eq!(shop.admin.settings(&staff()).await.unwrap().default_currency, store.currency.code());
}

#[tokio::test]
async fn an_update_that_changes_nothing_keeps_the_version_and_says_nothing() {
    let shop = shop().await;
    let same =
        SettingsUpdate { shop_name: Some("Le Comptoir".into()), maintenance_mode: Some(false), ..Default::default() };
    let settings = shop.admin.update_settings(&staff(), same).await.unwrap();
    assert_eq!(settings.version, 1);
    assert_eq!(shop.event_count().await, 0);
}
