//! The demo shop: a category tree, a few hundred products with variants priced in both channels,
//! stock in a warehouse and a store, two collections, VAT rules, a European shipping zone with two
//! methods, a demo customer and a staff admin. Generated
//! deterministically through the modules' ports, exactly as an operator or integration would.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::Context;
use comptoir_contracts::address::PostalAddress;
use comptoir_contracts::billing::NewTaxRule;
use comptoir_contracts::catalog::{
    NewCategory, NewCollection, NewProduct, NewVariant, PriceInput, ProductFilter, Visibility,
};
use comptoir_contracts::identity::{NewSeller, NewStaff, RegisterCustomer, Role};
use comptoir_contracts::inventory::{LocationKind, NewLocation, ReceiveStock};
use comptoir_contracts::pos::StoreInput;
use comptoir_contracts::shipping::{NewShippingMethod, NewZone, Rate, WeightBracket};
use comptoir_kernel::{Currency, PageRequest, RequestContext};
use uuid::Uuid;

use crate::app::App;

pub const ADMIN_EMAIL: &str = "admin@comptoir.test";
pub const ADMIN_PASSWORD: &str = "demo-admin-password";
pub const CASHIER_EMAIL: &str = "cashier@comptoir.test";
pub const CASHIER_PASSWORD: &str = "demo-cashier-password";
pub const CUSTOMER_EMAIL: &str = "customer@comptoir.test";
pub const CUSTOMER_PASSWORD: &str = "demo-customer-password";

/// A leaf category and how its products vary.
struct Family {
    parent: &'static str,
    name: &'static str,
    code: &'static str,
    nouns: &'static [&'static str],
    option: &'static str,
    values: &'static [&'static str],
    base_price: i64,
    weight_grams: i64,
}

const FAMILIES: &[Family] = &[
    Family {
        parent: "Apparel",
        name: "T-shirts",
        code: "TSH",
        nouns: &["T-shirt", "Tee", "Polo", "Henley"],
        option: "size",
        values: &["S", "M", "L", "XL"],
        base_price: 1900,
        weight_grams: 180,
    },
    Family {
        parent: "Apparel",
        name: "Hoodies",
        code: "HOO",
        nouns: &["Hoodie", "Sweatshirt", "Zip Hoodie"],
        option: "size",
        values: &["S", "M", "L"],
        base_price: 4900,
        weight_grams: 550,
    },
    Family {
        parent: "Apparel",
        name: "Jackets",
        code: "JKT",
        nouns: &["Jacket", "Parka", "Windbreaker"],
        option: "size",
        values: &["M", "L"],
        base_price: 8900,
        weight_grams: 900,
    },
    Family {
        parent: "Footwear",
        name: "Sneakers",
        code: "SNK",
        nouns: &["Sneakers", "Runners", "Trainers"],
        option: "size",
        values: &["40", "42", "44"],
        base_price: 6900,
        weight_grams: 800,
    },
    Family {
        parent: "Footwear",
        name: "Boots",
        code: "BOT",
        nouns: &["Boots", "Chelsea Boots", "Hiking Boots"],
        option: "size",
        values: &["41", "43"],
        base_price: 9900,
        weight_grams: 1200,
    },
    Family {
        parent: "Home",
        name: "Kitchen",
        code: "KIT",
        nouns: &["Mug", "Teapot", "Chef Knife", "Cutting Board"],
        option: "colour",
        values: &["white", "black"],
        base_price: 1500,
        weight_grams: 400,
    },
    Family {
        parent: "Home",
        name: "Decor",
        code: "DEC",
        nouns: &["Vase", "Cushion", "Lamp", "Candle"],
        option: "colour",
        values: &["sand", "slate"],
        base_price: 2500,
        weight_grams: 600,
    },
    Family {
        parent: "Books",
        name: "Novels",
        code: "NOV",
        nouns: &["Novel", "Mystery", "Saga"],
        option: "format",
        values: &["paperback", "hardcover"],
        base_price: 1200,
        weight_grams: 350,
    },
    Family {
        parent: "Electronics",
        name: "Audio",
        code: "AUD",
        nouns: &["Headphones", "Speaker", "Earbuds"],
        option: "colour",
        values: &["black", "silver"],
        base_price: 7900,
        weight_grams: 300,
    },
    Family {
        parent: "Electronics",
        name: "Accessories",
        code: "ACC",
        nouns: &["Charger", "Cable", "Power Bank", "Phone Case"],
        option: "colour",
        values: &["black"],
        base_price: 1900,
        weight_grams: 150,
    },
];

const ADJECTIVES: &[&str] = &[
    "Classic",
    "Everyday",
    "Organic",
    "Urban",
    "Vintage",
    "Alpine",
    "Coastal",
    "Essential",
    "Heritage",
    "Nordic",
    "Modern",
    "Rustic",
    "Studio",
    "Summit",
    "Harbor",
    "Meadow",
    "Midnight",
    "Solar",
    "Velvet",
    "Granite",
];

