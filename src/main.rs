//! The `tripmail` binary: all the work is in the library.
#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    tripmail::cli::main()
}
