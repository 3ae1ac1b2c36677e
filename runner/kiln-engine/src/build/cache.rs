//! The build cache in a build's phases (`build_cache.rs` holds the rest): restored at the end of
//! DOWNLOAD_SOURCE, saved in UPLOAD_ARTIFACTS.

use std::time::Instant;

use kiln_cache::Roots;

use super::Run;

impl Run<'_> {
    /// The trees a cache entry maps to: the working copy, the build's home, and the host
    /// directories the operator let the build write.
    fn cache_roots(&self) -> Option<Roots> {
        let home = self.scratch.as_ref()?.home.clone();
        let allowed = self.opts.writable_paths.iter().filter_map(|p| std::fs::canonicalize(p).ok()).collect();
        Some(Roots { src: self.work_dir.clone(), home, allowed })
    }

    /// Expand `key`, `fallback-keys` and `paths` in the build's shell, once.
    async fn expand_cache(&mut self) -> bool {
        let (Some(cache), Some(spec)) = (self.cache.as_mut(), self.spec.cache.as_ref()) else { return false };
        if cache.is_expanded() {
            return true;
        }
        let words = crate::build_cache::BuildCache::words(spec);
        match crate::upload::expand(&self.shell, &self.sandbox, &words).await {
            Ok(expanded) => {
                cache.set_expanded(spec, expanded);
                true
            }
            Err(e) => {
                cache.record.warnings.push(format!("cache settings not expanded, cache not used: {e}"));
                self.pump.note(&format!("warning: cache settings not expanded, cache not used: {e}"));
                false
            }
        }
    }

    /// DOWNLOAD_SOURCE, once the working copy is there: restore the cache (unless `action: save`).
    pub(super) async fn restore_cache(&mut self) {
        if !self.cache.as_ref().is_some_and(|c| c.restores()) || Instant::now() >= self.deadline {
            return;
        }
        self.shell.sync_state(self.deadline).await;
        if !self.expand_cache().await {
            return;
        }
        let Some(roots) = self.cache_roots() else { return };
        let log = match self.cache.as_mut() {
            Some(cache) => cache.restore(&roots),
            None => return,
        };
        if let Some(owner) = self.run_as.owner()
            && self.cache.as_ref().is_some_and(|c| c.record.restored.is_some())
        {
            for root in [&roots.src, &roots.home] {
                if let Err(e) = crate::runas::chown_tree(root, owner) {
                    self.pump.note(&format!("warning: cannot hand the restored cache to the run-as user: {e}"));
                }
            }
        }
        for line in log {
            self.pump.note(&line);
        }
        self.record.kiln.cache = self.cache.as_ref().map(|c| c.record.clone());
    }

    /// UPLOAD_ARTIFACTS: save the cache after a build that succeeded (or also after a failed one
    /// with `kiln: cache: save-on-failure`), unless `action: restore`.
    pub(super) async fn save_cache(&mut self) {
        if !self.cache.as_ref().is_some_and(|c| c.saves()) || Instant::now() >= self.deadline {
            return;
        }
        if !self.succeeding && !self.spec.kiln.cache.save_on_failure {
            self.pump.note("cache not saved: the build failed (kiln: cache: save-on-failure saves it anyway)");
            return;
        }
        self.shell.sync_state(self.deadline).await;
        if !self.expand_cache().await {
            return;
        }
        let Some(roots) = self.cache_roots() else { return };
        let log = match self.cache.as_mut() {
            Some(cache) => cache.save(&roots),
            None => return,
        };
        for line in log {
            self.pump.note(&line);
        }
        self.record.kiln.cache = self.cache.as_ref().map(|c| c.record.clone());
    }
}
