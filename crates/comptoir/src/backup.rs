//! Online backup and restore of the embedded data directory: every module's SQLite database and
//! the secrets generated beside them.
//!
//! A backup copies each database with `VACUUM INTO` (a consistent snapshot of that database even
//! while the shop writes to it) and describes the copies in `manifest.json`. A restore checks the
//! whole backup before touching anything, refuses while a process uses the data directory, moves
//! the current files aside and puts the backup in place, undoing every step if one fails.

use std::fs::{self, File, TryLockError};
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use comptoir_kernel::time::{self, Timestamp};
use comptoir_storage::sqlite_file::SqliteFile;
use comptoir_storage::{Migrations, sqlite_path};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::Config;
use crate::topology::{Module, Role};

/// The file describing a backup; written last, so a backup without one is incomplete.
pub const MANIFEST: &str = "manifest.json";
const MANIFEST_FORMAT: u32 = 1;
/// Held shared by every process using the data directory, exclusively by a restore.
pub const LOCK_FILE: &str = "comptoir.lock";
/// After a restore, events published from this long before the backup began are sent again:
/// the databases were copied one after the other, so a consumer's copy may predate an event that
/// the producer's copy records as published, or one still being retried (1 s, 5 s, 30 s by
/// default) when the backup ran. Consumers skip the events their inbox says they handled.
pub const REPUBLISH_MARGIN: Duration = Duration::from_secs(10 * 60);

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    /// The Comptoir version that took the backup.
    pub comptoir_version: String,
    /// When the first database copy began.
    pub created_at: Timestamp,
    /// When the last copy ended.
    pub finished_at: Timestamp,
    /// The data directory it was taken from.
    pub source_data_dir: String,
    pub databases: Vec<DatabaseCopy>,
    /// Secrets generated in the data directory (token signing, webhook keys).
    pub secrets: Vec<FileCopy>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DatabaseCopy {
    /// The module (or role: `api`, `storefront`, `backoffice`) owning the database.
    pub name: String,
    #[serde(flatten)]
    pub file: FileCopy,
    /// When this database was copied: each copy is consistent in itself.
    pub copied_at: Timestamp,
    pub user_version: i64,
    /// The newest of the module's migrations applied to it.
    pub migration_level: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FileCopy {
    pub file: String,
    pub size: u64,
    pub sha256: String,
}

/// The databases a data directory may hold, in the order a backup copies them: ordering first,
/// as it drives the checkout saga (see docs/OPERATIONS.md), then the other modules, then the
/// roles' own.
fn database_names() -> Vec<&'static str> {
    let modules = std::iter::once(Module::Ordering).chain(Module::ALL.into_iter().filter(|m| *m != Module::Ordering));
    let roles = [Role::Monolith, Role::Storefront, Role::BackOffice].into_iter().filter_map(Role::own_database);
    modules.map(Module::name).chain(roles).collect()
}

/// The migrations this binary knows for a database, to refuse a backup from a newer Comptoir.
fn migrations_of(name: &str) -> Option<&'static Migrations> {
    Some(match Module::parse(name) {
        Some(Module::Identity) => &comptoir_identity::MIGRATIONS,
        Some(Module::Catalog) => &comptoir_catalog::MIGRATIONS,
        Some(Module::Inventory) => &comptoir_inventory::MIGRATIONS,
        Some(Module::Cart) => &comptoir_cart::MIGRATIONS,
        Some(Module::Payment) => &comptoir_payment::MIGRATIONS,
        Some(Module::Billing) => &comptoir_billing::MIGRATIONS,
        Some(Module::Shipping) => &comptoir_shipping::MIGRATIONS,
        Some(Module::Notification) => &comptoir_notification::MIGRATIONS,
        Some(Module::Ordering) => &comptoir_ordering::MIGRATIONS,
        Some(Module::Admin) => &comptoir_admin::MIGRATIONS,
        Some(Module::Search) => &comptoir_search::MIGRATIONS,
        Some(Module::Webhooks) => &comptoir_webhooks::MIGRATIONS,
        Some(Module::Recommendations) => &comptoir_recommendations::MIGRATIONS,
        Some(Module::Pos) => &comptoir_pos::MIGRATIONS,
        Some(Module::Reporting) => &comptoir_reporting::MIGRATIONS,
        Some(Module::Audit) => &comptoir_audit::MIGRATIONS,
        None if database_names().contains(&name) => &comptoir_api::IDEMPOTENCY_MIGRATIONS,
        None => return None,
    })
}

