CREATE TABLE `__new_dead_letters` (
	`seq` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`tenant_id` text NOT NULL,
	`endpoint_id` text,
	`delivery_seq` integer,
	`event_seq` integer,
	`event_id` text,
	`event_type` text,
	`reason` text NOT NULL,
	`attempts` integer NOT NULL,
	`last_response_status` integer,
	`queue` text,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
INSERT INTO `__new_dead_letters`("seq", "tenant_id", "endpoint_id", "delivery_seq", "event_seq", "event_id", "event_type", "reason", "attempts", "last_response_status", "queue", "created_at") SELECT "seq", "tenant_id", "endpoint_id", "delivery_seq", "event_seq", "event_id", "event_type", "reason", "attempts", "last_response_status", "queue", "created_at" FROM `dead_letters`;--> statement-breakpoint
DROP TABLE `dead_letters`;--> statement-breakpoint
ALTER TABLE `__new_dead_letters` RENAME TO `dead_letters`;--> statement-breakpoint
CREATE UNIQUE INDEX `dead_letters_delivery` ON `dead_letters` (`delivery_seq`) WHERE delivery_seq IS NOT NULL;--> statement-breakpoint
CREATE INDEX `dead_letters_tenant` ON `dead_letters` (`tenant_id`);--> statement-breakpoint
CREATE INDEX `dead_letters_endpoint` ON `dead_letters` (`endpoint_id`) WHERE endpoint_id IS NOT NULL;--> statement-breakpoint
CREATE INDEX `dead_letters_created` ON `dead_letters` (`created_at`);