//! What the operator commands print: the outbox backlog, backups and restores.

use std::fmt::Write;
use std::path::Path;

use comptoir_eventbus::ModuleOutbox;
use comptoir_kernel::time::Timestamp;

use crate::backup::{Manifest, Restored};

/// One line per module database: pending events, the age of the oldest, published events kept.
pub fn outbox_table(modules: &[ModuleOutbox], now: Timestamp) -> String {
    let mut out = format!("{:<14} {:>8}  {:<32} {:>15}\n", "module", "pending", "oldest pending", "published kept");
    for m in modules {
        let oldest = match m.status.oldest_pending_at {
            Some(at) => format!("{} ago ({})", age(now - at), at.format("%Y-%m-%d %H:%M:%SZ")),
            None => "-".into(),
        };
        let _ =
            writeln!(out, "{:<14} {:>8}  {:<32} {:>15}", m.module, m.status.pending, oldest, m.status.published_kept);
    }
    let pending: u64 = modules.iter().map(|m| m.status.pending).sum();
    let _ = write!(out, "{pending} event(s) pending in {} outbox(es).", modules.len());
    out
}

/// `42s`, `3m 05s`, `2h 10m`, `3d 4h`.
pub fn age(elapsed: chrono::TimeDelta) -> String {
    let secs = elapsed.num_seconds().max(0);
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m {:02}s", secs / 60, secs % 60),
        3600..86400 => format!("{}h {:02}m", secs / 3600, secs % 3600 / 60),
        _ => format!("{}d {}h", secs / 86400, secs % 86400 / 3600),
    }
}

pub fn backup_summary(dir: &Path, manifest: &Manifest) -> String {
    let mut out = format!(
        "Backed up {} database(s) and {} secret file(s) into {} (copies taken {} to {}):\n",
        manifest.databases.len(),
        manifest.secrets.len(),
        dir.display(),
        manifest.created_at.format("%Y-%m-%d %H:%M:%S%.3fZ"),
        manifest.finished_at.format("%H:%M:%S%.3fZ"),
    );
    for d in &manifest.databases {
        let level = d.migration_level.map_or("-".into(), |l| l.to_string());
        let _ = writeln!(
            out,
            "  {:<22} {:>12} bytes  migration {level:<4} sha256 {}",
            d.file.file, d.file.size, d.file.sha256
        );
    }
    for s in &manifest.secrets {
        let _ = writeln!(out, "  {:<22} {:>12} bytes  {:<14} sha256 {}", s.file, s.size, "", s.sha256);
    }
    out.push_str("The directory holds customers' data and the shop's secrets: keep it private.");
    out
}

pub fn restore_summary(restored: &Restored) -> String {
    let m = &restored.manifest;
    let mut out = format!(
        "Restored into {} the backup of {} taken {} by Comptoir {}:\n",
        restored.data_dir.display(),
        m.source_data_dir,
        m.created_at.format("%Y-%m-%d %H:%M:%SZ"),
        m.comptoir_version
    );
    for d in &m.databases {
        let _ = writeln!(
            out,
            "  {:<22} {:>12} bytes  (copied {})",
            d.file.file,
            d.file.size,
            d.copied_at.format("%H:%M:%S%.3fZ")
        );
    }
    for s in &m.secrets {
        let _ = writeln!(out, "  {:<22} {:>12} bytes", s.file, s.size);
    }
    match &restored.moved_aside {
        Some(dir) => {
            let _ = writeln!(out, "The files it replaced are in {}.", dir.display());
        }
        None => out.push_str("The data directory held no files to replace.\n"),
    }
    let _ = write!(
        out,
        "{} event(s) published around the backup will be published again when the shop starts (consumers skip those \
         they handled).",
        restored.republished
    );
    out
}