/// Backup and restore cover the data directory only: refuses when a database is configured
/// elsewhere, naming the tool that backs it up.
fn require_embedded(config: &Config, command: &str) -> anyhow::Result<()> {
    let elsewhere: Vec<(&str, &str)> = database_names()
        .into_iter()
        .filter_map(|name| config.databases.get(name).map(|url| (name, url.as_str())))
        .collect();
    let on_postgres: Vec<&str> = elsewhere
        .iter()
        .filter(|(_, url)| url.starts_with("postgres:") || url.starts_with("postgresql:"))
        .map(|(name, _)| *name)
        .collect();
    if !on_postgres.is_empty() {
        bail!(
            "`comptoir {command}` handles the embedded SQLite data directory only, and these databases are on \
             PostgreSQL: {}. Back up each with pg_dump instead, one per module database, e.g. \
             `pg_dump --format=custom --file={}.dump \"$URL\"` with the URL of databases.{} (and pg_restore to restore)",
            on_postgres.join(", "),
            on_postgres[0],
            on_postgres[0]
        );
    }
    if let Some((name, _)) = elsewhere.first() {
        bail!(
            "`comptoir {command}` handles the data directory {} only, but databases.{name} places the {name} database \
             elsewhere; remove that setting (the default is {}) or copy that file yourself with the shop stopped",
            config.data_dir.display(),
            sqlite_path(&config.data_dir, name).display()
        );
    }
    Ok(())
}

/// A lock on the data directory, released when dropped (or when the process ends, however).
pub struct DataDirLock {
    _file: File,
}

impl DataDirLock {
    /// Held by `comptoir serve` and the commands that open the databases, for as long as they use
    /// the data directory; many processes share it, a restore cannot take it from them. None when
    /// every database lives elsewhere (PostgreSQL).
    pub fn shared(config: &Config) -> anyhow::Result<Option<DataDirLock>> {
        if database_names().iter().all(|name| config.databases.contains_key(*name)) {
            return Ok(None);
        }
        let file = open_lock_file(&config.data_dir)?;
        match file.try_lock_shared() {
            Ok(()) => Ok(Some(DataDirLock { _file: file })),
            Err(TryLockError::WouldBlock) => bail!(
                "a restore is replacing the data directory {}; start again once it is done",
                config.data_dir.display()
            ),
            Err(TryLockError::Error(e)) => {
                Err(e).with_context(|| format!("cannot lock {}", config.data_dir.join(LOCK_FILE).display()))
            }
        }
    }

    /// Only when no process uses the data directory.
    fn exclusive(data_dir: &Path) -> anyhow::Result<DataDirLock> {
        let file = open_lock_file(data_dir)?;
        match file.try_lock() {
            Ok(()) => Ok(DataDirLock { _file: file }),
            Err(TryLockError::WouldBlock) => bail!(
                "the shop is running on {} (a Comptoir process holds {}): stop it, then restore",
                data_dir.display(),
                LOCK_FILE
            ),
            Err(TryLockError::Error(e)) => {
                Err(e).with_context(|| format!("cannot lock {}", data_dir.join(LOCK_FILE).display()))
            }
        }
    }
}

fn open_lock_file(data_dir: &Path) -> anyhow::Result<File> {
    fs::create_dir_all(data_dir).with_context(|| format!("cannot create the data directory {}", data_dir.display()))?;
    let path = data_dir.join(LOCK_FILE);
    File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("cannot open {}", path.display()))
}

/// Copies every database of the data directory, and its secrets, into `target` (absent or empty),
/// while the shop may be running. On failure nothing is left in `target`.
pub async fn backup(config: &Config, target: &Path) -> anyhow::Result<Manifest> {
    require_embedded(config, "backup")?;
    let data_dir = &config.data_dir;
    let present: Vec<&str> =
        database_names().into_iter().filter(|name| sqlite_path(data_dir, name).is_file()).collect();
    ensure!(!present.is_empty(), "no Comptoir database in {}: nothing to back up", data_dir.display());
    // Keeps a restore from replacing the files while they are copied.
    let _lock = DataDirLock::shared(config)?;
    let created_dir = prepare_target(target)?;
    let mut written = Vec::new();
    let result = write_backup(data_dir, target, &present, &mut written).await;
    if result.is_err() {
        for file in written.iter().rev() {
            let _ = fs::remove_file(file);
        }
        if created_dir {
            let _ = fs::remove_dir(target);
        }
    }
    result
}

