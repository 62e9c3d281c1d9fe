CREATE TABLE `outbox` (
	`seq` integer PRIMARY KEY NOT NULL,
	`kind` text NOT NULL,
	`body` text NOT NULL
);
