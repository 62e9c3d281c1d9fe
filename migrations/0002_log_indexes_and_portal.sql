CREATE TABLE `portal_sessions` (
	`id` text PRIMARY KEY NOT NULL,
	`tenant_id` text NOT NULL,
	`read_only` integer NOT NULL,
	`link_hash` text NOT NULL,
	`link_expires_at` integer NOT NULL,
	`used_at` integer,
	`session_hash` text,
	`session_expires_at` integer,
	`csrf_token` text,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `portal_sessions_link` ON `portal_sessions` (`link_hash`);--> statement-breakpoint
CREATE UNIQUE INDEX `portal_sessions_session` ON `portal_sessions` (`session_hash`) WHERE session_hash IS NOT NULL;--> statement-breakpoint
DROP INDEX `deliveries_endpoint`;--> statement-breakpoint
DROP INDEX `deliveries_endpoint_status`;--> statement-breakpoint
CREATE INDEX `deliveries_endpoint_created` ON `deliveries` (`endpoint_id`,`created_at`);--> statement-breakpoint
CREATE INDEX `deliveries_endpoint_status_created` ON `deliveries` (`endpoint_id`,`status`,`created_at`);