/// Loads the demo shop unless the catalog already has products.
pub async fn load(app: &App, products: usize) -> anyhow::Result<()> {
    let ctx = RequestContext::system();
    let existing =
        app.catalog.list_products(&ctx, ProductFilter::default(), Visibility::All, PageRequest::new(1, 1)?).await?;
    if existing.total > 0 {
        println!("Demo data: the catalog already has {} products; nothing loaded.", existing.total);
        print_credentials();
        return Ok(());
    }
    let started = Instant::now();

    app.identity
        .create_staff(
            &ctx,
            NewStaff {
                email: ADMIN_EMAIL.into(),
                password: ADMIN_PASSWORD.into(),
                name: "Demo Admin".into(),
                roles: vec![Role::Admin],
            },
        )
        .await
        .context("creating the demo admin")?;
    app.identity
        .create_staff(
            &ctx,
            NewStaff {
                email: CASHIER_EMAIL.into(),
                password: CASHIER_PASSWORD.into(),
                name: "Demo Cashier".into(),
                roles: vec![Role::Cashier],
            },
        )
        .await
        .context("creating the demo cashier")?;
    app.identity
        .register_customer(
            &ctx,
            RegisterCustomer {
                email: CUSTOMER_EMAIL.into(),
                password: CUSTOMER_PASSWORD.into(),
                first_name: Some("Camille".into()),
                last_name: Some("Martin".into()),
            },
        )
        .await
        .context("creating the demo customer")?;
    let seller = app
        .identity
        .create_seller(
            &ctx,
            NewSeller { name: "Comptoir Demo Goods".into(), email: Some("goods@comptoir.test".into()) },
        )
        .await?;

    for (code, name, kind) in
        [("paris-wh", "Paris warehouse", LocationKind::Warehouse), ("lyon-store", "Lyon store", LocationKind::Store)]
    {
        app.inventory.create_location(&ctx, NewLocation { code: code.into(), name: name.into(), kind }).await?;
    }

    // The Lyon store sells at its till too.
    app.pos
        .upsert_store(
            &ctx,
            StoreInput {
                location: "lyon-store".into(),
                name: "Comptoir Lyon".into(),
                address: PostalAddress {
                    name: "Comptoir Lyon".into(),
                    line1: "12 rue de la République".into(),
                    line2: None,
                    city: "Lyon".into(),
                    postal_code: "69002".into(),
                    region: None,
                    country: "FR".into(),
                    phone: None,
                },
                channel: None,
                currency: None,
            },
        )
        .await
        .context("setting up the Lyon store's till")?;
    create_taxes_and_shipping(app, &ctx).await?;
    let categories = create_categories(app, &ctx).await?;
    let mut product_ids = Vec::with_capacity(products);
    let mut skus = Vec::new();
    for i in 0..products {
        let family = &FAMILIES[i % FAMILIES.len()];
        let input = demo_product(i, family, seller.id, categories[family.name]);
        skus.extend(input.variants.iter().map(|v| v.sku.clone()));
        let product =
            app.catalog.create_product(&ctx, input).await.with_context(|| format!("creating demo product {i}"))?;
        // One in twenty stays a draft, so the back office has something to publish.
        if i % 20 != 19 {
            app.catalog.publish(&ctx, product.id).await?;
        }
        product_ids.push(product.id);
    }

    app.catalog
        .create_collection(
            &ctx,
            NewCollection {
                name: "New arrivals".into(),
                slug: None,
                description: "Just landed.".into(),
                product_ids: product_ids.iter().rev().take(12).copied().collect(),
            },
        )
        .await?;
    app.catalog
        .create_collection(
            &ctx,
            NewCollection {
                name: "Summer sale".into(),
                slug: None,
                description: "Light layers and bright days.".into(),
                product_ids: product_ids.iter().step_by(7).take(12).copied().collect(),
            },
        )
        .await?;

    // Inventory learns SKUs from catalog events: let them arrive before stocking.
    app.settle(Duration::from_secs(120)).await?;
    for (n, sku) in skus.iter().enumerate() {
        let warehouse = 5 + (n * 31 % 50) as i64;
        let store = (n * 17 % 12) as i64;
        receive(app, &ctx, sku, "paris-wh", warehouse).await?;
        if store > 0 {
            receive(app, &ctx, sku, "lyon-store", store).await?;
        }
        if n % 10 == 0 {
            app.inventory.set_low_stock_threshold(&ctx, sku, Some(5)).await?;
        }
    }
    app.settle(Duration::from_secs(120)).await?;

    println!(
        "Demo data: {} products, {} SKUs in 2 locations, loaded in {:.1} s.",
        products,
        skus.len(),
        started.elapsed().as_secs_f64()
    );
    print_credentials();
    Ok(())
}

/// Stocks a SKU. Inventory learns SKUs from catalog's events: where inventory runs as another
/// service, `settle` cannot see its queue, so an unknown SKU is waited for (up to 30 s).
async fn receive(app: &App, ctx: &RequestContext, sku: &str, location: &str, quantity: i64) -> anyhow::Result<()> {
    let input = ReceiveStock { sku: sku.into(), location: location.into(), quantity, reference: Some("demo".into()) };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        match app.inventory.receive(ctx, input.clone()).await {
            Err(comptoir_kernel::Error::NotFound { resource: "sku", .. }) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            outcome => return outcome.map(drop).with_context(|| format!("stocking {sku} at {location}")),
        }
    }
}