/// Creates `target`, or accepts it empty; returns whether it was created.
fn prepare_target(target: &Path) -> anyhow::Result<bool> {
    match fs::read_dir(target) {
        Ok(mut entries) => {
            ensure!(
                entries.next().is_none(),
                "{} is not empty: back up into a new or empty directory, so that no older file passes for part of \
                 this backup",
                target.display()
            );
            Ok(false)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            fs::create_dir_all(target).with_context(|| format!("cannot create {}", target.display()))?;
            restrict_to_owner(target, 0o700)?;
            Ok(true)
        }
        Err(e) => Err(e).with_context(|| format!("cannot read {}", target.display())),
    }
}

async fn write_backup(
    data_dir: &Path,
    target: &Path,
    names: &[&str],
    written: &mut Vec<PathBuf>,
) -> anyhow::Result<Manifest> {
    let created_at = time::now();
    let mut databases = Vec::new();
    for name in names {
        let file_name = format!("{name}.sqlite");
        let copy = target.join(&file_name);
        let copied_at = time::now();
        let mut source = SqliteFile::open(&sqlite_path(data_dir, name)).await?;
        written.push(copy.clone());
        source.snapshot_into(&copy).await.with_context(|| format!("copying the {name} database"))?;
        source.close().await?;
        restrict_to_owner(&copy, 0o600)?;
        let mut snapshot = SqliteFile::open(&copy).await?;
        let problems = snapshot.integrity_problems().await?;
        ensure!(
            problems.is_empty(),
            "the {name} database is damaged (PRAGMA integrity_check: {})",
            problems.join("; ")
        );
        let user_version = snapshot.user_version().await?;
        let migration_level = snapshot.migration_level().await?;
        snapshot.close().await?;
        databases.push(DatabaseCopy {
            name: name.to_string(),
            file: describe(&copy, file_name)?,
            copied_at,
            user_version,
            migration_level,
        });
    }
    let mut secrets = Vec::new();
    for file_name in secret_files(data_dir)? {
        let copy = target.join(&file_name);
        written.push(copy.clone());
        fs::copy(data_dir.join(&file_name), &copy).with_context(|| format!("copying {file_name}"))?;
        restrict_to_owner(&copy, 0o600)?;
        secrets.push(describe(&copy, file_name)?);
    }
    let manifest = Manifest {
        format: MANIFEST_FORMAT,
        comptoir_version: env!("CARGO_PKG_VERSION").to_string(),
        created_at,
        finished_at: time::now(),
        source_data_dir: data_dir.display().to_string(),
        databases,
        secrets,
    };
    // Written under another name first: a manifest present is a backup complete.
    let partial = target.join(format!("{MANIFEST}.partial"));
    written.push(partial.clone());
    fs::write(&partial, serde_json::to_vec_pretty(&manifest)?).context("writing the manifest")?;
    let final_path = target.join(MANIFEST);
    written.push(final_path.clone());
    fs::rename(&partial, &final_path).context("writing the manifest")?;
    Ok(manifest)
}

/// The secrets Comptoir generated in the data directory (`*.secret`, see `Config::secret`).
fn secret_files(data_dir: &Path) -> anyhow::Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in fs::read_dir(data_dir).with_context(|| format!("cannot read {}", data_dir.display()))? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".secret") && entry.file_type()?.is_file() {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

fn describe(path: &Path, file: String) -> anyhow::Result<FileCopy> {
    let size = fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?.len();
    Ok(FileCopy { file, size, sha256: sha256_of(path)? })
}

fn sha256_of(path: &Path) -> anyhow::Result<String> {
    let mut file = File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut hasher = Sha256::new();
    io::copy(&mut file, &mut hasher).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(hex::encode(hasher.finalize()))
}

#[cfg(unix)]
fn restrict_to_owner(path: &Path, mode: u32) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    // The copies hold customers' data and the shop's secrets.
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .with_context(|| format!("cannot protect {}", path.display()))
}

