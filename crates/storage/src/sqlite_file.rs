//! One SQLite database file on a connection of its own, outside any module's pools: what online
//! backups and restores of the embedded data directory need.

use std::path::{Path, PathBuf};
use std::time::Duration;

use comptoir_kernel::{Error, time};
use sqlx::Connection;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};

pub struct SqliteFile {
    path: PathBuf,
    conn: SqliteConnection,
}

impl SqliteFile {
    /// Opens an existing database file for reading and writing; never creates one. The journal
    /// mode is left as the file has it (the shop's databases are in WAL mode).
    pub async fn open(path: &Path) -> Result<SqliteFile, Error> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(false)
            // A running shop holds the write lock for short transactions only.
            .busy_timeout(Duration::from_secs(30));
        let conn = SqliteConnection::connect_with(&options)
            .await
            .map_err(|e| Error::unavailable(format!("cannot open {}: {e}", path.display())))?;
        Ok(SqliteFile { path: path.to_path_buf(), conn })
    }

    /// Writes a transactionally consistent copy of the database to `target`, which must not
    /// exist. `VACUUM INTO` reads in one transaction: under WAL, concurrent writers neither
    /// block it nor show up half-way in the copy.
    pub async fn snapshot_into(&mut self, target: &Path) -> Result<(), Error> {
        let target_text =
            target.to_str().ok_or_else(|| Error::bad_request(format!("{} is not a UTF-8 path", target.display())))?;
        sqlx::query("VACUUM INTO $1")
            .bind(target_text)
            .execute(&mut self.conn)
            .await
            .map_err(|e| self.failed(format!("cannot copy to {}: {e}", target.display())))?;
        Ok(())
    }

    /// What `PRAGMA integrity_check` finds wrong; empty when the file is sound.
    pub async fn integrity_problems(&mut self) -> Result<Vec<String>, Error> {
        let found: Vec<String> = sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_all(&mut self.conn)
            .await
            .map_err(|e| self.failed(format!("integrity check failed: {e}")))?;
        Ok(found.into_iter().filter(|line| line != "ok").collect())
    }

    /// `PRAGMA user_version` (Comptoir does not set it; kept in backup manifests for tools that do).
    pub async fn user_version(&mut self) -> Result<i64, Error> {
        sqlx::query_scalar("PRAGMA user_version")
            .fetch_one(&mut self.conn)
            .await
            .map_err(|e| self.failed(format!("cannot read user_version: {e}")))
    }

    /// The newest module migration applied (`_comptoir_migrations`); None for a database that was
    /// never migrated.
    pub async fn migration_level(&mut self) -> Result<Option<i64>, Error> {
        let tables: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '_comptoir_migrations'",
        )
        .fetch_one(&mut self.conn)
        .await
        .map_err(|e| self.failed(format!("cannot read its tables: {e}")))?;
        if tables == 0 {
            return Ok(None);
        }
        sqlx::query_scalar("SELECT MAX(version) FROM _comptoir_migrations WHERE success")
            .fetch_one(&mut self.conn)
            .await
            .map_err(|e| self.failed(format!("cannot read its migrations: {e}")))
    }

    /// Marks the outbox events published since `since` as pending again, so that the relay sends
    /// them once more; consumers skip those their inbox says they handled. Returns how many.
    pub async fn republish_since(&mut self, since: &time::Timestamp) -> Result<u64, Error> {
        let done = sqlx::query("UPDATE outbox SET published_at = NULL WHERE published_at >= $1")
            .bind(time::to_db(since))
            .execute(&mut self.conn)
            .await
            .map_err(|e| self.failed(format!("cannot mark recent events for publishing again: {e}")))?;
        Ok(done.rows_affected())
    }

    /// Folds the write-ahead log, if any, back into the file, so that the file alone is the whole
    /// database. For files no one else uses: it waits for every other connection's readers.
    pub async fn checkpoint(&mut self) -> Result<(), Error> {
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&mut self.conn)
            .await
            .map_err(|e| self.failed(format!("checkpoint failed: {e}")))?;
        Ok(())
    }

    pub async fn close(self) -> Result<(), Error> {
        let path = self.path;
        self.conn.close().await.map_err(|e| Error::unavailable(format!("cannot close {}: {e}", path.display())))
    }

    fn failed(&self, what: String) -> Error {
        Error::unavailable(format!("{}: {what}", self.path.display()))
    }
}
