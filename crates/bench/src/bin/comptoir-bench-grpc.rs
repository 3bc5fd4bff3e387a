//! `comptoir-bench-grpc`: the latency and rate of one unary gRPC call from this process to a
//! running module service, through the same client the gateway and the other services use
//! (`comptoir_grpc::Remote`: deadline, breaker, context in metadata). Each worker sends its next
//! call when the previous answer has arrived (a closed loop), over the one HTTP/2 connection a
//! `Remote` keeps, as between two services. With the module's database URL, the same call is also
//! made in this process, the module called directly, to show what gRPC adds. Run by
//! `scripts/bench.sh distributed grpc`; see docs/BENCHMARKS.md.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use async_trait::async_trait;
use clap::{Parser, ValueEnum};
use comptoir_catalog::CatalogModule;
use comptoir_catalog_grpc::CatalogClient;
use comptoir_contracts::catalog::{CatalogPort, ProductFilter, Visibility};
use comptoir_contracts::identity::SellerDirectory;
use comptoir_contracts::inventory::InventoryPort;
use comptoir_grpc::{Remote, RemoteSettings};
use comptoir_inventory::InventoryModule;
use comptoir_inventory_grpc::InventoryClient;
use comptoir_kernel::{PageRequest, RequestContext};
use comptoir_storage::Db;
use futures::future::BoxFuture;

#[derive(Parser)]
#[command(about = "Unary gRPC call latency and rate against a running Comptoir service")]
struct Args {
    /// The catalog service.
    #[arg(long, default_value = "http://127.0.0.1:9002")]
    catalog: String,
    /// The inventory service.
    #[arg(long, default_value = "http://127.0.0.1:9003")]
    inventory: String,
    /// The catalog's database: `product` is then also measured in this process.
    #[arg(long)]
    catalog_db: Option<String>,
    /// The inventory's database: `stock` is then also measured in this process.
    #[arg(long)]
    inventory_db: Option<String>,
    /// Calls in flight at once; each level is a run of its own.
    #[arg(long, value_delimiter = ',', default_values_t = [1, 8, 64])]
    concurrency: Vec<usize>,
    /// Seconds each run lasts (after one second of warm-up, not counted).
    #[arg(long, default_value_t = 10)]
    duration: u64,
    #[arg(value_enum, default_values_t = [Call::Health, Call::Product, Call::Stock])]
    calls: Vec<Call>,
}

#[derive(Clone, Copy, ValueEnum, Debug, PartialEq, Eq)]
enum Call {
    /// `grpc.health.v1.Health/Check` on the catalog service: the transport alone.
    Health,
    /// `CatalogService/GetProduct` by slug, cycling over published products (the catalog's read
    /// cache answers it).
    Product,
    /// `InventoryService/Stock` of a SKU, cycling over SKUs (two reads from inventory's database).
    Stock,
}

impl Call {
    fn name(self) -> &'static str {
        match self {
            Call::Health => "health",
            Call::Product => "product",
            Call::Stock => "stock",
        }
    }
}

/// One call of the run: the `i`-th of all workers.
type Op = Arc<dyn Fn(usize) -> BoxFuture<'static, comptoir_kernel::Result<()>> + Send + Sync>;

/// Reading a product checks no seller; the in-process catalog is never asked to write.
struct NoSellers;

