CREATE TABLE `audit_events` (
	`seq` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`id` text NOT NULL,
	`time` integer NOT NULL,
	`workspace_id` text NOT NULL,
	`actor_type` text NOT NULL,
	`actor_id` text,
	`action` text NOT NULL,
	`resource_type` text NOT NULL,
	`resource_id` text NOT NULL,
	`owner_id` text,
	`request_id` text NOT NULL,
	`ip` text,
	`details` text NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `audit_events_id_unique` ON `audit_events` (`id`);--> statement-breakpoint
CREATE INDEX `audit_workspace_seq` ON `audit_events` (`workspace_id`,`seq`);--> statement-breakpoint
CREATE INDEX `audit_workspace_resource_seq` ON `audit_events` (`workspace_id`,`resource_id`,`seq`);--> statement-breakpoint
CREATE INDEX `audit_workspace_owner_seq` ON `audit_events` (`workspace_id`,`owner_id`,`seq`);--> statement-breakpoint
CREATE INDEX `audit_workspace_time` ON `audit_events` (`workspace_id`,`time`);--> statement-breakpoint
CREATE TABLE `key_usage` (
	`key_id` text NOT NULL,
	`hour` integer NOT NULL,
	`code` text NOT NULL,
	`count` integer NOT NULL,
	PRIMARY KEY(`key_id`, `hour`, `code`)
);
--> statement-breakpoint
CREATE TABLE `keys` (
	`seq` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`id` text NOT NULL,
	`keyspace_id` text NOT NULL,
	`workspace_id` text NOT NULL,
	`owner_id` text,
	`name` text,
	`start` text NOT NULL,
	`last4` text NOT NULL,
	`hash` text NOT NULL,
	`meta` text NOT NULL,
	`scopes` text NOT NULL,
	`enabled` integer NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	`expires_at` integer,
	`revoked_at` integer,
	`revoked_reason` text,
	`last_used_at` integer,
	`remaining` integer,
	`refill_amount` integer,
	`refill_interval` text,
	`refilled_at` integer,
	`ratelimit_limit` integer,
	`ratelimit_duration_ms` integer,
	`rotated_from_id` text,
	`replaced_by_id` text,
	`credits_key_id` text,
	FOREIGN KEY (`keyspace_id`) REFERENCES `keyspaces`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE UNIQUE INDEX `keys_id` ON `keys` (`id`);--> statement-breakpoint
CREATE INDEX `keys_workspace_seq` ON `keys` (`workspace_id`,`seq`);--> statement-breakpoint
CREATE INDEX `keys_keyspace_seq` ON `keys` (`keyspace_id`,`seq`);--> statement-breakpoint
CREATE INDEX `keys_workspace_owner_seq` ON `keys` (`workspace_id`,`owner_id`,`seq`);--> statement-breakpoint
CREATE INDEX `keys_credits_key` ON `keys` (`credits_key_id`);--> statement-breakpoint
CREATE TABLE `keyspaces` (
	`seq` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`id` text NOT NULL,
	`workspace_id` text NOT NULL,
	`name` text NOT NULL,
	`prefix` text NOT NULL,
	`hash_algorithm` text NOT NULL,
	`defaults` text NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	FOREIGN KEY (`workspace_id`) REFERENCES `workspaces`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE UNIQUE INDEX `keyspaces_id_unique` ON `keyspaces` (`id`);--> statement-breakpoint
CREATE UNIQUE INDEX `keyspaces_prefix_unique` ON `keyspaces` (`prefix`);--> statement-breakpoint
CREATE INDEX `keyspaces_workspace_seq` ON `keyspaces` (`workspace_id`,`seq`);--> statement-breakpoint
CREATE TABLE `root_keys` (
	`seq` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`id` text NOT NULL,
	`workspace_id` text NOT NULL,
	`name` text NOT NULL,
	`start` text NOT NULL,
	`last4` text NOT NULL,
	`hash` text NOT NULL,
	`permissions` text NOT NULL,
	`owner_id` text,
	`created_at` integer NOT NULL,
	`revoked_at` integer,
	`last_used_at` integer,
	FOREIGN KEY (`workspace_id`) REFERENCES `workspaces`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE UNIQUE INDEX `root_keys_id_unique` ON `root_keys` (`id`);--> statement-breakpoint
CREATE INDEX `root_keys_workspace_seq` ON `root_keys` (`workspace_id`,`seq`);--> statement-breakpoint
CREATE TABLE `settings` (
	`name` text PRIMARY KEY NOT NULL,
	`value` text NOT NULL
);
--> statement-breakpoint
CREATE TABLE `workspaces` (
	`seq` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`id` text NOT NULL,
	`name` text NOT NULL,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `workspaces_id_unique` ON `workspaces` (`id`);