/// VAT for the countries the demo ships to, a European zone, and two ways to ship there.
async fn create_taxes_and_shipping(app: &App, ctx: &RequestContext) -> anyhow::Result<()> {
    let vat = [
        ("FR", "0.20", "TVA 20%"),
        ("DE", "0.19", "MwSt 19%"),
        ("BE", "0.21", "BTW 21%"),
        ("ES", "0.21", "IVA 21%"),
        ("IT", "0.22", "IVA 22%"),
        ("NL", "0.21", "BTW 21%"),
    ];
    for (country, rate, label) in vat {
        let rate = rate.parse().context("demo VAT rate")?;
        app.billing
            .create_tax_rule(ctx, NewTaxRule { country: country.into(), region: None, rate, label: label.into() })
            .await?;
    }
    let countries = ["FR", "DE", "BE", "ES", "IT", "NL", "LU", "AT", "PT", "IE"];
    let zone = app
        .shipping
        .create_zone(ctx, NewZone { name: "Europe".into(), countries: countries.map(String::from).to_vec() })
        .await?;
    app.shipping
        .create_method(
            ctx,
            NewShippingMethod {
                code: "standard".into(),
                name: "Standard delivery".into(),
                carrier: "La Poste".into(),
                zone_id: zone.id,
                currency: Currency::EUR,
                rate: Rate::Flat { amount: 490 },
                free_above: Some(5000),
                delivery_days: Some(3),
            },
        )
        .await?;
    let brackets = [(1_000, 990), (5_000, 1_490), (20_000, 2_490)]
        .map(|(up_to_grams, amount)| WeightBracket { up_to_grams, amount })
        .to_vec();
    app.shipping
        .create_method(
            ctx,
            NewShippingMethod {
                code: "express".into(),
                name: "Express delivery".into(),
                carrier: "Chronopost".into(),
                zone_id: zone.id,
                currency: Currency::EUR,
                rate: Rate::WeightBased { brackets },
                free_above: None,
                delivery_days: Some(1),
            },
        )
        .await?;
    Ok(())
}

async fn create_categories(app: &App, ctx: &RequestContext) -> anyhow::Result<BTreeMap<&'static str, Uuid>> {
    let mut ids = BTreeMap::new();
    let mut parents = BTreeMap::new();
    for (position, family) in FAMILIES.iter().enumerate() {
        if !parents.contains_key(family.parent) {
            let parent = app
                .catalog
                .create_category(
                    ctx,
                    NewCategory { name: family.parent.into(), slug: None, parent_id: None, position: position as i64 },
                )
                .await?;
            parents.insert(family.parent, parent.id);
        }
        let leaf = app
            .catalog
            .create_category(
                ctx,
                NewCategory {
                    name: family.name.into(),
                    slug: None,
                    parent_id: Some(parents[family.parent]),
                    position: position as i64,
                },
            )
            .await?;
        ids.insert(family.name, leaf.id);
    }
    Ok(ids)
}

fn demo_product(i: usize, family: &Family, seller_id: Uuid, category: Uuid) -> NewProduct {
    let round = i / FAMILIES.len();
    let adjective = ADJECTIVES[round % ADJECTIVES.len()];
    let noun = family.nouns[(round / ADJECTIVES.len()) % family.nouns.len()];
    let edition = round / (ADJECTIVES.len() * family.nouns.len());
    let name =
        if edition == 0 { format!("{adjective} {noun}") } else { format!("{adjective} {noun} No. {}", edition + 1) };
    // Prices end in .90 and spread around the family's base price.
    let price = family.base_price + ((i * 7919) % 40) as i64 * 100 - 90;
    let variants = family
        .values
        .iter()
        .map(|value| NewVariant {
            sku: format!("{}-{:05}-{}", family.code, i, value.to_uppercase()),
            options: BTreeMap::from([(family.option.to_string(), value.to_string())]),
            weight_grams: Some(family.weight_grams),
            prices: vec![
                PriceInput { channel: "online".into(), amount: price, currency: Currency::EUR },
                PriceInput { channel: "store".into(), amount: price + price / 20, currency: Currency::EUR },
            ],
        })
        .collect();
    NewProduct {
        seller_id,
        name: name.clone(),
        slug: None,
        description: format!("{name}, from the {} range of the Comptoir demo catalog.", family.name.to_lowercase()),
        category_ids: vec![category],
        attributes: BTreeMap::from([
            ("brand".to_string(), "Comptoir".to_string()),
            ("family".to_string(), family.name.to_string()),
        ]),
        variants,
    }
}

fn print_credentials() {
    println!("  staff admin:   {ADMIN_EMAIL} / {ADMIN_PASSWORD}   (POST /api/v1/staff/auth/login)");
    println!("  store cashier: {CASHIER_EMAIL} / {CASHIER_PASSWORD}   (the back office's till)");
    println!("  demo customer: {CUSTOMER_EMAIL} / {CUSTOMER_PASSWORD}   (POST /api/v1/auth/login)");
}
