//! keepsake: a PostgreSQL backup agent. It runs `pg_dump`, compresses the
//! dump and streams it to S3-compatible storage (or a directory), never
//! through a temp file, and commits a backup only when it fully succeeded.
//!
//! # Layout, in the order data flows
//!
//! - [`cli`]: the commands (`main.rs` only parses, loads and dispatches).
//! - [`config`]: one figment chain (TOML file <- `KEEPSAKE_*` env <- the
//!   replaced tool's variables) into raw structs, then pure validation into
//!   [`config::Config`], every problem reported at once with its origin.
//! - [`agent`]: the daemon (`keepsake run`): one schedule loop per job
//!   ([`schedule`] computes each next cron occurrence in the job's zone,
//!   [`clock`] waits for it), a concurrency limit, reloads diffed by job,
//!   a graceful stop.
//! - [`backup`]: one backup, start to end ([`cluster`]: a job of several
//!   databases, or with the cluster's globals, as one backup per part). [`pg`] runs PostgreSQL's client
//!   programs (finding a pg_dump that fits the server, the dump itself);
//!   [`pipeline`] compresses (and, to age recipients, [`encryption`]
//!   encrypts) on a blocking thread; [`storage`] uploads
//!   (S3 multipart, a local file, or memory in tests) and commits or
//!   leaves nothing; [`manifest`] records size and SHA-256 beside it.
//!   Then [`leftovers`] removes what runs that died left behind, and
//!   [`prune`] applies [`retention`] (a pure plan) to a fresh listing.
//! - [`catalog`]: a job's backups in a storage (complete, the replaced
//!   tool's, or incomplete), and picking one; [`freshness`] judges whether
//!   the newest is recent enough (`keepsake status`), pure;
//!   [`naming`] turns keys into (time, format, compression) and back, pure.
//! - Reading back: [`readback`] finds the manifest and the client program
//!   and streams an object through checksum and decompression, holding
//!   back its end until it proved sound; [`restore`] feeds it to
//!   psql/pg_restore in one transaction that only keepsake commits;
//!   [`verify`] checks structure or
//!   test-restores into a scratch database.
//! - [`monitor`]: what the outside learns of each run: a report that
//!   becomes Prometheus metrics (served with `/healthz` and `/readyz`
//!   when `[http] listen` is set) and notifications (healthchecks.io
//!   pings, webhooks), sent in the background so they never hold up a
//!   backup. The agent and `keepsake backup` both run jobs through it.
//! - Around them: [`shutdown`] turns SIGTERM/SIGINT into cancellation;
//!   [`progress`] says how far long runs are (log lines, or a live line
//!   in a terminal);
//!   [`logging`] sets up tracing; [`allocator`] keeps big buffers from
//!   lingering; [`resources`] says what the process used.
//!
//! Secrets ([`secrecy::SecretString`]) print as `***` in `Debug` output
//! and in every serialisation ([`config::secret`]), and never reach logs,
//! errors or a child's command line.

pub mod agent;
pub mod allocator;
pub mod backup;
pub mod catalog;
pub mod cli;
pub mod clock;
pub mod cluster;
pub mod config;
pub mod encryption;
pub mod freshness;
pub mod leftovers;
pub mod logging;
pub mod manifest;
pub mod monitor;
pub mod naming;
pub mod pg;
pub mod pipeline;
pub mod progress;
pub mod prune;
pub mod readback;
pub mod resources;
pub mod restore;
pub mod retention;
pub mod schedule;
pub mod shutdown;
pub mod storage;
pub mod verify;
