//! What `kiln pipeline watch` last saw of the refs a source action follows (schema 3's
//! `watched_refs`). A ref's move is recorded compare-and-set against the commit the watcher saw
//! before, and in the same transaction as the execution the move starts: two watchers on one
//! store never start the same push twice, and a watcher killed between seeing a push and
//! recording it sees the push again when it comes back.

use std::collections::BTreeMap;

use sqlx::Row;

use super::{now_ms, NewExecution, Store, StoreError};

/// The marker row of a baseline taken (a watched action with no refs at all is still watched).
const BASELINE: &str = "";

/// One ref's move, as a watcher saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefMove {
    pub pipeline: String,
    pub source_action: String,
    /// `refs/heads/<branch>` or `refs/tags/<tag>`.
    pub reference: String,
    /// The commit the watcher last knew (`None`: the ref did not exist).
    pub old: Option<String>,
    /// The commit now (`None`: the ref was deleted).
    pub new: Option<String>,
}

impl Store {
    /// The refs last recorded for a watched source action, or `None` when it was never watched
    /// (no baseline yet).
    pub async fn watched_refs(&self, pipeline: &str, source_action: &str) -> Result<Option<BTreeMap<String, String>>, StoreError> {
        let rows = sqlx::query("SELECT reference, commit_id FROM watched_refs WHERE pipeline = $1 AND source_action = $2").bind(pipeline).bind(source_action).fetch_all(&self.pool).await?;
        if rows.is_empty() {
            return Ok(None);
        }
        let mut out = BTreeMap::new();
        for r in rows {
            let (reference, commit): (String, Option<String>) = (r.try_get(0)?, r.try_get(1)?);
            if let (false, Some(c)) = (reference == BASELINE, commit) {
                out.insert(reference, c);
            }
        }
        Ok(Some(out))
    }

    /// Record the refs as they are now as a watched action's baseline (moves before it start
    /// nothing). Refs already recorded are kept (another watcher's baseline wins).
    pub async fn record_baseline(&self, pipeline: &str, source_action: &str, refs: &BTreeMap<String, String>) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let now = now_ms();
        let marker = std::iter::once((BASELINE, None));
        for (reference, commit) in marker.chain(refs.iter().map(|(r, c)| (r.as_str(), Some(c.as_str())))) {
            sqlx::query("INSERT INTO watched_refs (pipeline, source_action, reference, commit_id, execution_id, updated_at) VALUES ($1, $2, $3, $4, NULL, $5) ON CONFLICT (pipeline, source_action, reference) DO NOTHING")
                .bind(pipeline)
                .bind(source_action)
                .bind(reference)
                .bind(commit)
                .bind(now)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Record `m`, and create `start` (the execution the move starts) in the same transaction,
    /// if the ref is still where the watcher last saw it. `false`: another watcher recorded a
    /// move of this ref first; nothing was written (read [`Store::watched_refs`] again).
    pub async fn record_move(&self, m: &RefMove, start: Option<&NewExecution>) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        let row = sqlx::query("SELECT commit_id FROM watched_refs WHERE pipeline = $1 AND source_action = $2 AND reference = $3")
            .bind(&m.pipeline)
            .bind(&m.source_action)
            .bind(&m.reference)
            .fetch_optional(&mut *tx)
            .await?;
        let recorded: Option<String> = match row {
            Some(r) => r.try_get(0)?,
            None => None,
        };
        if recorded != m.old {
            return Ok(false);
        }
        if let Some(new) = start {
            Self::insert_execution(&mut tx, new).await?;
        }
        sqlx::query(
            "INSERT INTO watched_refs (pipeline, source_action, reference, commit_id, execution_id, updated_at) VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (pipeline, source_action, reference) DO UPDATE SET commit_id = excluded.commit_id, execution_id = excluded.execution_id, updated_at = excluded.updated_at",
        )
        .bind(&m.pipeline)
        .bind(&m.source_action)
        .bind(&m.reference)
        .bind(&m.new)
        .bind(start.map(|n| n.id.clone()))
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }
}