#[cfg(not(unix))]
fn restrict_to_owner(_path: &Path, _mode: u32) -> anyhow::Result<()> {
    Ok(())
}

/// What a restore did.
#[derive(Debug)]
pub struct Restored {
    pub manifest: Manifest,
    pub data_dir: PathBuf,
    /// Where the files the restore replaced went; None when there were none.
    pub moved_aside: Option<PathBuf>,
    /// Outbox events marked for publishing again (see [`REPUBLISH_MARGIN`]).
    pub republished: u64,
}

/// Reads and checks the manifest of the backup in `dir`: known files with plain names only.
pub fn read_manifest(dir: &Path) -> anyhow::Result<Manifest> {
    let path = dir.join(MANIFEST);
    let text = match fs::read(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            bail!("{} has no {MANIFEST}: not a Comptoir backup, or an incomplete one", dir.display())
        }
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let manifest: Manifest = serde_json::from_slice(&text)
        .with_context(|| format!("{} is not a Comptoir backup manifest", path.display()))?;
    ensure!(
        manifest.format == MANIFEST_FORMAT,
        "{} is in backup format {}; this Comptoir reads format {MANIFEST_FORMAT}",
        path.display(),
        manifest.format
    );
    ensure!(!manifest.databases.is_empty(), "{} lists no database", path.display());
    let mut seen = std::collections::BTreeSet::new();
    for copy in &manifest.databases {
        ensure!(
            migrations_of(&copy.name).is_some() && copy.file.file == format!("{}.sqlite", copy.name),
            "{MANIFEST} lists {:?} ({:?}), which is no Comptoir database",
            copy.name,
            copy.file.file
        );
        ensure!(seen.insert(copy.file.file.clone()), "{MANIFEST} lists {} twice", copy.file.file);
    }
    for secret in &manifest.secrets {
        let plain = Path::new(&secret.file).file_name().is_some_and(|n| n == secret.file.as_str());
        ensure!(
            plain && secret.file.ends_with(".secret"),
            "{MANIFEST} lists {:?}, which is no secret file",
            secret.file
        );
        ensure!(seen.insert(secret.file.clone()), "{MANIFEST} lists {} twice", secret.file);
    }
    Ok(manifest)
}

/// Replaces the data directory's databases and secrets with the backup in `from`, once it is
/// checked whole (every file present, checksums, `PRAGMA integrity_check`) and no process uses
/// the data directory. The files replaced go to `<data_dir>/before-restore-<timestamp>/`. On any
/// failure the data directory is left as it was.
pub async fn restore(config: &Config, from: &Path) -> anyhow::Result<Restored> {
    require_embedded(config, "restore")?;
    let manifest = read_manifest(from)?;
    for copy in &manifest.databases {
        let known = migrations_of(&copy.name).and_then(|m| m.sqlite.iter().map(|(version, ..)| *version).max());
        if let (Some(level), Some(known)) = (copy.migration_level, known) {
            ensure!(
                level <= known,
                "the backup's {} database is at migration {level}, this Comptoir ({}) knows up to {known}: restore it \
                 with Comptoir {} or newer",
                copy.name,
                env!("CARGO_PKG_VERSION"),
                manifest.comptoir_version
            );
        }
    }
    let data_dir = config.data_dir.clone();
    let _lock = DataDirLock::exclusive(&data_dir)?;
    let stamp = time::now().format("%Y%m%dT%H%M%S%.3fZ").to_string();
    let staging = data_dir.join(format!(".restore-{stamp}"));
    fs::create_dir(&staging).with_context(|| format!("cannot create {}", staging.display()))?;
    let staged = stage(&manifest, from, &staging).await;
    let result = match staged {
        Ok(republished) => swap_in(&manifest, &data_dir, &staging, &stamp).map(|moved_aside| Restored {
            manifest: manifest.clone(),
            data_dir: data_dir.clone(),
            moved_aside,
            republished,
        }),
        Err(e) => Err(e),
    };
    let _ = fs::remove_dir_all(&staging);
    result
}

