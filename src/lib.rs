//! keepsake: a PostgreSQL backup agent. It runs `pg_dump`, compresses the
//! dump and streams it to S3-compatible storage (or a directory), never
//! through a temp file, and commits a backup only when it fully succeeded.
//!
//! # Layout, in the order data flows
//!
//! - [`cli`]: the commands; `main.rs` only parses, loads and dispatches.
//! - [`config`]: one figment chain (TOML file <- `KEEPSAKE_*` env <- the
//!   seed tool's variables) into raw structs, then pure validation into
//!   [`config::Config`], every problem reported at once with its origin.
//! - [`agent`]: the daemon. One schedule loop per job ([`schedule`] computes
//!   each next cron occurrence in the job's zone, [`clock`] waits for it), a
//!   concurrency limit, reloads diffed by job ([`reload`] watches the file),
//!   a graceful stop.
//! - [`job`]: one backup, start to end: [`pgtools`] picks a pg_dump at
//!   least as new as the server; [`source`] runs it ([`child`] keeps its
//!   stderr); [`pipeline`] compresses and checksums on a blocking thread;
//!   [`destination`] uploads (S3 multipart or local file) and commits or
//!   leaves nothing; [`manifest`] records size and SHA-256 beside it. Then
//!   [`prune`] applies [`retention`] (a pure plan) to a fresh listing.
//! - [`catalog`]: a job's backups in a storage, and picking one;
//!   [`naming`] turns keys into (job, time, format) and back, pure.
//! - Reading back: [`readback`] streams an object through checksum and
//!   decompression, holding back its end until it proved sound;
//!   [`restore`] feeds it to psql/pg_restore in one transaction on a
//!   [`target`] database; [`verify`] checks structure or test-restores.
//! - [`conninfo`]: splits the password out of a connection string, so it
//!   travels in a child's environment only. [`logging`]: tracing setup.
//!   [`allocator`]: malloc settings that keep big buffers from lingering;
//!   [`resources`]: what the process used (peak RSS, disk writes).
//!
//! Secrets ([`secrecy::SecretString`]) print as redacted in `Debug` output
//! and never reach logs, errors or a child's command line.

pub mod agent;
pub mod allocator;
pub mod catalog;
pub mod child;
pub mod cli;
pub mod clock;
pub mod config;
pub mod conninfo;
pub mod destination;
pub mod job;
pub mod logging;
pub mod manifest;
pub mod naming;
pub mod pgtools;
pub mod pipeline;
pub mod prune;
pub mod readback;
pub mod reload;
pub mod resources;
pub mod restore;
pub mod retention;
pub mod schedule;
pub mod source;
pub mod target;
pub mod verify;
