-- The reserved tenant that receives Switchyard's own operational events. It always exists.
INSERT INTO `tenants` (`id`, `name`, `metadata`, `created_at`, `updated_at`) VALUES ('_operator', 'Operator', '{}', 0, 0);
