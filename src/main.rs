//! The `tripmail` binary: see [`tripmail::cli`].

/// mimalloc: the rendering threads allocate and free many short strings at once, which the system
/// allocator serialises (README, "Speed").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    tripmail::cli::main()
}
