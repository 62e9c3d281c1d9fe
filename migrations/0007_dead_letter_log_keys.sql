ALTER TABLE `dead_letters` ADD `tenant_seq` integer;--> statement-breakpoint
ALTER TABLE `dead_letters` ADD `log_event_seq` integer;--> statement-breakpoint
ALTER TABLE `dead_letters` ADD `endpoint_ordinal` integer;--> statement-breakpoint
ALTER TABLE `dead_letters` ADD `generation` integer;--> statement-breakpoint
CREATE UNIQUE INDEX `dead_letters_log_key` ON `dead_letters` (`tenant_seq`,`log_event_seq`,`endpoint_ordinal`,`generation`) WHERE tenant_seq IS NOT NULL;