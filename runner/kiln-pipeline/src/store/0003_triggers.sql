-- kiln pipeline store, schema 3: runs started by a push.
-- An execution's pinned source revisions (StartPipelineExecution's `sourceRevisions`, as JSON:
-- [{actionName, revisionType, revisionValue, reference}]) and its trigger's detail (the ref and
-- the filter that matched).
ALTER TABLE executions ADD COLUMN source_revisions TEXT NOT NULL DEFAULT '[]';
ALTER TABLE executions ADD COLUMN trigger_detail TEXT;

-- What `kiln pipeline watch` last saw of each ref a source action follows. A move is recorded
-- in the same transaction as the execution it starts, compared against the commit the watcher
-- saw before (so two watchers never start the same push twice, and a watcher killed between
-- seeing a push and starting its run sees it again). `reference` '' is the marker of a baseline
-- taken; `commit_id` NULL: the ref was deleted.
CREATE TABLE watched_refs (
    pipeline TEXT NOT NULL,
    source_action TEXT NOT NULL,
    reference TEXT NOT NULL,
    commit_id TEXT,
    execution_id TEXT,                   -- the run this move started, if it started one
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (pipeline, source_action, reference)
);
