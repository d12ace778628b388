//! NeCSuS: a chat server for people learning to write bots.
//!
//! Rooms hold messages; a posted message is matched against every bot of
//! its room, matching bots are called over HTTP one after another, and their
//! replies are posted back. Every change is pushed to the room's browsers
//! over a websocket. See `docs/contract.md` for the behaviour contract
//! and `docs/architecture.md` for the map of this crate.

#![forbid(unsafe_code)]

pub mod app;
pub mod backend;
pub mod backup;
pub mod botcall;
pub mod broker;
pub mod calllimits;
pub mod calllog;
pub mod cascade;
pub mod chat;
pub mod cli;
pub mod config;
pub mod copydb;
pub mod episodes;
pub mod feed;
pub mod http;
pub mod logwriter;
pub mod matcher;
pub mod model;
pub mod netguard;
pub mod postgres;
pub mod pyre;
pub mod ratelimit;
pub mod sqlite;
pub mod store;
pub mod sync;
pub mod telemetry;
pub mod texts;
pub mod turns;
pub mod writer;
