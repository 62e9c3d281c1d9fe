DROP INDEX `deliveries_endpoint_status_created`;--> statement-breakpoint
DROP INDEX `deliveries_due`;--> statement-breakpoint
CREATE INDEX `deliveries_status_endpoint_created` ON `deliveries` (`status`,`endpoint_id`,`created_at`);