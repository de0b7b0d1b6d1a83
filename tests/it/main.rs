//! Integration tests: the real binary in a temporary folder, real HTTP and SMTP servers on 127.0.0.1 (MailDev, a fault-injecting SMTP server), the files
//! it writes read back. One test binary, one module per feature.

#[macro_use]
mod config_case;
mod sandbox;
mod util;

mod answers;
mod answers_more;
mod bounded;
mod browser;
mod clients;
mod console_browser;
mod console_guard;
mod console_lib;
mod console_pages;
mod console_snapshots;
mod contact_api;
mod contact_block;
mod contact_client;
mod contact_config;
mod crash;
mod cross_sell_client;
mod details;
mod dkim;
mod dkim_config;
mod engine;
mod engine_contact;
mod fast;
mod inbox_checks;
mod inbox_emails;
mod items;
mod layout;
mod ledger_faults;
mod odd_values;
mod pause;
mod pg;
mod pg_copy;
mod pg_ledger;
mod pg_runners;
mod pg_state;
mod pictures;
mod plan;
mod robust;
mod rows;
mod run;
mod runner;
mod schedule;
mod skip;
mod smtp;
mod snapshots;
mod snapshots_browser;
mod sources;
mod synth;
mod template_snapshots;
mod validate;
mod validate_cases;
