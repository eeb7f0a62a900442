//! Persistent sessions: named remote shells under a PTY that the daemon owns and several MCP
//! clients share. This folder will own the session registry, the task that owns each session's
//! PTY and child, and the building blocks that task uses, which are what it holds so far:
//!
//! - [`ring`]: the bounded output ring with absolute offsets, and per-reader cursors;
//! - [`output`]: the ring shared between the session task and its readers, with reads that
//!   return once output has arrived and gone quiet;
//! - [`transcript`]: the size-capped, rotated, private transcript file;
//! - [`screen`]: the rendered terminal (rows and cursor) and ANSI stripping;
//! - [`limits`]: validation of the sizes and waits that agents ask for;
//! - [`marks`] and [`run`]: the invisible marks in a session's output, and running one command
//!   to completion with its output and exit code.

pub mod attach;
pub mod limits;
pub mod link;
pub mod marks;
pub mod observer;
pub mod output;
pub mod record;
pub mod registry;
pub mod retention;
pub mod ring;
pub mod run;
pub mod screen;
pub mod session;
pub mod snapshot;
pub mod spec;
pub mod transcript;
