-- 0013: the billing model a usage period is billed by ("second" or
-- "hour"), recorded when the period opens, so that a later change of the
-- provider's model does not re-bill the past. Empty for periods recorded
-- before: they are billed by the provider's current model.
ALTER TABLE usage ADD COLUMN billing TEXT NOT NULL DEFAULT '';
