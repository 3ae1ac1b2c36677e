-- kiln pipeline store, schema 2: what an action's record keeps beyond CodePipeline's fields
-- (a build's provenance digest and record path, …), as a JSON object of strings. Never secrets.
ALTER TABLE action_executions ADD COLUMN output_details TEXT;