/// Copies the backup beside the data directory (same file system, so that putting it in place is
/// a rename) and checks the copies. Returns how many events were marked for publishing again.
async fn stage(manifest: &Manifest, from: &Path, staging: &Path) -> anyhow::Result<u64> {
    let all = manifest.databases.iter().map(|d| &d.file).chain(&manifest.secrets);
    for file in all {
        let source = from.join(&file.file);
        ensure!(source.is_file(), "the backup lacks {} (listed in {MANIFEST})", file.file);
        let copy = staging.join(&file.file);
        fs::copy(&source, &copy).with_context(|| format!("copying {}", source.display()))?;
        let size = fs::metadata(&copy)?.len();
        let sha256 = sha256_of(&copy)?;
        ensure!(
            size == file.size && sha256 == file.sha256,
            "{}: checksum mismatch (the manifest says {} bytes, sha256 {}; the file has {size} bytes, sha256 {sha256}): \
             the backup is damaged or was changed",
            file.file,
            file.size,
            file.sha256
        );
    }
    let republish_from = manifest.created_at - chrono_margin();
    let mut republished = 0;
    for copy in &manifest.databases {
        let mut db = SqliteFile::open(&staging.join(&copy.file.file)).await?;
        let problems = db.integrity_problems().await?;
        ensure!(
            problems.is_empty(),
            "{}: PRAGMA integrity_check failed: {}",
            copy.file.file,
            problems.into_iter().take(5).collect::<Vec<_>>().join("; ")
        );
        republished += db.republish_since(&republish_from).await?;
        db.checkpoint().await?;
        db.close().await?;
    }
    Ok(republished)
}

fn chrono_margin() -> chrono::TimeDelta {
    chrono::TimeDelta::from_std(REPUBLISH_MARGIN).expect("a small duration")
}

/// Moves `current` into `aside`, then the `incoming` files from `staging` into the data directory,
/// recording each move made in `moved` so that the caller can undo them.
fn move_files(
    current: &[PathBuf],
    incoming: &[&str],
    data_dir: &Path,
    staging: &Path,
    aside: &Path,
    moved: &mut Vec<(PathBuf, PathBuf)>,
) -> anyhow::Result<()> {
    if !current.is_empty() {
        fs::create_dir(aside).with_context(|| format!("cannot create {}", aside.display()))?;
    }
    for path in current {
        let to = aside.join(path.file_name().expect("a file name"));
        fs::rename(path, &to).with_context(|| format!("cannot move {} aside", path.display()))?;
        moved.push((path.clone(), to));
    }
    for file in incoming {
        let (from, to) = (staging.join(file), data_dir.join(file));
        fs::rename(&from, &to).with_context(|| format!("cannot put {file} in place"))?;
        moved.push((from, to));
    }
    Ok(())
}

/// Moves the current files aside and the staged ones in; undoes the moves made if one fails.
/// Returns where the replaced files went.
fn swap_in(manifest: &Manifest, data_dir: &Path, staging: &Path, stamp: &str) -> anyhow::Result<Option<PathBuf>> {
    let aside = data_dir.join(format!("before-restore-{stamp}"));
    // Every database file, with its write-ahead log, whether or not the backup has that database:
    // an old file left beside the restored ones would mix two states of the shop.
    let mut current = Vec::new();
    for name in database_names() {
        let base = sqlite_path(data_dir, name);
        for suffix in ["", "-wal", "-shm"] {
            let path = PathBuf::from(format!("{}{suffix}", base.display()));
            if path.exists() {
                current.push(path);
            }
        }
    }
    current.extend(secret_files(data_dir)?.into_iter().map(|name| data_dir.join(name)));
    let incoming: Vec<&str> = manifest
        .databases
        .iter()
        .map(|d| d.file.file.as_str())
        .chain(manifest.secrets.iter().map(|s| s.file.as_str()))
        .collect();

    let mut moved: Vec<(PathBuf, PathBuf)> = Vec::new();
    if let Err(e) = move_files(&current, &incoming, data_dir, staging, &aside, &mut moved) {
        for (from, to) in moved.iter().rev() {
            if let Err(undo) = fs::rename(to, from) {
                tracing::error!(from = %to.display(), to = %from.display(), error = %undo, "could not undo a restore step");
            }
        }
        let _ = fs::remove_dir(&aside);
        return Err(e);
    }
    Ok((!current.is_empty()).then_some(aside))
}
