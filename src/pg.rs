//! PostgreSQL's client programs, run as children: finding them, the
//! connection they are given, pg_dump as a byte stream, and the SQL a
//! restore runs on its database. Passwords travel in a child's
//! environment only, never on its command line.
//!
//! - [`tools`]: find every installed pg_dump/psql/pg_restore, ask the
//!   server its version, pick the oldest client that fits;
//! - [`child_env`]: the environment a client inherits, an allowlist;
//! - [`conninfo`]: split the password out of a connection string;
//! - [`dump`]: pg_dump as a child whose exit status judges the stream;
//! - [`dump_args`]: the extra pg_dump arguments a job may give, read as
//!   pg_dump reads them and checked against an allowlist;
//! - [`stderr`]: a child's stderr, logged and its tail kept for errors;
//! - [`database`]: statements on the database a restore writes into.

pub mod child_env;
pub mod conninfo;
pub mod database;
pub mod dump;
pub mod dump_args;
pub mod stderr;
pub mod tools;
