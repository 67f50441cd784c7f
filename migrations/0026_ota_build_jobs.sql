-- Builds on push (mnwd/ota/builds.py): the durable job (jobs.id) that claimed a build, so a job re-run after
-- its daemon died resumes its own build and a duplicate job leaves someone else's alone.
ALTER TABLE ota_builds ADD COLUMN job_id UUID;

-- The builds of one config waiting to run, oldest first.
CREATE INDEX ota_builds_config_id_pending_idx ON ota_builds (config_id, created_at) WHERE status = 'pending';
