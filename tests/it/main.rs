//! The server's integration tests, as one binary (linked once). Each
//! module is a suite; each test starts the real server (in this process on
//! 127.0.0.1:0 with a database of its own, or as the real binary when it
//! must be killed or measured), and talks HTTP and websocket to it; bots
//! are real HTTP servers on loopback. `common` is the harness they share.
//!
//! Suites never read state another test leaves behind: nothing here reads
//! a process-wide figure (the metrics registry is shared by every server in
//! this process), and every test has its own database and ports.

mod common;

mod api;
mod bot_http;
mod bots;
mod calls;
mod conversations;
mod crosssite;
mod fuzz;
mod hardening;
mod operations;
mod postgres;
mod python_bots;
mod python_json;
mod python_regex;
mod ratelimit;
mod websocket;
