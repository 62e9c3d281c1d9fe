CREATE TABLE `replays` (
	`ordinal` integer PRIMARY KEY NOT NULL,
	`since` integer NOT NULL,
	`until` integer NOT NULL,
	`status` text NOT NULL,
	`after` integer NOT NULL
);
