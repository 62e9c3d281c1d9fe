-- Data plane v2 (docs/data-plane-v2.md): each tenant's log lives in its TenantLog Durable
-- Object, so D1's log tables go. They are not migrated: the project had no production data
-- (CHANGELOG.md). Dead letters of the old log name deliveries that no longer exist.
-- tenants.seq becomes AUTOINCREMENT: it names the tenant's log and is never reused.
DELETE FROM `dead_letters` WHERE `tenant_seq` IS NULL;--> statement-breakpoint
DROP TABLE `attempts`;--> statement-breakpoint
DROP TABLE `deliveries`;--> statement-breakpoint
DROP TABLE `events`;--> statement-breakpoint
DROP INDEX `dead_letters_delivery`;--> statement-breakpoint
ALTER TABLE `dead_letters` ADD `delivery_id` text;--> statement-breakpoint
ALTER TABLE `dead_letters` DROP COLUMN `delivery_seq`;--> statement-breakpoint
ALTER TABLE `dead_letters` DROP COLUMN `event_seq`;--> statement-breakpoint
PRAGMA foreign_keys=OFF;--> statement-breakpoint
CREATE TABLE `__new_tenants` (
	`seq` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`id` text NOT NULL,
	`name` text NOT NULL,
	`metadata` text NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	`deleted_at` integer
);
--> statement-breakpoint
INSERT INTO `__new_tenants`("seq", "id", "name", "metadata", "created_at", "updated_at", "deleted_at") SELECT "seq", "id", "name", "metadata", "created_at", "updated_at", "deleted_at" FROM `tenants`;--> statement-breakpoint
DROP TABLE `tenants`;--> statement-breakpoint
ALTER TABLE `__new_tenants` RENAME TO `tenants`;--> statement-breakpoint
PRAGMA foreign_keys=ON;--> statement-breakpoint
CREATE UNIQUE INDEX `tenants_id` ON `tenants` (`id`);