-- WITHOUT ROWID is added by hand: drizzle cannot express it (see src/db/schema.ts attempts).
CREATE TABLE `__new_attempts` (
	`delivery_seq` integer NOT NULL,
	`n` integer NOT NULL,
	`started_at` integer NOT NULL,
	`duration_ms` integer NOT NULL,
	`response_status` integer,
	`response_body` text,
	`error` text,
	`location` text,
	`request_method` text NOT NULL,
	`request_url` text NOT NULL,
	`request_headers` text NOT NULL,
	PRIMARY KEY(`delivery_seq`, `n`)
) WITHOUT ROWID;
--> statement-breakpoint
INSERT INTO `__new_attempts`("delivery_seq", "n", "started_at", "duration_ms", "response_status", "response_body", "error", "location", "request_method", "request_url", "request_headers") SELECT "delivery_seq", "n", "started_at", "duration_ms", "response_status", "response_body", "error", "location", "request_method", "request_url", "request_headers" FROM `attempts`;--> statement-breakpoint
DROP TABLE `attempts`;--> statement-breakpoint
ALTER TABLE `__new_attempts` RENAME TO `attempts`;