#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic,
        clippy::arithmetic_side_effects
    )
)]
//! The `modelseal` command: parse the command line, run one command, map the outcome to an
//! exit status (0 verified or done, 1 rejected, 2 usage or operational error).

mod cli;

fn main() -> std::process::ExitCode {
    // Rust ignores SIGPIPE, so writing to a closed pipe (`modelseal tree ... | head`) would
    // panic; restore the default every Unix command-line tool has: end quietly.
    // SAFETY: called first thing in main, before any other thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    cli::main()
}
