CREATE TABLE `api_keys` (
	`id` text PRIMARY KEY NOT NULL,
	`tenant_id` text NOT NULL,
	`name` text NOT NULL,
	`key_hash` text NOT NULL,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `api_keys_tenant` ON `api_keys` (`tenant_id`,`id`);--> statement-breakpoint
CREATE TABLE `attempts` (
	`seq` integer PRIMARY KEY NOT NULL,
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
	`request_headers` text NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `attempts_delivery_n` ON `attempts` (`delivery_seq`,`n`);--> statement-breakpoint
CREATE TABLE `dead_letters` (
	`seq` integer PRIMARY KEY NOT NULL,
	`tenant_id` text NOT NULL,
	`endpoint_id` text,
	`delivery_seq` integer,
	`event_seq` integer,
	`event_id` text,
	`event_type` text,
	`reason` text NOT NULL,
	`attempts` integer NOT NULL,
	`last_response_status` integer,
	`queue` text,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `dead_letters_delivery` ON `dead_letters` (`delivery_seq`) WHERE delivery_seq IS NOT NULL;--> statement-breakpoint
CREATE INDEX `dead_letters_tenant` ON `dead_letters` (`tenant_id`);--> statement-breakpoint
CREATE INDEX `dead_letters_endpoint` ON `dead_letters` (`endpoint_id`) WHERE endpoint_id IS NOT NULL;--> statement-breakpoint
CREATE INDEX `dead_letters_created` ON `dead_letters` (`created_at`);--> statement-breakpoint
CREATE TABLE `deliveries` (
	`seq` integer PRIMARY KEY NOT NULL,
	`tenant_id` text NOT NULL,
	`endpoint_id` text NOT NULL,
	`event_seq` integer NOT NULL,
	`event_type` text NOT NULL,
	`status` text NOT NULL,
	`reason` text,
	`attempts` integer NOT NULL,
	`run_start` integer NOT NULL,
	`generation` integer NOT NULL,
	`next_attempt_at` integer,
	`last_attempt_at` integer,
	`response_status` integer,
	`line_seq` integer,
	`test` integer NOT NULL,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `deliveries_event_endpoint` ON `deliveries` (`event_seq`,`endpoint_id`);--> statement-breakpoint
CREATE INDEX `deliveries_endpoint` ON `deliveries` (`endpoint_id`);--> statement-breakpoint
CREATE INDEX `deliveries_endpoint_status` ON `deliveries` (`endpoint_id`,`status`);--> statement-breakpoint
CREATE INDEX `deliveries_due` ON `deliveries` (`next_attempt_at`) WHERE status = 'pending' AND next_attempt_at IS NOT NULL;--> statement-breakpoint
CREATE TABLE `endpoint_secrets` (
	`seq` integer PRIMARY KEY NOT NULL,
	`endpoint_id` text NOT NULL,
	`secret_box` text NOT NULL,
	`created_at` integer NOT NULL,
	`expires_at` integer
);
--> statement-breakpoint
CREATE INDEX `endpoint_secrets_endpoint` ON `endpoint_secrets` (`endpoint_id`);--> statement-breakpoint
CREATE TABLE `endpoints` (
	`id` text PRIMARY KEY NOT NULL,
	`tenant_id` text NOT NULL,
	`url` text NOT NULL,
	`description` text NOT NULL,
	`status` text NOT NULL,
	`disabled_reason` text,
	`failing_since` integer,
	`filter` text NOT NULL,
	`method` text NOT NULL,
	`headers` text NOT NULL,
	`auth_type` text,
	`auth_box` text,
	`format` text NOT NULL,
	`signature` text NOT NULL,
	`ordering` text NOT NULL,
	`rate_limit` integer,
	`timeout_ms` integer NOT NULL,
	`retry_schedule` text,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	`deleted_at` integer
);
--> statement-breakpoint
CREATE INDEX `endpoints_tenant` ON `endpoints` (`tenant_id`,`id`);--> statement-breakpoint
CREATE TABLE `event_types` (
	`name` text PRIMARY KEY NOT NULL,
	`description` text NOT NULL,
	`group_name` text,
	`schema` text,
	`example` text,
	`archived_at` integer,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `events` (
	`seq` integer PRIMARY KEY NOT NULL,
	`id` text NOT NULL,
	`tenant_id` text NOT NULL,
	`type` text NOT NULL,
	`data` text NOT NULL,
	`occurred_at` integer,
	`created_at` integer NOT NULL,
	`idempotency_key` text,
	`body_hash` text NOT NULL,
	`fanned_out` integer NOT NULL,
	`test` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `events_tenant_id` ON `events` (`tenant_id`,`id`);--> statement-breakpoint
CREATE UNIQUE INDEX `events_tenant_idempotency` ON `events` (`tenant_id`,`idempotency_key`) WHERE idempotency_key IS NOT NULL;--> statement-breakpoint
CREATE INDEX `events_tenant_list` ON `events` (`tenant_id`) WHERE test = 0;--> statement-breakpoint
CREATE INDEX `events_unfanned` ON `events` (`tenant_id`) WHERE fanned_out = 0;--> statement-breakpoint
CREATE TABLE `tenants` (
	`seq` integer PRIMARY KEY NOT NULL,
	`id` text NOT NULL,
	`name` text NOT NULL,
	`metadata` text NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	`deleted_at` integer
);
--> statement-breakpoint
CREATE UNIQUE INDEX `tenants_id` ON `tenants` (`id`);