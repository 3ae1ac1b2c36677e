-- kiln pipeline store, schema 1. Portable SQL (SQLite now, PostgreSQL later): TEXT, BIGINT,
-- INTEGER only; times are milliseconds since the Unix epoch; JSON documents are TEXT.
-- Every row an action's attempt writes carries that attempt number, and every update names it,
-- so a writer whose attempt was superseded (a stale lease, a retry) changes nothing.

CREATE TABLE executions (
    id TEXT PRIMARY KEY,                 -- pipelineExecutionId (a UUID)
    pipeline TEXT NOT NULL,              -- the pipeline's name
    seq BIGINT NOT NULL,                 -- arrival order in this store (QUEUED, SUPERSEDED)
    definition TEXT NOT NULL,            -- the get-pipeline JSON the execution runs
    definition_digest TEXT NOT NULL,     -- sha256 of it: "the same pipeline version"
    mode TEXT NOT NULL,                  -- SUPERSEDED | QUEUED | PARALLEL
    execution_type TEXT NOT NULL,        -- STANDARD | ROLLBACK
    rollback_target TEXT,                -- ROLLBACK: the execution whose artifacts it reuses
    rollback_stage TEXT,                 -- ROLLBACK: the stage it runs
    status TEXT NOT NULL,                -- PipelineExecutionStatus
    status_summary TEXT,
    waiting_stage TEXT,                  -- inbound: the stage it waits to enter
    stop_abandon INTEGER NOT NULL DEFAULT 0,
    variables TEXT NOT NULL,             -- pipeline-level variables, resolved at start (JSON)
    trigger_type TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX executions_seq ON executions (seq);
CREATE INDEX executions_pipeline ON executions (pipeline, status);

CREATE TABLE stage_executions (
    execution_id TEXT NOT NULL,
    stage TEXT NOT NULL,
    attempt INTEGER NOT NULL,            -- 1, then +1 per retry
    retry_mode TEXT,                     -- of the latest retry: FAILED_ACTIONS | ALL_ACTIONS
    retry_trigger TEXT,                  -- AutomatedStageRetry | ManualStageRetry
    auto_retries INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL,                -- StageExecutionStatus
    started_at BIGINT NOT NULL,
    ended_at BIGINT,
    PRIMARY KEY (execution_id, stage)
);

CREATE TABLE action_executions (
    execution_id TEXT NOT NULL,
    stage TEXT NOT NULL,
    action TEXT NOT NULL,
    attempt INTEGER NOT NULL,            -- 1, then +1 per re-run (retry, or a dead lease)
    stage_attempt INTEGER NOT NULL,      -- the stage attempt this run belongs to
    status TEXT NOT NULL,                -- ActionExecutionStatus
    lease_owner TEXT,                    -- the kiln process running it
    lease_until BIGINT,
    started_at BIGINT NOT NULL,
    ended_at BIGINT,
    summary TEXT,
    error_code TEXT,
    resolved_configuration TEXT,         -- JSON
    output_variables TEXT,               -- JSON
    external_execution_id TEXT,
    updated_by TEXT,
    PRIMARY KEY (execution_id, stage, action, attempt)
);

CREATE TABLE artifacts (
    execution_id TEXT NOT NULL,
    name TEXT NOT NULL,
    digest TEXT NOT NULL,                -- sha256 hex: cas/sha256/<digest>
    size BIGINT NOT NULL,
    stage TEXT NOT NULL,
    action TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (execution_id, name)
);

CREATE TABLE approvals (
    execution_id TEXT NOT NULL,
    stage TEXT NOT NULL,
    action TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    token TEXT NOT NULL,
    status TEXT NOT NULL,                -- Pending | Approved | Rejected | Expired
    custom_data TEXT,
    external_entity_link TEXT,
    requested_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    summary TEXT,
    answered_by TEXT,
    answered_at BIGINT,
    PRIMARY KEY (execution_id, stage, action, attempt)
);

-- SUPERSEDED and QUEUED: a stage holds one execution at a time.
CREATE TABLE stage_locks (
    pipeline TEXT NOT NULL,
    stage TEXT NOT NULL,
    holder TEXT,
    PRIMARY KEY (pipeline, stage)
);
