-- WITHOUT ROWID is added by hand (drizzle cannot express it): one row written per insert, not two.
CREATE TABLE `kept` (
	`ordinal` integer NOT NULL,
	`event_seq` integer NOT NULL,
	`event` text NOT NULL,
	`delivery` text NOT NULL,
	`expires_at` integer NOT NULL,
	PRIMARY KEY(`ordinal`, `event_seq`)
) WITHOUT ROWID;
