//! The durable store of pipeline executions: sqlx over SQLite in WAL mode, written so the same
//! schema and queries serve PostgreSQL later (portable types, `$N` parameters, `ON CONFLICT`,
//! no SQLite-only functions; the one SQLite-specific statement is `BEGIN IMMEDIATE` in
//! [`Store::begin`], which takes the write lock up front so two processes never deadlock
//! upgrading a read transaction).
//!
//! Layout of a store directory: `pipeline.db` (+ `-wal`, `-shm`), `cas/sha256/<digest>` (the
//! artifacts, [`crate::cas`]), `work/` (per-attempt scratch directories).
//!
//! Durability: `synchronous=FULL`, so a committed transaction survives a crash of the process or
//! of the machine. Every change of an action's state names the attempt it belongs to (and the
//! lease holder), so a writer that lost its lease or whose attempt was superseded changes
//! nothing: its `UPDATE` matches no row.

mod rows;
mod watch;
mod writes;

use std::borrow::Cow;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlSafeStr;

use crate::cas::Cas;
pub use rows::*;
pub use watch::RefMove;
pub use writes::{ApprovalAnswer, Enter, NewExecution};

/// Why the store could not do something.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the pipeline store: {0}")]
    Db(#[from] sqlx::Error),
    #[error("the pipeline store's schema: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("the pipeline store {}: {error}", path.display())]
    Io { path: PathBuf, error: std::io::Error },
    #[error("the pipeline store {}: {why}", path.display())]
    Unsafe { path: PathBuf, why: &'static str },
    #[error("no pipeline execution `{0}` in this store")]
    NoExecution(String),
    #[error("the store holds a value kiln does not know: {0}")]
    Corrupt(String),
}

/// The migrations, in order (embedded: the binary carries its schema).
const MIGRATIONS: &[(i64, &str, &str)] = &[(1, "executions", include_str!("0001_executions.sql")), (2, "output_details", include_str!("0002_output_details.sql")), (3, "triggers", include_str!("0003_triggers.sql"))];

/// The first `n` embedded migrations (all of them: [`MIGRATIONS`]`.len()`; fewer: a store as an
/// older kiln left it, for the migration tests).
#[derive(Debug)]
struct MigrationList(usize);

impl MigrationSource<'static> for MigrationList {
    fn resolve(self) -> Pin<Box<dyn std::future::Future<Output = Result<Vec<Migration>, sqlx::error::BoxDynError>> + Send + 'static>> {
        Box::pin(async move {
            Ok(MIGRATIONS.iter().take(self.0).map(|(v, name, sql)| Migration::new(*v, Cow::Borrowed(*name), MigrationType::Simple, sql.into_sql_str(), false)).collect())
        })
    }
}

/// The store: a database and its artifact store.
#[derive(Clone, Debug)]
pub struct Store {
    pub(crate) pool: SqlitePool,
    dir: PathBuf,
    cas: Cas,
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

impl Store {
    /// Open (creating and migrating) the store in `dir`. `dir` must not be a symbolic link.
    pub async fn open(dir: &Path) -> Result<Store, StoreError> {
        let io = |error| StoreError::Io { path: dir.to_path_buf(), error };
        if std::fs::symlink_metadata(dir).is_ok_and(|m| m.file_type().is_symlink()) {
            return Err(StoreError::Unsafe { path: dir.to_path_buf(), why: "it is a symbolic link; kiln keeps its store only in a real directory" });
        }
        std::fs::create_dir_all(dir).map_err(io)?;
        let cas = Cas::open(&dir.join("cas")).map_err(io)?;
        std::fs::create_dir_all(dir.join("work")).map_err(io)?;
        let db = dir.join("pipeline.db");
        let url = format!("sqlite://{}", db.display());
        let options = SqliteConnectOptions::from_str(&url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(30))
            .foreign_keys(true);
        // Two kilns opening a new or older store at once (a run and `kiln pipeline runs` from
        // another terminal) would both apply a migration (SQLite's DDL is not guarded by sqlx's
        // migration table): one process migrates at a time, under an flock.
        let lock = std::fs::OpenOptions::new().create(true).truncate(false).write(true).custom_flags(libc::O_NOFOLLOW).open(dir.join("migrate.lock")).map_err(io)?;
        let fd = std::os::fd::AsRawFd::as_raw_fd(&lock);
        let locked = tokio::task::spawn_blocking(move || {
            // SAFETY: flock on an fd this closure keeps open (`lock` moves back out with it).
            let r = unsafe { libc::flock(fd, libc::LOCK_EX) };
            (lock, r)
        })
        .await;
        let (lock, r) = locked.map_err(|e| io(std::io::Error::other(e)))?;
        if r != 0 {
            return Err(io(std::io::Error::last_os_error()));
        }
        let pool = SqlitePoolOptions::new().max_connections(4).connect_with(options).await?;
        let migrator = Migrator::new(MigrationList(MIGRATIONS.len())).await?;
        migrator.run(&pool).await?;
        drop(lock);
        Ok(Store { pool, dir: dir.to_path_buf(), cas })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn cas(&self) -> &Cas {
        &self.cas
    }

    /// A write transaction holding the database's write lock from its start.
    pub(crate) async fn begin(&self) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, StoreError> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }

    /// Close the pool (the WAL is checkpointed by SQLite when the last connection closes).
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

#[cfg(test)]
mod tests;
