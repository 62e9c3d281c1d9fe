-- Issue 18, the circuit breaker (DESIGN.md "Delivery rules"): each endpoint's settings as the
-- API shows them (existing rows get the defaults: on, 3, 60 s), and the circuit's state as the
-- delivery consumer mirrors it from the tenant's TenantLog (which decides), for readers.
ALTER TABLE `endpoints` ADD `circuit` text DEFAULT '{"enabled":true,"open_after":3,"cool_off_s":60}' NOT NULL;--> statement-breakpoint
ALTER TABLE `endpoints` ADD `circuit_state` text DEFAULT 'closed' NOT NULL;--> statement-breakpoint
ALTER TABLE `endpoints` ADD `circuit_open_until` integer;