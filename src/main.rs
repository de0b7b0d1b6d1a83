//! The `tripmail` binary: all the work is in the library.
#![forbid(unsafe_code)]

/// mimalloc: the rendering threads allocate and free many short strings at once, which the system
/// allocator serialises (README, "Speed").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    tripmail::cli::main()
}
