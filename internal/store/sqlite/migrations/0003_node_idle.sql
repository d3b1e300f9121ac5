-- When a node last became idle, and when its spot instance is to be
-- reclaimed (from its agent's interruption notice).
ALTER TABLE nodes ADD COLUMN idle_since INTEGER;
ALTER TABLE nodes ADD COLUMN interruption_at INTEGER;
