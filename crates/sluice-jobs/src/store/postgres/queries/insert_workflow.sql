-- Inserts a workflow's steps with the ids $1 taken for them ($2..$15, one row each): each with
-- the workflow's id $17 (its first step's), its name, the ids of the jobs it depends on and of
-- those depending on it (JSON arrays), how many it waits for, and what it does when one of them
-- fails. $16 is now.
INSERT INTO sluice_jobs (id, queue, kind, args, priority, state, max_attempts, run_at,
    partition_key, traceparent, step, depends_on, dependents, waiting_on, on_dependency_failure,
    created_at, workflow_id)
SELECT id, queue, kind, args, priority, state, max_attempts, run_at, partition_key, traceparent,
    step, ARRAY(SELECT jsonb_array_elements_text(depends_on::jsonb)::bigint),
    nullif(ARRAY(SELECT jsonb_array_elements_text(dependents::jsonb)::bigint), '{}'),
    waiting_on, on_dependency_failure, $16, $17
FROM unnest($1::bigint[], $2::text[], $3::text[], $4::jsonb[], $5::smallint[], $6::text[],
    $7::int[], $8::timestamptz[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[],
    $14::int[], $15::text[])
    AS t(id, queue, kind, args, priority, state, max_attempts, run_at, partition_key,
        traceparent, step, depends_on, dependents, waiting_on, on_dependency_failure)
