-- pg_trgm backs the trigram (fuzzy) search indexes on items, projects and tags.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- Shared by every BEFORE UPDATE trigger named update_<table>_updated_at.
CREATE OR REPLACE FUNCTION update_updated_at_column() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at = now();
    RETURN NEW;
END;
$$;
