CREATE TABLE `tenant_hours` (
	`tenant_seq` integer NOT NULL,
	`hour` integer NOT NULL,
	`created` integer NOT NULL,
	`delivered` integer NOT NULL,
	`failed` integer NOT NULL,
	`latency` text NOT NULL,
	`updated_at` integer NOT NULL,
	PRIMARY KEY(`tenant_seq`, `hour`)
) WITHOUT ROWID;
--> statement-breakpoint
CREATE INDEX `tenant_hours_hour` ON `tenant_hours` (`hour`);