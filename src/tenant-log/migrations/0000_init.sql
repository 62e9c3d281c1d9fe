CREATE TABLE `days` (
	`day` integer PRIMARY KEY NOT NULL,
	`first_seq` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `endpoints` (
	`ordinal` integer PRIMARY KEY NOT NULL,
	`id` text NOT NULL,
	`version` integer NOT NULL,
	`status` text NOT NULL,
	`filter` text NOT NULL,
	`ordering` text NOT NULL,
	`rate_limit` integer,
	`deleted` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `endpoints_id_unique` ON `endpoints` (`id`);