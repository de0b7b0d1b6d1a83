//! Integration tests: the real binary in a temporary folder, real HTTP servers on 127.0.0.1, the files
//! it writes read back. One test binary, one module per feature.

mod util;

mod client;
mod engine;
mod run;
mod snapshots;
mod validate;
