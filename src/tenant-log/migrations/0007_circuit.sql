-- IF NOT EXISTS added by hand (as in 0006): an additive table that a re-run must not trip over. The
-- ADD COLUMN is O(1) in SQLite (no table rebuild); a NULL `circuit` reads as the default settings.
CREATE TABLE IF NOT EXISTS `circuits` (
	`ordinal` integer PRIMARY KEY NOT NULL,
	`state` text NOT NULL,
	`failures` integer NOT NULL,
	`open_until` integer,
	`opened_at` integer,
	`reopenings` integer NOT NULL,
	`probe_seq` integer,
	`probe_until` integer,
	`probe_started` integer NOT NULL,
	`draining` integer NOT NULL
);
--> statement-breakpoint
ALTER TABLE `endpoints` ADD `circuit` text;
