-- WITHOUT ROWID is added by hand (drizzle cannot express it): one row written per insert, not two.
CREATE TABLE `rollups` (
	`ordinal` integer NOT NULL,
	`hour` integer NOT NULL,
	`created` integer NOT NULL,
	`delivered` integer NOT NULL,
	`failed` integer NOT NULL,
	`latency` text NOT NULL,
	PRIMARY KEY(`ordinal`, `hour`)
) WITHOUT ROWID;
