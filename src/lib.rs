//! tripmail: post-purchase email campaigns (booking confirmations and trip reminders) with a
//! "Complete your trip" block chosen by a cross-sell engine and tailored by season and family.
//!
//! The run goes in phases, one module each: [`config`] → [`bookings`] (read as a stream) → [`due`] (with
//! [`schedule`]: windows and days in the customer's time zone) → [`recommend`] + [`heuristics`]
//! (choose items) → [`compose`] (with [`render`]) → [`deliver`] (review copies, a [`Transport`]),
//! with [`ledger`] making each send happen once and [`report`] kept as it goes; [`run`] drives them,
//! [`runner`] runs them on a schedule, [`plan`] foresees them, [`cli`] is the command line and
//! [`console`] the web console.
//!
//! [`Transport`]: deliver::Transport
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod bookings;
pub mod catalog;
pub mod cli;
pub mod compose;
pub mod config;
pub mod console;
pub mod deliver;
pub mod dkim;
pub mod fit;
pub mod heuristics;
pub mod item;
pub mod ledger;
pub mod lint;
pub mod plan;
pub mod recommend;
pub mod render;
pub mod report;
pub mod reservation;
mod retry;
pub mod run;
pub mod runner;
pub mod schedule;
pub mod snapshot_review;
pub mod snapshots;
pub mod state;
pub mod store;
pub mod synth;
pub mod unsubscribe;
pub mod why;

/// The due rules, at their old path: they live in [`schedule`].
pub use schedule::due;
