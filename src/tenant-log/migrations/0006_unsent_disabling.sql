-- IF NOT EXISTS added by hand: additive tables that a re-run (an object taken back to an earlier schema) must not trip over.
CREATE TABLE IF NOT EXISTS `disabling` (
	`ordinal` integer PRIMARY KEY NOT NULL
);
--> statement-breakpoint
CREATE TABLE IF NOT EXISTS `unsent` (
	`seq` integer PRIMARY KEY NOT NULL,
	`due_at` integer NOT NULL
);