#[async_trait]
impl SellerDirectory for NoSellers {
    async fn seller_exists(&self, _ctx: &RequestContext, _id: uuid::Uuid) -> comptoir_kernel::Result<bool> {
        Ok(true)
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let settings = RemoteSettings::default();
    let catalog_remote = Remote::connect("catalog", &args.catalog, settings.clone())?;
    let catalog: Arc<dyn CatalogPort> = Arc::new(CatalogClient::new(catalog_remote.clone()));
    let inventory: Arc<dyn InventoryPort> =
        Arc::new(InventoryClient::new(Remote::connect("inventory", &args.inventory, settings)?));
    catalog_remote.check_health().await.with_context(|| format!("the catalog service at {}", args.catalog))?;

    // Published products, as the public list gives them: their slugs and SKUs.
    let ctx = RequestContext::system();
    let (mut slugs, mut skus) = (Vec::new(), Vec::new());
    for page in 1..=20 {
        let products = catalog
            .list_products(
                &ctx,
                ProductFilter::default(),
                Visibility::PublishedOnly,
                PageRequest { page, per_page: 100 },
            )
            .await?;
        for product in &products.items {
            slugs.push(product.slug.clone());
            skus.extend(product.variants.iter().map(|v| v.sku.clone()));
        }
        if u64::from(page) * 100 >= products.total {
            break;
        }
    }
    ensure!(!slugs.is_empty(), "the catalog is empty: load the demo first (comptoir demo)");
    let (slugs, skus) = (Arc::new(slugs), Arc::new(skus));
    println!(
        "catalog {}  inventory {}  {} products and {} SKUs sampled  {} s per run",
        args.catalog,
        args.inventory,
        slugs.len(),
        skus.len(),
        args.duration
    );

    let local_catalog: Option<Arc<dyn CatalogPort>> = match &args.catalog_db {
        Some(url) => Some(Arc::new(CatalogModule::new(Db::connect("catalog", url).await?, Arc::new(NoSellers)))),
        None => None,
    };
    let local_inventory: Option<Arc<dyn InventoryPort>> = match &args.inventory_db {
        Some(url) => Some(Arc::new(InventoryModule::new(Db::connect("inventory", url).await?))),
        None => None,
    };

    println!(
        "{:<8} {:<10} {:>4} {:>8} {:>9} {:>8} {:>8} {:>8} {:>8} {:>6}",
        "call", "where", "conc", "calls", "calls/s", "p50 ms", "p95 ms", "p99 ms", "max ms", "errors"
    );
    for &call in &args.calls {
        let mut targets: Vec<(&str, Op)> = Vec::new();
        match call {
            Call::Health => {
                let remote = catalog_remote.clone();
                targets.push((
                    "gRPC",
                    Arc::new(move |_| {
                        let remote = remote.clone();
                        Box::pin(async move { remote.check_health().await })
                    }),
                ));
            }
            Call::Product => {
                for (place, port) in [("gRPC", Some(catalog.clone())), ("in process", local_catalog.clone())] {
                    let Some(port) = port else { continue };
                    let slugs = slugs.clone();
                    targets.push((
                        place,
                        Arc::new(move |i| {
                            let (port, slug) = (port.clone(), slugs[i % slugs.len()].clone());
                            Box::pin(async move {
                                let ctx = RequestContext::system();
                                port.get_product(&ctx, &slug, Visibility::PublishedOnly).await.map(|_| ())
                            })
                        }),
                    ));
                }
            }
            Call::Stock => {
                for (place, port) in [("gRPC", Some(inventory.clone())), ("in process", local_inventory.clone())] {
                    let Some(port) = port else { continue };
                    let skus = skus.clone();
                    targets.push((
                        place,
                        Arc::new(move |i| {
                            let (port, sku) = (port.clone(), skus[i % skus.len()].clone());
                            Box::pin(async move {
                                let ctx = RequestContext::system();
                                port.stock(&ctx, &sku).await.map(|_| ())
                            })
                        }),
                    ));
                }
            }
        }
        for (place, op) in targets {
            // Warm-up: connections opened, caches filled, nothing recorded.
            run(&op, 8, Duration::from_secs(1)).await;
            for &concurrency in &args.concurrency {
                let out = run(&op, concurrency, Duration::from_secs(args.duration)).await;
                out.report(call.name(), place, concurrency);
            }
        }
    }
    Ok(())
}

struct Outcome {
    latencies: Vec<Duration>,
    errors: usize,
    first_error: Option<String>,
    elapsed: Duration,
}

impl Outcome {
    fn report(&self, call: &str, place: &str, concurrency: usize) {
        let mut l = self.latencies.clone();
        l.sort_unstable();
        let pct =
            |p: f64| l.get(((l.len() as f64 * p) as usize).min(l.len().saturating_sub(1))).copied().unwrap_or_default();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        println!(
            "{call:<8} {place:<10} {concurrency:>4} {:>8} {:>9.0} {:>8.3} {:>8.3} {:>8.3} {:>8.2} {:>6}",
            l.len(),
            l.len() as f64 / self.elapsed.as_secs_f64(),
            ms(pct(0.50)),
            ms(pct(0.95)),
            ms(pct(0.99)),
            ms(l.last().copied().unwrap_or_default()),
            self.errors,
        );
        if let Some(error) = &self.first_error {
            println!("         first error: {error}");
        }
    }
}

/// `concurrency` workers for `duration`, each making one call after another.
async fn run(op: &Op, concurrency: usize, duration: Duration) -> Outcome {
    let counter = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let deadline = started + duration;
    let workers = (0..concurrency).map(|_| {
        let (op, counter) = (op.clone(), counter.clone());
        tokio::spawn(async move {
            let (mut latencies, mut errors, mut first_error) = (Vec::new(), 0, None);
            while Instant::now() < deadline {
                let i = counter.fetch_add(1, Ordering::Relaxed);
                let sent = Instant::now();
                match op(i).await {
                    Ok(()) => latencies.push(sent.elapsed()),
                    Err(e) => {
                        errors += 1;
                        first_error.get_or_insert_with(|| e.to_string());
                    }
                }
            }
            (latencies, errors, first_error)
        })
    });
    let mut outcome = Outcome { latencies: Vec::new(), errors: 0, first_error: None, elapsed: Duration::ZERO };
    for worker in futures::future::join_all(workers).await {
        let (latencies, errors, first_error) = worker.expect("worker task");
        outcome.latencies.extend(latencies);
        outcome.errors += errors;
        if outcome.first_error.is_none() {
            outcome.first_error = first_error;
        }
    }
    outcome.elapsed = started.elapsed();
    outcome
}
